package ghschema

import "testing"

// TestLoad: the embedded schema loads, with the types SPEC §11 governs.
func TestLoad(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Repository", "Organization", "Enterprise", "Issue", "PullRequest", "Team", "ProjectV2", "Node", "SearchResultItem", "RepositoryNode"} {
		if s.Types[name] == nil {
			t.Errorf("no type %s", name)
		}
	}
	if f := s.Types["EnterpriseOwnerInfo"].Fields.ForName("repositoryDeployKeySetting"); f == nil {
		t.Error("the field defined twice was dropped altogether")
	}
}
