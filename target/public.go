package target

// What anonymous users can read on a public resource. Only GET routes can
// be public; writes never are. The lists are allowlists, by the docs
// category/subcategory of each operation, so a category GitHub adds later
// starts out private, which fails safe.

// publicRepoCategories are the repository categories anyone can read on a
// public repository: its code, history, issues, pull requests, releases and
// the results of its workflows.
var publicRepoCategories = map[string]bool{
	"actions/artifacts": true, "actions/workflow-jobs": true, "actions/workflow-runs": true, "actions/workflows": true,
	"activity/events": true, "activity/starring": true, "activity/watching": true,
	"branches/branches": true,
	"checks/runs":       true, "checks/suites": true,
	"commits/comments": true, "commits/commits": true, "commits/statuses": true,
	"dependency-graph/dependency-review": true, "dependency-graph/sboms": true,
	"deployments/deployments": true, "deployments/environments": true, "deployments/statuses": true, "deployments/branch-policies": true,
	"git/blobs": true, "git/commits": true, "git/refs": true, "git/tags": true, "git/trees": true,
	"issues/assignees": true, "issues/comments": true, "issues/events": true, "issues/issue-dependencies": true,
	"issues/issue-field-values": true, "issues/issues": true, "issues/labels": true, "issues/milestones": true,
	"issues/sub-issues": true, "issues/timeline": true,
	"licenses/licenses": true,
	"metrics/community": true, "metrics/statistics": true,
	"pulls/comments": true, "pulls/pulls": true, "pulls/review-requests": true, "pulls/reviews": true, "pulls/stacks": true,
	"reactions/reactions": true,
	"releases/assets":     true, "releases/releases": true,
	"repos/attestations": true, "repos/contents": true, "repos/custom-properties": true, "repos/forks": true,
	"repos/issue-types": true, "repos/repos": true, "repos/rules": true,
	"security-advisories/repository-advisories": true,
}

// neverPublic are literal path segments that make a route private even in
// a public category: a repository's administration, secrets, security data
// and the caller's own settings.
var neverPublic = map[string]bool{
	"hooks": true, "keys": true, "collaborators": true, "invitations": true,
	"secrets": true, "variables": true, "runners": true, "runner-groups": true,
	"traffic": true, "protection": true, "permissions": true, "caches": true,
	"cache": true, "oidc": true, "teams": true, "vulnerability-alerts": true,
	"automated-security-fixes": true, "private-vulnerability-reporting": true,
	"immutable-releases": true, "subscription": true, "notifications": true,
	"interaction-limits": true, "pre-receive-hooks": true, "installation": true,
	"autolinks": true, "bypass-requests": true, "dismissal-requests": true,
	"rule-suites": true, "codespaces": true, "dependabot": true,
	"code-scanning": true, "secret-scanning": true, "pages": true,
	"import": true, "lfs": true, "replicas": true, "transfer": true,
	"settings": true, "audit-log": true, "alerts": true,
}

// publicUserCategories are the /users/{username}/… lists a profile page
// shows; if the account is an organization, they show only public data.
var publicUserCategories = map[string]bool{
	"users/users": true, "users/followers": true, "users/keys": true, "users/gpg-keys": true,
	"users/ssh-signing-keys": true, "users/social-accounts": true,
	"repos/repos": true, "gists/gists": true, "orgs/orgs": true,
	"activity/events": true, "activity/starring": true, "activity/watching": true,
}

func anonReadable(op *Operation, segs []string) bool {
	cat := op.Category + "/" + op.Subcategory
	switch op.Scope {
	case Repository:
		if !publicRepoCategories[cat] {
			return false
		}
		for _, s := range segs {
			if !isParam(s) && neverPublic[s] {
				return false
			}
		}
		return true
	case Organization:
		// An organization's profile; its lists are not public.
		return op.Path == "/orgs/{org}"
	case User:
		return publicUserCategories[cat]
	}
	return false
}
