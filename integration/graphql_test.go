package integration

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/patgate/patgate/graphqlfilter"
)

// repoNodeID is the new-form global ID of a repository (R_ + base64url of
// msgpack [0, database id]), as GitHub issues them.
func repoNodeID(t *testing.T, id int64) string {
	t.Helper()
	b, err := msgpack.Marshal([]any{0, id})
	if err != nil {
		t.Fatal(err)
	}
	return "R_" + base64.RawURLEncoding.EncodeToString(b)
}

func gqlBody(t *testing.T, query string, vars map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGraphQL: GraphQL documents are resolved down to the repositories,
// organizations and node IDs they name, and each is decided as REST would.
func TestGraphQL(t *testing.T) {
	g, host := newGateway(t, "")
	if err := host.AddRepoID(7001, "octo-org", "gql-private", "Organization", "private"); err != nil {
		t.Fatal(err)
	}
	if err := host.AddRepoID(7002, "octo-org", "gql-public", "Organization", "public"); err != nil {
		t.Fatal(err)
	}
	const repoQuery = `query RepositoryInfo($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id name } }`
	const createIssue = `mutation IssueCreate($input: CreateIssueInput!) { createIssue(input: $input) { issue { url } } }`
	issue := func(id int64) map[string]any {
		return map[string]any{"input": map[string]any{"repositoryId": repoNodeID(t, id), "title": "t"}}
	}
	cases := []struct {
		name, token, body string
		want              int
		msg               string
	}{
		{"classic reads a private repository", tokClassic, gqlBody(t, repoQuery, map[string]any{"owner": "octo-org", "name": "private"}), 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"classic reads a public repository", tokClassic, gqlBody(t, repoQuery, map[string]any{"owner": "octo-org", "name": "public"}), 200, ""},
		{"classic in an org that allows it", tokClassic, gqlBody(t, repoQuery, map[string]any{"owner": "open-org", "name": "private"}), 200, ""},
		{"classic asks for itself", tokClassic, gqlBody(t, `{ viewer { login } }`, nil), 200, ""},
		{"approved token writes by node ID", tokApproved, gqlBody(t, createIssue, issue(7001)), 200, ""},
		{"pending token writes by node ID", tokPending, gqlBody(t, createIssue, issue(7002)), 403, "pending"},
		{"pending token reads a public repository by node ID", tokPending, gqlBody(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": repoNodeID(t, 7002)}), 200, ""},
		{"pending token reads a private repository by node ID", tokPending, gqlBody(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": repoNodeID(t, 7001)}), 403, "pending"},
		{"nested repository of an organization", tokClassic, gqlBody(t, `{ organization(login: "octo-org") { repository(name: "public") { id } } }`, nil), 403, "`octo-org`"},
		{"an ID the gateway cannot resolve", tokClassic, gqlBody(t, `{ node(id: "PVT_kgDOADP9xw") { id } }`, nil), 403, "cannot be looked up"},
		{"a batch with one refused operation", tokClassic, "[" + gqlBody(t, repoQuery, map[string]any{"owner": "octo-org", "name": "public"}) + "," + gqlBody(t, repoQuery, map[string]any{"owner": "octo-org", "name": "private"}) + "]", 403, "`octo-org`"},
		{"malformed document", tokClassic, `{"query": "{ repository(owner: "}`, 400, "graphql request"},
		{"subscription", tokClassic, gqlBody(t, `subscription { x }`, nil), 400, "subscriptions"},
		{"oauth token is not governed", tokOAuth, gqlBody(t, repoQuery, map[string]any{"owner": "octo-org", "name": "private"}), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, "POST", "/api/graphql", tc.body, "Authorization", "bearer "+tc.token, "Content-Type", "application/json")
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 200 {
				f, n := host.Last()
				if n != before+1 || !sameDocument(t, f.Body, tc.body) {
					t.Fatalf("the document did not reach the host intact: %s", f.Body)
				}
				return
			}
			if host.Count() != before {
				t.Fatal("a refused document reached the host")
			}
			var e struct {
				Message string
				Errors  []struct{ Type, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("answer %s does not say %q (%v)", body, tc.msg, err)
			}
		})
	}
	t.Run("GET with a query parameter", func(t *testing.T) {
		q := url.QueryEscape(`{ repository(owner: "octo-org", name: "private") { id } }`)
		resp := g.do(t, "GET", "/api/graphql?query="+q, "", "Authorization", "token "+tokClassic)
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestGraphQLReportOrganization: octo-org is in report mode, locked-org is
// enforced. A document naming both must be refused for locked-org: report
// mode for one organization must not wave through another's resources.
func TestGraphQLReportOrganization(t *testing.T) {
	g, _ := newGateway(t, "report_organizations octo-org")
	both := gqlBody(t, `{ a: repository(owner: "octo-org", name: "private") { id } b: repository(owner: "locked-org", name: "private") { id } }`, nil)
	resp := g.do(t, "POST", "/api/graphql", both, "Authorization", "bearer "+tokClassic)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "`locked-org`") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	only := gqlBody(t, `{ repository(owner: "octo-org", name: "private") { id } }`, nil)
	if resp := g.do(t, "POST", "/api/graphql", only, "Authorization", "bearer "+tokClassic); resp.StatusCode != 200 {
		t.Fatalf("octo-org alone in report mode: status %d", resp.StatusCode)
	}
}

// sameDocument reports whether the forwarded GraphQL body is the client's
// once the fields the gateway adds to learn owners (SPEC §11: patgate_
// aliases, and the fragments that hold only those) are taken out again:
// variables and operationName byte for byte, the document field for field.
func sameDocument(t *testing.T, forwarded, sent string) bool {
	t.Helper()
	if forwarded == sent {
		return true
	}
	var f, s struct {
		Query         string          `json:"query"`
		Variables     json.RawMessage `json:"variables"`
		OperationName *string         `json:"operationName"`
	}
	if json.Unmarshal([]byte(forwarded), &f) != nil || json.Unmarshal([]byte(sent), &s) != nil {
		return false
	}
	if string(f.Variables) != string(s.Variables) || (f.OperationName == nil) != (s.OperationName == nil) ||
		f.OperationName != nil && *f.OperationName != *s.OperationName {
		return false
	}
	format := func(q string, strip bool) string {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatalf("%v: %s", err, q)
		}
		var clean func(ast.SelectionSet) ast.SelectionSet
		clean = func(set ast.SelectionSet) ast.SelectionSet {
			var out ast.SelectionSet
			for _, sel := range set {
				switch x := sel.(type) {
				case *ast.Field:
					if strip && strings.HasPrefix(x.Alias, graphqlfilter.Prefix) {
						continue
					}
					x.SelectionSet = clean(x.SelectionSet)
				case *ast.InlineFragment:
					if x.SelectionSet = clean(x.SelectionSet); len(x.SelectionSet) == 0 {
						continue
					}
				}
				out = append(out, sel)
			}
			return out
		}
		for _, op := range doc.Operations {
			op.SelectionSet = clean(op.SelectionSet)
		}
		for _, fr := range doc.Fragments {
			fr.SelectionSet = clean(fr.SelectionSet)
		}
		var b strings.Builder
		formatter.NewFormatter(&b).FormatQueryDocument(doc)
		return b.String()
	}
	return format(f.Query, true) == format(s.Query, false)
}
