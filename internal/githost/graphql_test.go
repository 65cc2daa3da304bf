package githost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/patgate/patgate/graphql"
	"github.com/patgate/patgate/target"
)

// newGraphQLHost is a host with two organizations, a user's repositories
// (one a fork), issues and pull requests, teams and memberships, and a
// repository whose owner is of a type no RepositoryOwner stands for.
func newGraphQLHost(t testing.TB) (*Host, *httptest.Server) {
	t.Helper()
	h := New("svc", "")
	for _, r := range []struct {
		id               int64
		owner, name, typ string
		vis              string
	}{
		{7001, "octo-org", "private", "Organization", "private"},
		{7002, "octo-org", "public", "Organization", "public"},
		{7003, "octo-org", "internal", "Organization", "internal"},
		{7004, "open-org", "private", "Organization", "private"},
		{7005, "bob", "private", "User", "private"},
		{7006, "bob", "public-fork", "User", "public"},
		{7007, "relic-corp", "relic", "Enterprise", "private"},
	} {
		if err := h.AddRepoID(r.id, r.owner, r.name, r.typ, r.vis); err != nil {
			t.Fatal(err)
		}
	}
	h.AddAccount("alice", "User")
	h.SetUser("alice-token", "alice")
	h.SetParent("bob/public-fork", "octo-org/public")
	h.AddMember("octo-org", "alice")
	h.AddMember("open-org", "alice")
	h.AddMember("octo-org", "bob")
	h.AddTeam(42, "octo-org")
	h.AddTeam(43, "octo-org")
	h.AddTeam(50, "open-org")
	h.AddIssue("octo-org/private", 1, "Fix the build", "alice")
	h.AddPullRequest("octo-org/private", 2, "Add a feature", "alice")
	h.AddIssue("bob/private", 1, "A bug of bob's", "bob")
	h.AddPullRequest("open-org/private", 7, "Build faster", "bob")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// postGraphQL sends body with alice's token and returns the status and
// the answer.
func postGraphQL(t testing.TB, srv *httptest.Server, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer alice-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

func requestBody(t testing.TB, query string, vars map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compact is want with its placeholders replaced (see placeholders) and
// its spacing removed, so answers compare byte for byte, key order too.
func compact(t testing.TB, want string, repl *strings.Replacer) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(repl.Replace(want))); err != nil {
		t.Fatalf("the expected answer is not JSON: %v\n%s", err, want)
	}
	return b.String()
}

// placeholders are the values an expected answer cannot spell out: the
// server's address and node ids.
func placeholders(srv *httptest.Server) *strings.Replacer {
	ids := &gen{orgIDs: map[string]int64{}}
	return strings.NewReplacer(
		"HOST", strings.TrimPrefix(srv.URL, "http://"),
		"<R7001>", newNodeID("R", 7001),
		"<R7002>", newNodeID("R", 7002),
		"<I7001.1>", newNodeID("I", 7001, 1),
		"<PR7001.2>", newNodeID("PR", 7001, 2),
		"<U:alice>", newNodeID("U", ids.accountID("alice")),
		"<O:octo-org>", newNodeID("O", ids.accountID("octo-org")),
		"<T42>", newNodeID("T", 42),
	)
}

// msgpackID is a new-form id written with msgpack's default (not compact)
// integers, as another encoder might write it.
func msgpackID(t testing.TB, prefix string, ids ...int64) string {
	t.Helper()
	parts := []any{0}
	for _, id := range ids {
		parts = append(parts, id)
	}
	b, err := msgpack.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b)
}

func TestGraphQLExecutes(t *testing.T) {
	_, srv := newGraphQLHost(t)
	repl := placeholders(srv)
	ids := &gen{orgIDs: map[string]int64{}}
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		want  string
	}{
		{
			name: "aliases, a named fragment on an interface and __typename shape the answer",
			query: `{ viewer { login ...actor } me: viewer { __typename handle: login } }
				fragment actor on Actor { __typename url ... on User { isViewer } ... on Organization { teams(first: 1) { totalCount } } }`,
			want: `{"data":{"viewer":{"login":"alice","__typename":"User","url":"https://HOST/alice","isViewer":true},
				"me":{"__typename":"User","handle":"alice"}}}`,
		},
		{
			name: "inline fragments on an interface and a union",
			query: `{ repositoryOwner(login: "octo-org") { __typename login ... on Organization { teams(first: 5) { nodes { slug } } } ... on User { isViewer } }
				search(query: "org:octo-org", type: ISSUE, first: 10) { issueCount nodes { __typename ... on Issue { number title } ... on PullRequest { number isDraft } } } }`,
			want: `{"data":{"repositoryOwner":{"__typename":"Organization","login":"octo-org","teams":{"nodes":[{"slug":"team-42"},{"slug":"team-43"}]}},
				"search":{"issueCount":2,"nodes":[{"__typename":"Issue","number":1,"title":"Fix the build"},{"__typename":"PullRequest","number":2,"isDraft":false}]}}}`,
		},
		{
			name: "fields of one response key merge their selections",
			query: `{ repository(owner: "octo-org", name: "private") { name } repository(owner: "octo-org", name: "private") { isPrivate name owner { login } }
				... on Query { repository(owner: "octo-org", name: "private") { visibility } } }`,
			want: `{"data":{"repository":{"name":"private","isPrivate":true,"owner":{"login":"octo-org"},"visibility":"PRIVATE"}}}`,
		},
		{
			name:  "viewer, its organizations, their repositories",
			query: `{ viewer { organizations(first: 10) { totalCount nodes { login repositories(first: 10) { totalCount nodes { nameWithOwner visibility } } } } } }`,
			want: `{"data":{"viewer":{"organizations":{"totalCount":2,"nodes":[
				{"login":"octo-org","repositories":{"totalCount":3,"nodes":[{"nameWithOwner":"octo-org/internal","visibility":"INTERNAL"},{"nameWithOwner":"octo-org/private","visibility":"PRIVATE"},{"nameWithOwner":"octo-org/public","visibility":"PUBLIC"}]}},
				{"login":"open-org","repositories":{"totalCount":1,"nodes":[{"nameWithOwner":"open-org/private","visibility":"PRIVATE"}]}}]}}}}`,
		},
		{
			name:  "a user, its repositories, their issues (not pull requests)",
			query: `{ user(login: "bob") { login repositories(first: 5) { nodes { name isFork issues(first: 5) { totalCount nodes { number title author { login } repository { nameWithOwner } } } } } pullRequests(first: 5) { nodes { title url } } } }`,
			want: `{"data":{"user":{"login":"bob","repositories":{"nodes":[
				{"name":"private","isFork":false,"issues":{"totalCount":1,"nodes":[{"number":1,"title":"A bug of bob's","author":{"login":"bob"},"repository":{"nameWithOwner":"bob/private"}}]}},
				{"name":"public-fork","isFork":true,"issues":{"totalCount":0,"nodes":[]}}]},
				"pullRequests":{"nodes":[{"title":"Build faster","url":"https://HOST/open-org/private/pull/7"}]}}}}`,
		},
		{
			name:  "search across owners, keeping private repositories",
			query: `{ search(query: "org:octo-org org:open-org is:private", type: REPOSITORY, first: 10) { repositoryCount issueCount nodes { ... on Repository { nameWithOwner isPrivate } } } }`,
			want:  `{"data":{"search":{"repositoryCount":2,"issueCount":0,"nodes":[{"nameWithOwner":"octo-org/private","isPrivate":true},{"nameWithOwner":"open-org/private","isPrivate":true}]}}}`,
		},
		{
			name:  "search issues by words, pull requests only",
			query: `{ search(query: "build is:pr", type: ISSUE, first: 10) { issueCount edges { node { ... on PullRequest { title repository { nameWithOwner } } } } } }`,
			want:  `{"data":{"search":{"issueCount":1,"edges":[{"node":{"title":"Build faster","repository":{"nameWithOwner":"open-org/private"}}}]}}}`,
		},
		{
			name:  "a fork's parent",
			query: `{ repository(owner: "bob", name: "public-fork") { isFork parent { nameWithOwner isFork parent { id } } } }`,
			want:  `{"data":{"repository":{"isFork":true,"parent":{"nameWithOwner":"octo-org/public","isFork":false,"parent":null}}}}`,
		},
		{
			name: "node ids of every kind, new-form and legacy, known and not",
			query: `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
				... on Repository { nameWithOwner } ... on Issue { number } ... on PullRequest { number }
				... on User { login } ... on Organization { login } ... on Team { slug } } }`,
			vars: map[string]any{"ids": []string{
				newNodeID("R", 7001),
				msgpackID(t, "R", 7002),
				msgpackID(t, "I", 7001, 1),
				newNodeID("PR", 7001, 2),
				newNodeID("U", ids.accountID("alice")),
				newNodeID("O", ids.accountID("octo-org")),
				newNodeID("T", 42),
				base64.StdEncoding.EncodeToString([]byte("010:Repository7002")),
				newNodeID("R", 9999),                      // no such repository
				newNodeID("I", 7001, 2),                   // a pull request, not an issue
				newNodeID("U", ids.accountID("octo-org")), // an organization, not a user
				"not an id",
			}},
			want: `{"data":{"nodes":[
				{"__typename":"Repository","id":"<R7001>","nameWithOwner":"octo-org/private"},
				{"__typename":"Repository","id":"<R7002>","nameWithOwner":"octo-org/public"},
				{"__typename":"Issue","id":"<I7001.1>","number":1},
				{"__typename":"PullRequest","id":"<PR7001.2>","number":2},
				{"__typename":"User","id":"<U:alice>","login":"alice"},
				{"__typename":"Organization","id":"<O:octo-org>","login":"octo-org"},
				{"__typename":"Team","id":"<T42>","slug":"team-42"},
				{"__typename":"Repository","id":"<R7002>","nameWithOwner":"octo-org/public"},
				null,null,null,null]}}`,
		},
		{
			name:  "node(id:) with a variable",
			query: `query($id: ID!) { node(id: $id) { ... on Issue { title repository { id } } } }`,
			vars:  map[string]any{"id": newNodeID("I", 7001, 1)},
			want:  `{"data":{"node":{"title":"Fix the build","repository":{"id":"<R7001>"}}}}`,
		},
		{
			name: "edges, cursors and first, after and last",
			query: `{ organization(login: "octo-org") {
				p1: repositories(first: 2) { totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
				p2: repositories(first: 2, after: "Y3Vyc29yOjI=") { edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage } }
				end: repositories(last: 1) { nodes { name } }
				none: repositories(first: 0) { totalCount nodes { name } pageInfo { startCursor endCursor hasNextPage } } } }`,
			want: `{"data":{"organization":{
				"p1":{"totalCount":3,"edges":[{"cursor":"Y3Vyc29yOjE=","node":{"name":"internal"}},{"cursor":"Y3Vyc29yOjI=","node":{"name":"private"}}],
					"pageInfo":{"hasNextPage":true,"hasPreviousPage":false,"startCursor":"Y3Vyc29yOjE=","endCursor":"Y3Vyc29yOjI="}},
				"p2":{"edges":[{"cursor":"Y3Vyc29yOjM=","node":{"name":"public"}}],"pageInfo":{"hasNextPage":false,"hasPreviousPage":true}},
				"end":{"nodes":[{"name":"public"}]},
				"none":{"totalCount":3,"nodes":[],"pageInfo":{"startCursor":null,"endCursor":null,"hasNextPage":true}}}}}`,
		},
		{
			name:  "a repository that does not exist: null and NOT_FOUND at its path",
			query: `{ viewer { login } missing: repository(owner: "octo-org", name: "nope") { id } repository(owner: "octo-org", name: "private") { issue(number: 2) { title } } }`,
			want: `{"data":{"viewer":{"login":"alice"},"missing":null,"repository":{"issue":null}},"errors":[
				{"type":"NOT_FOUND","path":["missing"],"locations":[{"line":1,"column":20}],"message":"Could not resolve to a Repository with the name 'octo-org/nope'."},
				{"type":"NOT_FOUND","path":["repository","issue"],"locations":[{"line":1,"column":129}],"message":"Could not resolve to an Issue with the number of 2."}]}`,
		},
		{
			name:  "an unknown user and organization",
			query: `{ user(login: "octo-org") { login } organization(login: "ghost") { login } repositoryOwner(login: "ghost") { login } }`,
			want: `{"data":{"user":null,"organization":null,"repositoryOwner":null},"errors":[
				{"type":"NOT_FOUND","path":["user"],"locations":[{"line":1,"column":3}],"message":"Could not resolve to a User with the login of 'octo-org'."},
				{"type":"NOT_FOUND","path":["organization"],"locations":[{"line":1,"column":37}],"message":"Could not resolve to an Organization with the login of 'ghost'."}]}`,
		},
		{
			name:  "@include with a variable set",
			query: `query($full: Boolean!) { repository(owner: "octo-org", name: "public") { name description @include(if: $full) isPrivate @skip(if: $full) ...more @include(if: $full) } } fragment more on Repository { url }`,
			vars:  map[string]any{"full": true},
			want:  `{"data":{"repository":{"name":"public","description":"a repository of the fake host","url":"https://HOST/octo-org/public"}}}`,
		},
		{
			name:  "@skip with a variable set",
			query: `query($full: Boolean!) { repository(owner: "octo-org", name: "public") { name description @include(if: $full) isPrivate @skip(if: $full) ...more @include(if: $full) } } fragment more on Repository { url }`,
			vars:  map[string]any{"full": false},
			want:  `{"data":{"repository":{"name":"public","isPrivate":false}}}`,
		},
		{
			name:  "a variable's default",
			query: `query($owner: String = "bob", $first: Int = 1) { repositoryOwner(login: $owner) { repositories(first: $first) { totalCount nodes { name } } } }`,
			want:  `{"data":{"repositoryOwner":{"repositories":{"totalCount":2,"nodes":[{"name":"private"}]}}}}`,
		},
		{
			name: "a fragment inside a fragment inside a fragment",
			query: `{ repository(owner: "octo-org", name: "private") { ...repo } }
				fragment repo on Repository { name owner { ...owner } }
				fragment owner on RepositoryOwner { login ... on Organization { membersWithRole(first: 5) { nodes { ...member } } } }
				fragment member on User { login isViewer }`,
			want: `{"data":{"repository":{"name":"private","owner":{"login":"octo-org","membersWithRole":{"nodes":[{"login":"alice","isViewer":true},{"login":"bob","isViewer":false}]}}}}}`,
		},
		{
			name: "a non-null field resolving to null nulls the nearest nullable parent",
			query: `{ a: repository(owner: "relic-corp", name: "relic") { name owner { login } }
				b: repository(owner: "octo-org", name: "public") { name }
				search(query: "relic", type: REPOSITORY, first: 5) { repositoryCount nodes { ... on Repository { owner { login } } } } }`,
			want: `{"data":{"a":null,"b":{"name":"public"},"search":{"repositoryCount":1,"nodes":[null]}},"errors":[
				{"path":["a","owner"],"locations":[{"line":1,"column":60}],"message":"Cannot return null for non-nullable field Repository.owner"},
				{"path":["search","nodes",0,"owner"],"locations":[{"line":3,"column":102}],"message":"Cannot return null for non-nullable field Repository.owner"}]}`,
		},
		{
			name:  "fields the model leaves out take their type's default",
			query: `{ rateLimit { limit resetAt } repository(owner: "octo-org", name: "public") { createdAt isArchived homepageUrl primaryLanguage { name } watchers(first: 1) { totalCount nodes { login } } defaultBranchRef { name target { oid } } licenseInfo { name } } }`,
			want: `{"data":{"rateLimit":{"limit":5000,"resetAt":"2026-01-01T00:00:00Z"},"repository":{"createdAt":"2026-01-01T00:00:00Z","isArchived":false,"homepageUrl":null,"primaryLanguage":null,
				"watchers":{"totalCount":0,"nodes":[]},"defaultBranchRef":{"name":"main","target":{"oid":"6310bb56700dcd4e8300fd1c69c44a3dc7e21a44"}},"licenseInfo":null}}}`,
		},
		{
			name:  "introspection",
			query: `{ __type(name: "RepositoryPrivacy") { kind name enumValues { name } } __schema { queryType { name } } pr: __type(name: "PullRequest") { fields { name type { kind ofType { name } } } } }`,
			want:  "", // checked below: too long to spell out
		},
		{
			name:  "a mutation writes nothing and answers null payloads",
			query: `mutation($input: AddStarInput!) { addStar(input: $input) { clientMutationId } }`,
			vars:  map[string]any{"input": map[string]any{"starrableId": newNodeID("R", 7001)}},
			want:  `{"data":{"addStar":null}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, got := postGraphQL(t, srv, requestBody(t, tc.query, tc.vars))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, got)
			}
			if tc.want == "" {
				return
			}
			if want := compact(t, tc.want, repl); got != want {
				t.Errorf("answer\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestGraphQLIntrospection: gh detects an enterprise host's features by
// the fields of its types.
func TestGraphQLIntrospection(t *testing.T) {
	_, srv := newGraphQLHost(t)
	_, got := postGraphQL(t, srv, requestBody(t, `{
		privacy: __type(name: "RepositoryPrivacy") { kind name enumValues { name } }
		pr: __type(name: "PullRequest") { fields(includeDeprecated: true) { name type { kind ofType { kind name } } } interfaces { name } }
		owner: __type(name: "RepositoryOwner") { kind possibleTypes { name } }
		none: __type(name: "NoSuchType") { name }
		__schema { queryType { name } mutationType { name } subscriptionType { name } } }`, nil))
	var answer struct {
		Data struct {
			Privacy struct {
				Kind, Name string
				EnumValues []struct{ Name string }
			}
			PR struct {
				Fields []struct {
					Name string
					Type struct {
						Kind   string
						OfType *struct{ Kind, Name string }
					}
				}
				Interfaces []struct{ Name string }
			}
			Owner struct {
				Kind          string
				PossibleTypes []struct{ Name string }
			}
			None   *struct{ Name string }
			Schema struct {
				QueryType, MutationType struct{ Name string }
				SubscriptionType        *struct{ Name string }
			} `json:"__schema"`
		}
		Errors []gqlError
	}
	if err := json.Unmarshal([]byte(got), &answer); err != nil || len(answer.Errors) > 0 {
		t.Fatalf("%v: %s", err, got)
	}
	d := answer.Data
	if d.Privacy.Kind != "ENUM" || d.Privacy.Name != "RepositoryPrivacy" || len(d.Privacy.EnumValues) != 2 || d.Privacy.EnumValues[0].Name != "PRIVATE" {
		t.Errorf("RepositoryPrivacy: %+v", d.Privacy)
	}
	found := false
	for _, f := range d.PR.Fields {
		if f.Name == "title" {
			found = f.Type.Kind == "NON_NULL" && f.Type.OfType != nil && f.Type.OfType.Name == "String" && f.Type.OfType.Kind == "SCALAR"
		}
	}
	if !found || len(d.PR.Interfaces) == 0 {
		t.Errorf("PullRequest: title not a String! among %d fields, interfaces %v", len(d.PR.Fields), d.PR.Interfaces)
	}
	if d.Owner.Kind != "INTERFACE" || len(d.Owner.PossibleTypes) != 2 {
		t.Errorf("RepositoryOwner: %+v", d.Owner)
	}
	if d.None != nil || d.Schema.QueryType.Name != "Query" || d.Schema.MutationType.Name != "Mutation" || d.Schema.SubscriptionType != nil {
		t.Errorf("unknown type %+v, schema %+v", d.None, d.Schema)
	}
}

// TestGraphQLRefuses: documents GitHub would not run get errors and no
// data, with 200, so a test sees a rewritten document that is invalid.
func TestGraphQLRefuses(t *testing.T) {
	_, srv := newGraphQLHost(t)
	cases := []struct {
		name, body string
		says       string
	}{
		{"a field that does not exist", requestBody(t, `{ viewer { login nosuchfield } }`, nil), `nosuchfield`},
		{"a fragment on a type the field cannot have", requestBody(t, `{ viewer { ... on Repository { name } } }`, nil), `Repository`},
		{"an undefined fragment", requestBody(t, `{ viewer { ...nope } }`, nil), `nope`},
		{"a syntax error", requestBody(t, `{ viewer { login }`, nil), `Expected`},
		{"a missing variable", requestBody(t, `query($o: String!) { repositoryOwner(login: $o) { login } }`, nil), `must be defined`},
		{"a variable of the wrong type", requestBody(t, `query($n: Int!) { repository(owner: "a", name: "b") { issue(number: $n) { id } } }`, map[string]any{"n": "x"}), `Int`},
		{"two operations and no name", requestBody(t, `query A { viewer { login } } query B { viewer { id } }`, nil), `operation name`},
		{"no query", `{"variables":{}}`, `A query attribute must be specified`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, got := postGraphQL(t, srv, tc.body)
			var answer map[string]json.RawMessage
			if err := json.Unmarshal([]byte(got), &answer); err != nil {
				t.Fatal(err)
			}
			if _, ok := answer["data"]; ok || status != http.StatusOK || !strings.Contains(string(answer["errors"]), tc.says) {
				t.Errorf("status %d, answer %s; want 200, errors saying %q and no data", status, got, tc.says)
			}
		})
	}
}

// TestGraphQLTransport: batches, GET, operation names, precise numbers,
// unknown tokens.
func TestGraphQLTransport(t *testing.T) {
	_, srv := newGraphQLHost(t)
	repoDoc := `query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { name } }`
	cases := []struct {
		name, method, target, body, auth string
		want                             string
	}{
		{
			name: "a batch is answered in order", method: "POST", target: "/api/graphql", auth: "bearer alice-token",
			body: "[" + requestBody(t, repoDoc, map[string]any{"owner": "octo-org", "name": "public"}) + "," +
				requestBody(t, `{ viewer { login } }`, nil) + "," +
				requestBody(t, repoDoc, map[string]any{"owner": "octo-org", "name": "nope"}) + "]",
			want: `[{"data":{"repository":{"name":"public"}}},{"data":{"viewer":{"login":"alice"}}},
				{"data":{"repository":null},"errors":[{"type":"NOT_FOUND","path":["repository"],"locations":[{"line":1,"column":42}],"message":"Could not resolve to a Repository with the name 'octo-org/nope'."}]}]`,
		},
		{
			name: "GET with query, variables and operationName", method: "GET", auth: "token alice-token",
			target: "/api/graphql?" + url.Values{
				"query":         {`query A { viewer { id } } query B($o: String!) { organization(login: $o) { login } }`},
				"variables":     {`{"o":"open-org"}`},
				"operationName": {"B"},
			}.Encode(),
			want: `{"data":{"organization":{"login":"open-org"}}}`,
		},
		{
			name: "an operation chosen by name", method: "POST", target: "/api/graphql", auth: "bearer alice-token",
			body: `{"query":"query A { viewer { login } } query B { viewer { isViewer } }","operationName":"B"}`,
			want: `{"data":{"viewer":{"isViewer":true}}}`,
		},
		{
			name: "variables sent as a string", method: "POST", target: "/api/graphql", auth: "bearer alice-token",
			body: `{"query":"query($n: Int!) { repository(owner: \"octo-org\", name: \"private\") { issue(number: $n) { title } } }","variables":"{\"n\":1}"}`,
			want: `{"data":{"repository":{"issue":{"title":"Fix the build"}}}}`,
		},
		{
			name: "an unknown token is someone", method: "POST", target: "/api/graphql", auth: "bearer who-knows",
			body: `{"query":"{ viewer { login __typename } }"}`,
			want: `{"data":{"viewer":{"login":"someone","__typename":"User"}}}`,
		},
		{
			name: "a body that is not JSON", method: "POST", target: "/api/graphql", auth: "bearer alice-token",
			body: `query={ viewer { login } }`,
			want: "",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.target, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tc.auth)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := string(bytes.TrimSpace(b))
			if tc.want == "" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("status %d, want 400: %s", resp.StatusCode, got)
				}
				return
			}
			if want := compact(t, tc.want, placeholders(srv)); resp.StatusCode != http.StatusOK || got != want {
				t.Errorf("status %d, answer\n%s\nwant\n%s", resp.StatusCode, got, want)
			}
		})
	}
}

// TestGraphQLNodeIDsDecode: every id the host gives out is one the
// gateway's decoder reads, naming the object's repository or account.
func TestGraphQLNodeIDsDecode(t *testing.T) {
	_, srv := newGraphQLHost(t)
	_, got := postGraphQL(t, srv, requestBody(t, `{
		repository(owner: "octo-org", name: "private") { id databaseId issue(number: 1) { id } pullRequest(number: 2) { id }
			owner { id ... on Organization { databaseId } } }
		viewer { id databaseId } }`, nil))
	var answer struct {
		Data struct {
			Repository struct {
				ID          string
				DatabaseID  int64
				Issue       struct{ ID string }
				PullRequest struct{ ID string }
				Owner       struct {
					ID         string
					DatabaseID int64
				}
			}
			Viewer struct {
				ID         string
				DatabaseID int64
			}
		}
	}
	if err := json.Unmarshal([]byte(got), &answer); err != nil {
		t.Fatal(err)
	}
	r, v := answer.Data.Repository, answer.Data.Viewer
	for _, tc := range []struct {
		id    string
		scope target.Scope
		dbID  int64
	}{
		{r.ID, target.Repository, 7001},
		{r.Issue.ID, target.Repository, 7001},
		{r.PullRequest.ID, target.Repository, 7001},
		{r.Owner.ID, target.Organization, r.Owner.DatabaseID},
		{v.ID, target.User, v.DatabaseID},
	} {
		tgt, ok, why := graphql.NodeTarget(tc.id, target.Read)
		if !ok || tgt.Scope != tc.scope || tgt.ID != tc.dbID || tc.dbID == 0 {
			t.Errorf("%s: %+v ok=%v %s; want scope %v, id %d", tc.id, tgt, ok, why, tc.scope, tc.dbID)
		}
	}
	if r.DatabaseID != 7001 {
		t.Errorf("databaseId %d", r.DatabaseID)
	}
}

// TestGraphQLFollowsTables: the answers change as the tables do.
func TestGraphQLFollowsTables(t *testing.T) {
	h, srv := newGraphQLHost(t)
	doc := requestBody(t, `{ repository(owner: "octo-org", name: "public") { visibility issues(first: 5) { totalCount } } }`, nil)
	if _, got := postGraphQL(t, srv, doc); got != `{"data":{"repository":{"visibility":"PUBLIC","issues":{"totalCount":0}}}}` {
		t.Fatalf("before: %s", got)
	}
	h.SetVisibility("octo-org/public", "private")
	h.AddIssue("octo-org/public", 3, "New", "alice")
	if _, got := postGraphQL(t, srv, doc); got != `{"data":{"repository":{"visibility":"PRIVATE","issues":{"totalCount":1}}}}` {
		t.Fatalf("after: %s", got)
	}
}

// TestGraphQLVariablesKeepNumbers: a number in the variables reaches
// coercion as sent, however large.
func TestGraphQLVariablesKeepNumbers(t *testing.T) {
	vars, err := decodeVariables([]byte(`{"big":12345678901234567890,"list":[{"f":0.1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if big, ok := vars["big"].(json.Number); !ok || big.String() != "12345678901234567890" {
		t.Errorf("big: %#v", vars["big"])
	}
	if f := vars["list"].([]any)[0].(map[string]any)["f"]; f != json.Number("0.1") {
		t.Errorf("nested: %#v", f)
	}
}
