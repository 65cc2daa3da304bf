package graphql

import (
	"context"
	"errors"
	"fmt"
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
		// Arguments that name an owner under other names than login:.
		{"enterprise invitation by slug", Request{Query: `{ enterpriseAdministratorInvitation(enterpriseSlug: "acme", userLogin: "bob", role: OWNER) { id } }`}, target.Read,
			[]target.Target{{Scope: target.Enterprise, Surface: target.GraphQL, Owner: "acme"}, {Scope: target.User, Surface: target.GraphQL, Owner: "bob"}}, ""},
		{"root field inside an inline fragment", Request{Query: `{ ... on Query { enterpriseMemberInvitation(enterpriseSlug: "acme", userLogin: "bob") { id } } }`}, target.Read,
			[]target.Target{{Scope: target.Enterprise, Surface: target.GraphQL, Owner: "acme"}, {Scope: target.User, Surface: target.GraphQL, Owner: "bob"}}, ""},
		{"root field inside a named fragment", Request{Query: `query { ...q } fragment q on Query { enterpriseMemberInvitation(enterpriseSlug: "acme", userLogin: "bob") { id } }`}, target.Read,
			[]target.Target{{Scope: target.Enterprise, Surface: target.GraphQL, Owner: "acme"}, {Scope: target.User, Surface: target.GraphQL, Owner: "bob"}}, ""},
		{"the same field below another names nothing new", Request{Query: `{ viewer { login } }`}, target.Read, nil, ""},
		{"sponsors tier in an owner's repository", Request{Query: `mutation($i: CreateSponsorsTierInput!) { createSponsorsTier(input: $i) { clientMutationId } }`,
			Variables: map[string]any{"i": map[string]any{"sponsorableId": "U_kgDOADP9xw", "repositoryOwnerLogin": "octo-org", "repositoryName": "private", "amount": 5, "description": "d"}}}, target.Write,
			[]target.Target{{Scope: target.User, Surface: target.GraphQL, Access: target.Write, Owner: "octo-org"}, {Scope: target.User, Surface: target.GraphQL, Access: target.Write, IDKind: target.IDAccount, ID: 3407303}}, ""},
		{"enterprise organization admins", Request{Query: `mutation { createEnterpriseOrganization(input: {enterpriseId: "E_x", login: "new-org", profileName: "N", billingEmail: "b@x", adminLogins: ["alice", "bob"]}) { clientMutationId } }`}, target.Write,
			nil, `node ID "E_x"`},
		{"project node id", Request{Query: `mutation { addProjectV2ItemById(input: {projectId: "PVT_kgDOADP9xw", contentId: "I_kwDOADP9x84AAAAB"}) { item { id } } }`}, target.Write, nil, `node ID "PVT_kgDOADP9xw" (PVT_)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, access, err := Targets(context.Background(), tc.req)
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
		"a name no host accepts": {Query: `{ repository(owner: "octo-org", name: "` + strings.Repeat("x", 70000) + `") { id } }`},
		"a login with a space":   {Query: `{ organization(login: "octo org") { id } }`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Targets(context.Background(), r); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
		})
	}
}

// TestAmbiguousRequests: each request below could be read as two different
// documents by two readers (Go's encoding/json matches keys in any case and
// keeps the last duplicate; Rails reads the exact key; Rack keeps the last
// repeated parameter). The gateway cannot know which one the host reads, so
// it refuses them all.
func TestAmbiguousRequests(t *testing.T) {
	const private = `{ repository(owner: \"octo-org\", name: \"private\") { id } }`
	const harmless = `{ viewer { login } }`
	cases := []struct {
		story, method, query, body string
	}{
		{"query and Query", "POST", "", `{"query":"` + private + `","Query":"` + harmless + `"}`},
		{"Query alone", "POST", "", `{"Query":"` + private + `"}`},
		{"operationName and OperationName", "POST", "", `{"query":"query A { a } query B { b }","operationName":"A","OperationName":"B"}`},
		{"variables and VARIABLES", "POST", "", `{"query":"{a}","variables":{},"VARIABLES":{"o":"octo-org"}}`},
		{"a duplicate key", "POST", "", `{"query":"` + harmless + `","query":"` + private + `"}`},
		{"a duplicate key spelled with an escape", "POST", "", `{"query":"` + harmless + `","qu\u0065ry":"` + private + `"}`},
		{"a duplicate variable", "POST", "", `{"query":"{a}","variables":{"o":"a","o":"octo-org"}}`},
		{"case variant inside a batch", "POST", "", `[{"query":"{a}"},{"query":"` + harmless + `","QUERY":"` + private + `"}]`},
		{"duplicate inside a batch", "POST", "", `[{"query":"{a}","query":"{b}"}]`},
		{"two query parameters", "GET", "query=%7Ba%7D&query=%7Bb%7D", ""},
		{"two operationName parameters", "GET", "query=%7Ba%7D&operationName=A&operationName=B", ""},
		{"a Query parameter", "GET", "Query=%7Ba%7D", ""},
		{"a Rack array parameter", "GET", "query[]=%7Ba%7D", ""},
		{"a semicolon separator", "GET", "query=%7Ba%7D;query=%7Bb%7D", ""},
		{"document in the URL and the body", "POST", "query=%7Ba%7D", `{"query":"{b}"}`},
		{"variables in the URL of a POST", "POST", "variables=%7B%7D", `{"query":"{b}"}`},
		{"a GET with a body", "GET", "query=%7Ba%7D", `{"query":"{b}"}`},
		{"a body that is not JSON", "POST", "", `query={a}`},
		{"data after the JSON", "POST", "", `{"query":"{a}"} {"query":"{b}"}`},
		{"invalid UTF-8", "POST", "", "{\"query\":\"{a}\xff\"}"},
		{"query not a string", "POST", "", `{"query":["{a}"]}`},
		{"variables not an object", "POST", "", `{"query":"{a}","variables":"{}"}`},
	}
	for _, tc := range cases {
		t.Run(tc.story, func(t *testing.T) {
			if rs, err := ParseRequests(tc.method, tc.query, []byte(tc.body)); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %+v, %v; want ErrBadRequest", rs, err)
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

// fanOut is a document of levels named fragments, each spreading the next
// fanout times: without memoisation it names fanout^levels selections.
func fanOut(levels, fanout int) string {
	var b strings.Builder
	b.WriteString("query { ...f0 }\n")
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "fragment f%d on Query {", i)
		for j := 0; j < fanout; j++ {
			fmt.Fprintf(&b, " ...f%d", i+1)
		}
		b.WriteString(" }\n")
	}
	fmt.Fprintf(&b, "fragment f%d on Query { repository(owner: \"octo-org\", name: \"private\") { id } }\n", levels)
	return b.String()
}

// TestWorkBound: the review's 708-byte document (twelve levels of
// fragments, each spreading the next four times) took 3.9 s and 1.5 GB.
// Each fragment is now walked once, so it costs a few dozen steps, the
// same allocations whatever the fan-out, and still names the repository
// it hides.
func TestWorkBound(t *testing.T) {
	doc := fanOut(12, 4)
	if len(doc) > 1000 {
		t.Fatalf("the document is %d bytes; the attack fits in 708", len(doc))
	}
	ts, _, err := Targets(context.Background(), Request{Query: doc})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Owner != "octo-org" || ts[0].Name != "private" {
		t.Fatalf("targets %+v", ts)
	}
	allocs := func(fanout int) float64 {
		d := fanOut(12, fanout)
		return testing.AllocsPerRun(5, func() { _, _, _ = Targets(context.Background(), Request{Query: d}) })
	}
	// Allocations grow with the document's text (each spread is parsed),
	// not with the selections it would expand to: 8^12 is 4^12 squared.
	if a4, a8 := allocs(4), allocs(8); a8 > 2*a4 {
		t.Errorf("allocations grow with the fan-out: %.0f at 4, %.0f at 8", a4, a8)
	}
}

// TestWorkLimits: documents past the bounds are refused, and a request
// whose client went away stops.
func TestWorkLimits(t *testing.T) {
	var wide strings.Builder
	wide.WriteString("{")
	for i := 0; i <= MaxVisits; i++ {
		wide.WriteString(" a")
	}
	wide.WriteString(" }")
	var many strings.Builder
	many.WriteString("{")
	for i := 0; i <= MaxTargets; i++ {
		fmt.Fprintf(&many, ` r%d: repository(owner: "o", name: "r%d") { id }`, i, i)
	}
	many.WriteString(" }")
	tokens := "{" + strings.Repeat(" a", MaxTokens) + " }"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		doc  string
		want string
	}{
		{"too many selections", context.Background(), wide.String(), "steps"},
		{"too many resources", context.Background(), many.String(), "resources"},
		{"too many tokens", context.Background(), tokens, "token"},
		{"the client went away", cancelled, wide.String(), "canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Targets(tc.ctx, Request{Query: tc.doc})
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadRequest saying %q", err, tc.want)
			}
		})
	}
}

// BenchmarkFanOut shows the walk's cost flat in the fan-out: the same
// twelve levels, spreading 2, 4 and 8 times (2^12 to 8^12 selections if
// expanded).
func BenchmarkFanOut(b *testing.B) {
	for _, fanout := range []int{2, 4, 8} {
		doc := fanOut(12, fanout)
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Targets(context.Background(), Request{Query: doc}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTargets(b *testing.B) {
	r := Request{Query: ghPRList, OperationName: "PullRequestList", Variables: map[string]any{"owner": "octo-org", "repo": "private", "limit": 30}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Targets(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReplaceQueries: only the documents change; variables keep their
// bytes (a large number stays exact), other members stay, batches too.
func TestReplaceQueries(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"query":"{ a }","variables":{"n":12345678901234567890,"s":"\u00e9"},"operationName":null}`,
			`{"query":"{ b }","variables":{"n":12345678901234567890,"s":"\u00e9"},"operationName":null}`},
		{` [ {"variables":{},"query":"{ a }"} , {"query":"{ c }","extensions":{"x":[1]}} ] `,
			`[{"variables":{},"query":"{ b }"},{"query":"{ d }","extensions":{"x":[1]}}]`},
	}
	for _, tc := range tests {
		reqs, err := ParseRequests("POST", "", []byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		queries := []string{"{ b }", "{ d }"}[:len(reqs)]
		got, err := ReplaceQueries([]byte(tc.body), queries)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
