// Package listfilter checks REST answers that list resources of several
// owners (SPEC §10): /user/repos, search, /issues, notifications, a user's
// organizations and events, … For a token some policy restricts, each
// element of such an answer is decided as a request for what it names
// would be, and the elements the token could not read on its own are
// removed, the way GitHub leaves out what a token may not see. The answer
// is read as a stream, one element at a time; what the client gets is
// spooled (to disk past 1 MiB) so that its header can say what was removed.
package listfilter

import (
	"slices"
	"strings"
)

// Container is where an answer keeps its elements.
type Container uint8

const (
	// Array: the answer is the array of elements.
	Array Container = iota
	// Items: a search answer, {"total_count", "incomplete_results",
	// "items": [...]}.
	Items
	// Repositories: {"total_count", "repositories": [...]}.
	Repositories
)

// Kind is what each element names, and where.
type Kind uint8

const (
	// Repo: the element is a repository (full_name or owner.login and
	// name; visibility or private; owner.type).
	Repo Kind = iota
	// RepoField: the element's "repository" object.
	RepoField
	// RepoURL: the repository of the element's "repository_url"
	// (…/repos/{owner}/{repo}).
	RepoURL
	// Org: the element is an organization ("login").
	Org
	// OrgField: the organization of the element's "organization.login".
	OrgField
	// Event: the repository of "repo.name" (owner/repo), and the
	// organization of "org.login" when present.
	Event
)

// Route is one route of SPEC §10.
type Route struct {
	// Pattern is the route as GitHub's REST description writes it.
	Pattern   string
	Container Container
	Kind      Kind
}

var routes = []Route{
	{"/user/repos", Array, Repo},
	{"/user/starred", Array, Repo},
	{"/user/subscriptions", Array, Repo},
	{"/users/{username}/repos", Array, Repo},
	{"/users/{username}/starred", Array, Repo},
	{"/users/{username}/subscriptions", Array, Repo},
	{"/repositories", Array, Repo},
	{"/search/repositories", Items, Repo},
	{"/user/installations/{installation_id}/repositories", Repositories, Repo},
	{"/issues", Array, RepoField},
	{"/user/issues", Array, RepoField},
	{"/notifications", Array, RepoField},
	{"/search/code", Items, RepoField},
	{"/search/commits", Items, RepoField},
	{"/search/issues", Items, RepoURL},
	{"/user/orgs", Array, Org},
	{"/users/{username}/orgs", Array, Org},
	{"/user/memberships/orgs", Array, OrgField},
	{"/user/teams", Array, OrgField},
	{"/users/{username}/events", Array, Event},
	{"/users/{username}/received_events", Array, Event},
	{"/users/{username}/events/public", Array, Event},
	{"/events", Array, Event},
}

// Routes lists the routes whose answers are checked, for documentation.
func Routes() []Route { return routes }

// Match returns the route of a GET path under the API prefix (without its
// query), or nil when its answer needs no check (HEAD carries no list).
// Literal segments compare in any case, as the target resolver reads
// routes; a trailing slash and a format suffix (.json) are allowed.
func Match(method, rest string) *Route {
	if method != "GET" {
		return nil
	}
	rest = strings.TrimSuffix(rest, "/")
	// Most requests name a repository (/repos/…): one look at the first
	// segment, which no route but a few start with, settles them.
	if len(rest) < 2 || rest[0] != '/' {
		return nil
	}
	first, tail := cut(rest[1:])
	if tail == "" {
		first = withoutFormat(first)
	}
	if !firstSegment(first) {
		return nil
	}
	for i := range routes {
		if matches(routes[i].Pattern, rest) {
			return &routes[i]
		}
	}
	return nil
}

// firsts are the routes' first segments.
var firsts = func() []string {
	var fs []string
	for _, r := range routes {
		f, _ := cut(r.Pattern[1:])
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}()

func firstSegment(s string) bool {
	for _, f := range firsts {
		if len(f) == len(s) && strings.EqualFold(f, s) {
			return true
		}
	}
	return false
}

func matches(pattern, path string) bool {
	for pattern != "" {
		if path == "" || path[0] != '/' {
			return false
		}
		var p, s string
		p, pattern = cut(pattern[1:])
		s, path = cut(path[1:])
		if s == "" {
			return false
		}
		if !strings.HasPrefix(p, "{") && !strings.EqualFold(p, s) && !(path == "" && strings.EqualFold(p, withoutFormat(s))) {
			return false
		}
	}
	return path == ""
}

// withoutFormat drops a format suffix (".json", ".xml") from the last
// segment: a Rails host routes /user/repos.json as /user/repos, and its
// answer is the same list.
func withoutFormat(s string) string {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s
	}
	for _, c := range s[i+1:] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return s
		}
	}
	return s[:i]
}

// cut splits "seg/rest" into "seg" and "/rest".
func cut(s string) (string, string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}
