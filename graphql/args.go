package graphql

import "strings"

// argKind is what an argument or input field of GitHub's schema names.
type argKind uint8

const (
	argNone argKind = iota
	// argNodeID is a global node ID (ID, [ID]): id, ids, …Id, …Ids, and
	// inReplyTo (a review comment).
	argNodeID
	// argLogin is an account's login (a user or an organization): login,
	// …Login…, …Logins (createEnterpriseOrganization's adminLogins),
	// sponsorables' orgLoginForDependencies, and importProject's ownerName.
	argLogin
	// argEnterpriseSlug is an enterprise's slug: enterpriseSlug.
	argEnterpriseSlug
	// argNameWithOwner is a repository as "owner/name".
	argNameWithOwner
	// argResourceURL is the URL of a resource on the host (an issue, a
	// pull request, a repository).
	argResourceURL
)

// argKindOf classifies an argument or input field by its name. The rules
// come from GitHub's schema, where names say what an argument holds;
// TestSchemaArguments walks the schema and fails on any argument that
// looks like it names an owner and is neither classified here nor listed
// there, with a reason, as naming none.
//
// A repository given by owner login and name (repositoryOwnerLogin and
// repositoryName, importProject's ownerName and repository) is governed by
// its owner, so resolving the login suffices for the writes that carry
// such pairs; repository(owner:, name:) itself is resolved by field.
func argKindOf(key string) argKind {
	switch {
	case key == "clientMutationId":
		// The client's own correlation string, echoed back.
		return argNone
	case key == "id" || key == "ids" || strings.HasSuffix(key, "Id") || strings.HasSuffix(key, "Ids") || key == "inReplyTo":
		return argNodeID
	case key == "login" || strings.Contains(key, "Login") || key == "ownerName":
		return argLogin
	case key == "enterpriseSlug":
		return argEnterpriseSlug
	case key == "repositoryNameWithOwner" || key == "nameWithOwner":
		return argNameWithOwner
	case key == "subIssueUrl":
		return argResourceURL
	}
	return argNone
}
