package target

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	ghes, err := NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	dotcom, err := NewResolver("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		r      *Resolver
		method string
		url    string
		want   Target
	}{
		{"repository", ghes, "GET", "/api/v3/repos/octo-org/r", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"repository content", ghes, "GET", "/api/v3/repos/octo-org/r/contents/a/b.txt", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"repository write", ghes, "POST", "/api/v3/repos/octo-org/r/issues", Target{Scope: Repository, Access: Write, Owner: "octo-org", Name: "r"}},
		{"HEAD reads", ghes, "HEAD", "/api/v3/repos/octo-org/r", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"OPTIONS reads", ghes, "OPTIONS", "/api/v3/repos/octo-org/r", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"hooks are never public", ghes, "GET", "/api/v3/repos/octo-org/r/hooks", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"actions secrets are never public", ghes, "GET", "/api/v3/repos/octo-org/r/actions/secrets/X", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"branch protection is never public", ghes, "GET", "/api/v3/repos/octo-org/r/branches/main/protection", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"collaborators are never public", ghes, "GET", "/api/v3/repos/octo-org/r/collaborators", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"repository by id, unpublished route", ghes, "GET", "/api/v3/repositories/42/issues", Target{Scope: Repository, Access: Read, ID: 42, IDKind: IDRepository}},
		{"repository by id", ghes, "GET", "/api/v3/repositories/42", Target{Scope: Repository, Access: Read, ID: 42, IDKind: IDRepository}},
		{"list of repositories", ghes, "GET", "/api/v3/repositories?since=4", Target{Scope: Unscoped, Access: Read}},
		{"org profile", ghes, "GET", "/api/v3/orgs/octo-org", Target{Scope: Organization, Access: Read, Owner: "octo-org", AnonReadable: true}},
		{"org list", ghes, "GET", "/api/v3/orgs/octo-org/repos", Target{Scope: Organization, Access: Read, Owner: "octo-org"}},
		{"org write", ghes, "PATCH", "/api/v3/orgs/octo-org", Target{Scope: Organization, Access: Write, Owner: "octo-org"}},
		{"org by id", ghes, "GET", "/api/v3/organizations/9/custom_roles", Target{Scope: Organization, Access: Read, ID: 9, IDKind: IDOrganization}},
		{"org by login under /organizations", ghes, "GET", "/api/v3/organizations/octo-org/settings/billing/usage", Target{Scope: Organization, Access: Read, Owner: "octo-org"}},
		{"team", ghes, "GET", "/api/v3/teams/5/members", Target{Scope: Organization, Access: Read, ID: 5, IDKind: IDTeam}},
		{"gist", ghes, "PATCH", "/api/v3/gists/abc", Target{Scope: Personal, Access: Write}},
		{"user's list across orgs", ghes, "GET", "/api/v3/user/repos", Target{Scope: Personal, Access: Read, CrossOrg: true}},
		{"search", ghes, "GET", "/api/v3/search/code", Target{Scope: Unscoped, Access: Read, CrossOrg: true}},
		{"singular enterprise", ghes, "GET", "/api/v3/enterprise/settings/license", Target{Scope: Enterprise, Access: Read}},
		{"scim", ghes, "GET", "/api/v3/scim/v2/enterprises/acme/Users", Target{Scope: Enterprise, Access: Read, Owner: "acme"}},
		{"notification thread", ghes, "GET", "/api/v3/notifications/threads/7", Target{Scope: Undetermined, Access: Read}},
		{"network events", ghes, "GET", "/api/v3/networks/octo-org/r/events", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"branch with slashes", ghes, "GET", "/api/v3/repos/octo-org/r/branches/feature/x/protection", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"branch with slashes, public route", ghes, "GET", "/api/v3/repos/octo-org/r/branches/feature/x", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"non-numeric id", ghes, "GET", "/api/v3/teams/core", Target{Scope: Undetermined, Access: Read}},
		{"enterprise", ghes, "GET", "/api/v3/enterprises/acme/settings/billing", Target{Scope: Enterprise, Access: Read, Owner: "acme"}},
		{"site admin", ghes, "POST", "/api/v3/admin/users", Target{Scope: Enterprise, Access: Write}},
		{"user profile", ghes, "GET", "/api/v3/users/bob", Target{Scope: User, Access: Read, Owner: "bob", AnonReadable: true}},
		{"user repos", ghes, "GET", "/api/v3/users/bob/repos", Target{Scope: User, Access: Read, Owner: "bob", AnonReadable: true}},
		{"user org events", ghes, "GET", "/api/v3/users/bob/events/orgs/octo-org", Target{Scope: Organization, Access: Read, Owner: "octo-org"}},
		{"starred repository", ghes, "PUT", "/api/v3/user/starred/octo-org/r", Target{Scope: Repository, Access: Write, Owner: "octo-org", Name: "r"}},
		{"org membership", ghes, "PATCH", "/api/v3/user/memberships/orgs/octo-org", Target{Scope: Organization, Access: Write, Owner: "octo-org"}},
		{"authenticated user", ghes, "GET", "/api/v3/user", Target{Scope: Personal, Access: Read}},
		{"meta", ghes, "GET", "/api/v3/meta", Target{Scope: Unscoped, Access: Read}},
		{"graphql", ghes, "POST", "/api/graphql", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"upload", ghes, "POST", "/api/uploads/repos/octo-org/r/releases/1/assets?name=a", Target{Scope: Repository, Access: Write, Owner: "octo-org", Name: "r"}},
		{"prefix boundary", ghes, "GET", "/api/v3x/repos/a/b", Target{Scope: Undetermined, Surface: REST, Access: Read, Why: "a path under /api/ that is neither the REST API, GraphQL nor uploads"}},
		// Every spelling of the GraphQL path a router may accept.
		{"graphql with a trailing slash", ghes, "POST", "/api/graphql/", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"graphql with a format suffix", ghes, "POST", "/api/graphql.json", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"graphql with a suffix and a slash", ghes, "POST", "/api/graphql.xml/", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"graphql in other case", ghes, "GET", "/API/GraphQL", Target{Scope: Undetermined, Surface: GraphQL, Access: Read}},
		{"graphql under the REST prefix", ghes, "POST", "/api/v3/graphql", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"dotcom graphql.json", dotcom, "POST", "/GRAPHQL.json", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		// Anything else under /api/ is not the web UI.
		{"below graphql", ghes, "POST", "/api/graphql/x", Target{Scope: Undetermined, Surface: REST, Access: Write, Why: "a path under /api/ that is neither the REST API, GraphQL nor uploads"}},
		{"another API version", ghes, "GET", "/api/v4/repos/a/b", Target{Scope: Undetermined, Surface: REST, Access: Read, Why: "a path under /api/ that is neither the REST API, GraphQL nor uploads"}},
		{"the API folder", ghes, "GET", "/api", Target{Scope: Undetermined, Surface: REST, Access: Read, Why: "a path under /api/ that is neither the REST API, GraphQL nor uploads"}},
		// Routes written in other case resolve as the route, never public.
		{"REPOS in capitals", ghes, "GET", "/api/v3/REPOS/octo-org/r", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r"}},
		{"Orgs in other case", ghes, "GET", "/api/v3/Orgs/Octo-Org/repos", Target{Scope: Organization, Access: Read, Owner: "octo-org"}},
		{"dotcom repository", dotcom, "GET", "/repos/octo-org/r", Target{Scope: Repository, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"dotcom graphql", dotcom, "POST", "/graphql", Target{Scope: Undetermined, Surface: GraphQL, Access: Write}},
		{"git ref discovery for fetch", ghes, "GET", "/octo-org/r.git/info/refs?service=git-upload-pack", Target{Scope: Repository, Surface: Git, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"git ref discovery for push is a write", ghes, "GET", "/octo-org/r/info/refs?service=git-receive-pack", Target{Scope: Repository, Surface: Git, Access: Write, Owner: "octo-org", Name: "r"}},
		{"git ref discovery, encoded service", ghes, "GET", "/octo-org/r/info/refs?service=git%2Dreceive-pack", Target{Scope: Repository, Surface: Git, Access: Write, Owner: "octo-org", Name: "r"}},
		{"git ref discovery, two services", ghes, "GET", "/octo-org/r/info/refs?service=git-upload-pack&service=git-receive-pack", Target{Scope: Repository, Surface: Git, Access: Write, Owner: "octo-org", Name: "r"}},
		{"git upload-pack POST reads", ghes, "POST", "/octo-org/r.git/git-upload-pack", Target{Scope: Repository, Surface: Git, Access: Read, Owner: "octo-org", Name: "r", AnonReadable: true}},
		{"git receive-pack writes", ghes, "POST", "/octo-org/r.git/git-receive-pack", Target{Scope: Repository, Surface: Git, Access: Write, Owner: "octo-org", Name: "r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.Resolve(httptest.NewRequest(tc.method, tc.url, nil))
			if err != nil {
				t.Fatal(err)
			}
			got.Operation = nil
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestResolveRefusesAmbiguousPaths(t *testing.T) {
	r, err := NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"/api/v3/repos//octo-org/r",
		"/api/v3/repos/octo-org/r/../../orgs/x",
		"/api/v3/repos/./octo-org/r",
		"/api/v3/repos/octo-org%2Fr/x",
		"/api/v3/repos/octo-org/r%5c..",
		"/api/v3/repos/octo-org/r%00",
		"/api/v3/repos/octo-org/%ff",
		"/octo-org/r/..",
		"/api/v3/repos/octo%E2%80%90org/r",
		"/api/v3/repos/octo-org/r~1",
		"/api/v3/orgs/octo%20org",
		"/api/v3/orgs/open-org/teams/core/repos/octo%E2%80%90org/r",
		"relative/path",
		// ";" starts path parameters for some servers, which strip them
		// before routing; an encoded NUL ends a C string.
		"/api/v3/repos/octo-org/private;x=public",
		"/api/v3/repos;/octo-org/private",
		"/api/graphql;format=json",
		"/octo-org/private.git/info/refs;x?service=git-receive-pack",
		"/octo-org/public.git/info/refs?service=git-receive-pack%00",
		"/api/v3/repos/octo-org/r?q=%00",
		// No host serves a name this long; it would only make lookups and
		// cache entries large.
		"/api/v3/repos/octo-org/" + strings.Repeat("r", 101),
	} {
		t.Run(u, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			var perr error
			// url.Parse keeps dot segments; resolving a reference would not.
			req.URL, perr = url.Parse(u)
			if perr != nil {
				t.Fatal(perr)
			}
			if _, err := r.Resolve(req); !errors.Is(err, ErrBadPath) {
				t.Errorf("got %v, want ErrBadPath", err)
			}
		})
	}
}

func TestResolveOverridesAndCase(t *testing.T) {
	r, err := NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, url string
		header, value     string
		want              Access
		scope             Scope
	}{
		{"override to DELETE", "GET", "/api/v3/repos/o/r", "X-HTTP-Method-Override", "DELETE", Write, Repository},
		{"override in lower case", "GET", "/api/v3/repos/o/r", "X-Http-Method", "delete", Write, Repository},
		{"override to HEAD reads", "GET", "/api/v3/repos/o/r", "X-Method-Override", "HEAD", Read, Repository},
		{"_method", "GET", "/api/v3/repos/o/r?_method=PATCH", "", "", Write, Repository},
		{"prefix in capitals", "GET", "/API/V3/repos/o/r", "", "", Read, Repository},
		{"graphql in capitals", "POST", "/API/GRAPHQL", "", "", Write, Undetermined},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, nil)
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			got, err := r.Resolve(req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Access != tc.want || got.Scope != tc.scope || got.Access == Write && got.AnonReadable {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestNewResolverRejectsBadPrefix(t *testing.T) {
	for _, p := range []string{"api/v3", "//api"} {
		if _, err := NewResolver(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	r, _ := NewResolver("/api/v3")
	req := httptest.NewRequest("GET", "/api/v3/repos/octo-org/r/pulls/1/files", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(req); err != nil {
			b.Fatal(err)
		}
	}
}
