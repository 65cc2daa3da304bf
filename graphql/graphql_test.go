package graphql

import (
	"errors"
	"strings"
	"testing"

	"github.com/patgate/patgate/target"
)

// The queries gh 2.x sends, abridged to their shape (variables, fragments,
// the fields that name resources).
const (
	ghRepoView = `query RepositoryInfo($owner: String!, $name: String!) {
	repository(owner: $owner, name: $name) {
		id name nameWithOwner owner { login } description visibility isPrivate
		defaultBranchRef { name } stargazerCount
	}
}`
	ghPRList = `query PullRequestList($owner: String!, $repo: String!, $limit: Int!, $endCursor: String, $state: [PullRequestState!] = OPEN) {
	repository(owner: $owner, name: $repo) {
		pullRequests(states: $state, first: $limit, after: $endCursor, orderBy: {field: CREATED_AT, direction: DESC}) {
			totalCount
			nodes { ...pr }
			pageInfo { hasNextPage endCursor }
		}
	}
}
fragment pr on PullRequest { number title state url headRefName author { login } }`
	ghIssueCreate = `mutation IssueCreate($input: CreateIssueInput!) {
	createIssue(input: $input) { issue { url } }
}`
	octokitViewerRepos = `query ($cursor: String) {
	viewer { login repositories(first: 100, after: $cursor) { nodes { nameWithOwner } } }
}`
)

func repo(owner, name string, access target.Access, public bool) target.Target {
	return target.Target{Scope: target.Repository, Surface: target.GraphQL, Access: access, Owner: owner, Name: name, AnonReadable: public}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name   string
		req    Request
		access target.Access
		want   []target.Target
		why    string // for an undetermined target
	}{
		{"gh repo view", Request{Query: ghRepoView, Variables: map[string]any{"owner": "octo-org", "name": "public"}},
			target.Read, []target.Target{repo("octo-org", "public", target.Read, true)}, ""},
		{"gh pr list", Request{Query: ghPRList, OperationName: "PullRequestList", Variables: map[string]any{"owner": "octo-org", "repo": "private", "limit": 30}},
			target.Read, []target.Target{repo("octo-org", "private", target.Read, true)}, ""},
		{"gh issue create", Request{Query: ghIssueCreate, Variables: map[string]any{"input": map[string]any{"repositoryId": "R_kgDOADP9xw", "title": "t", "body": "b"}}},
			target.Write, []target.Target{{Scope: target.Repository, Surface: target.GraphQL, Access: target.Write, IDKind: target.IDRepository, ID: 3407303}}, ""},
		{"octokit viewer repositories", Request{Query: octokitViewerRepos}, target.Read, nil, ""},
		{"search is unscoped", Request{Query: `{ search(query: "org:octo-org secret", type: ISSUE, first: 5) { issueCount } }`}, target.Read, nil, ""},
		{"literal arguments", Request{Query: `{ organization(login: "octo-org") { name repository(name: "private") { name } } }`}, target.Read,
			[]target.Target{{Scope: target.Organization, Surface: target.GraphQL, Owner: "octo-org"}, repo("octo-org", "private", target.Read, true)}, ""},
		{"aliases and inline fragments", Request{Query: `{ a: repository(owner: "o1", name: "r1") { id } ... on Query { b: repository(owner: "o2", name: "r2") { collaborators { totalCount } } } }`},
			target.Read, []target.Target{repo("o1", "r1", target.Read, true), repo("o2", "r2", target.Read, false)}, ""},
		{"enterprise", Request{Query: `{ enterprise(slug: "acme") { name } }`}, target.Read,
			[]target.Target{{Scope: target.Enterprise, Surface: target.GraphQL, Owner: "acme"}}, ""},
		{"user and repositoryOwner", Request{Query: `{ user(login: "bob") { name } repositoryOwner(login: "octo-org") { login } }`}, target.Read,
			[]target.Target{{Scope: target.User, Surface: target.GraphQL, Owner: "bob"}, {Scope: target.User, Surface: target.GraphQL, Owner: "octo-org"}}, ""},
		{"legacy node id", Request{Query: `query($id: ID!) { node(id: $id) { id } }`, Variables: map[string]any{"id": "MDQ6VXNlcjM0MDczMDM="}}, target.Read,
			[]target.Target{{Scope: target.User, Surface: target.GraphQL, IDKind: target.IDAccount, ID: 3407303}}, ""},
		{"repository node id read", Request{Query: `{ node(id: "R_kgDOADP9xw") { id } }`}, target.Read,
			[]target.Target{{Scope: target.Repository, Surface: target.GraphQL, IDKind: target.IDRepository, ID: 3407303, AnonReadable: true}}, ""},
		{"new user node id", Request{Query: `{ node(id: "U_kgDOADP9xw") { id } }`}, target.Read,
			[]target.Target{{Scope: target.User, Surface: target.GraphQL, IDKind: target.IDAccount, ID: 3407303}}, ""},
		{"nodes", Request{Query: `{ nodes(ids: ["O_kgDOADP9xw", "R_kgDOADP9xw"]) { id } }`}, target.Read,
			[]target.Target{{Scope: target.Organization, Surface: target.GraphQL, IDKind: target.IDOrganization, ID: 3407303}, {Scope: target.Repository, Surface: target.GraphQL, IDKind: target.IDRepository, ID: 3407303, AnonReadable: true}}, ""},
		{"resource url", Request{Query: `{ resource(url: "https://git.example.com/octo-org/private/issues/1") { __typename } }`}, target.Read,
			[]target.Target{repo("octo-org", "private", target.Read, false)}, ""},
		{"undecodable node id", Request{Query: `{ node(id: "!!!") { id } }`}, target.Read, nil, `node ID "!!!"`},
		{"missing variable", Request{Query: `query($o: String!) { repository(owner: $o, name: "r") { id } }`}, target.Read, nil, "repository(owner:, name:)"},
		{"project node id", Request{Query: `mutation { addProjectV2ItemById(input: {projectId: "PVT_kgDOADP9xw", contentId: "I_kwDOADP9x84AAAAB"}) { item { id } } }`}, target.Write, nil, `node ID "PVT_kgDOADP9xw" (PVT_)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, access, err := Targets(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if access != tc.access {
				t.Errorf("access %v, want %v", access, tc.access)
			}
			if tc.why != "" {
				found := false
				for _, g := range got {
					found = found || g.Scope == target.Undetermined && strings.Contains(g.Why, tc.why)
				}
				if !found {
					t.Fatalf("no undetermined target saying %q in %+v", tc.why, got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("target %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	cycle := `query { ...a } fragment a on Query { ...b } fragment b on Query { ...a }`
	deep := "{" + strings.Repeat(" a {", MaxDepth+2) + " b" + strings.Repeat(" }", MaxDepth+2) + " }"
	for name, r := range map[string]Request{
		"syntax error":           {Query: `{ repository(owner: "o" `},
		"empty":                  {Query: "  "},
		"subscription":           {Query: `subscription { x }`},
		"two operations unnamed": {Query: `query A { a } query B { b }`},
		"unknown operation name": {Query: `query A { a }`, OperationName: "B"},
		"fragment cycle":         {Query: cycle},
		"unknown fragment":       {Query: `{ ...missing }`},
		"too deep":               {Query: deep},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Targets(r); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
		})
	}
}

func TestParseRequests(t *testing.T) {
	rs, err := ParseRequests("POST", "", []byte(`[{"query":"{a}"},{"query":"{b}","operationName":"x"}]`))
	if err != nil || len(rs) != 2 || rs[1].OperationName != "x" {
		t.Fatalf("batch: %+v %v", rs, err)
	}
	rs, err = ParseRequests("GET", "query=%7Brepository(owner%3A%22o%22%2Cname%3A%22r%22)%7Bid%7D%7D&variables=%7B%22a%22%3A1%7D", nil)
	if err != nil || len(rs) != 1 || !strings.Contains(rs[0].Query, "repository") || rs[0].Variables["a"] != float64(1) {
		t.Fatalf("GET: %+v %v", rs, err)
	}
	for _, body := range []string{`not json`, `[]`, `{"query": 1}`} {
		if _, err := ParseRequests("POST", "", []byte(body)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestNodeTarget(t *testing.T) {
	tests := []struct {
		id   string
		want target.Target
		ok   bool
	}{
		{"U_kgDOADP9xw", target.Target{Scope: target.User, IDKind: target.IDAccount, ID: 3407303}, true},
		{"MDQ6VXNlcjM0MDczMDM=", target.Target{Scope: target.User, IDKind: target.IDAccount, ID: 3407303}, true},
		{"MDEwOlJlcG9zaXRvcnkxMjk2MjY5", target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 1296269}, true},
		{"I_kwDOADP9x84AAAAB", target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 3407303}, true},
		{"MDU6SXNzdWUx", target.Target{}, false}, // legacy issue: no repository id
		{"ZZ_kgDOADP9xw", target.Target{}, false},
		{"R_!!", target.Target{}, false},
		{"", target.Target{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, ok, why := NodeTarget(tc.id, target.Read)
			if ok != tc.ok {
				t.Fatalf("ok %v (%s), want %v", ok, why, tc.ok)
			}
			got.Surface, got.Access = 0, 0
			if ok && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if !ok && why == "" {
				t.Error("no reason")
			}
		})
	}
}

func BenchmarkTargets(b *testing.B) {
	r := Request{Query: ghPRList, OperationName: "PullRequestList", Variables: map[string]any{"owner": "octo-org", "repo": "private", "limit": 30}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Targets(r); err != nil {
			b.Fatal(err)
		}
	}
}
