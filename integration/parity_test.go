package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// privateRepoDoc names octo-org's private repository, which the classic
// PAT may not read.
const privateRepoDoc = `{ repository(owner: \"octo-org\", name: \"private\") { id } }`

// TestGraphQLWorkBound: the attacker holds any string that starts with
// ghp_ and sends 708 bytes: twelve levels of named fragments, each
// spreading the next four times. Walked naively that is 4^12 selections
// and 1.5 GB; the gateway walks each fragment once, so the document is
// decided at once (it hides octo-org's private repository at the bottom,
// which is refused). A document past the work bound gets 400 in the
// GraphQL shape, and the host never sees either.
func TestGraphQLWorkBound(t *testing.T) {
	g, host := newGateway(t, "")
	var doc strings.Builder
	doc.WriteString("query { ...f0 } ")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&doc, "fragment f%d on Query { ...f%d ...f%d ...f%d ...f%d } ", i, i+1, i+1, i+1, i+1)
	}
	doc.WriteString(`fragment f12 on Query { repository(owner: "octo-org", name: "private") { id } }`)
	wide := "{" + strings.Repeat(" a", 60_000) + " }"
	for _, tc := range []struct {
		story string
		doc   string
		want  int
		says  string
	}{
		{"fan-out hiding a private repository", doc.String(), 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"a document past the work bound", wide, 400, "steps to check"},
	} {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			start := time.Now()
			resp := g.do(t, "POST", "/api/graphql", gqlBody(t, tc.doc, nil), "Authorization", "bearer "+tokClassic)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.says) || !strings.Contains(string(body), `"errors"`) {
				t.Fatalf("status %d, want %d saying %q in the GraphQL shape: %s", resp.StatusCode, tc.want, tc.says, body)
			}
			if host.Count() != before {
				t.Fatal("the document reached the host")
			}
			t.Logf("%d-byte document answered in %v", len(tc.doc), time.Since(start))
		})
	}
}

// TestGraphQLReadTwoWays: each body below carries two documents, one that
// names octo-org's private repository and one that does not, in a form
// that one reader takes one way and another reader the other (Go's
// encoding/json folds key case and keeps the last duplicate; Rails reads
// the exact key; Rack keeps the last repeated parameter). The gateway
// cannot know which half the host runs, so it refuses every one with 400.
func TestGraphQLReadTwoWays(t *testing.T) {
	g, host := newGateway(t, "")
	const harmless = `{ viewer { login } }`
	cases := []struct {
		story, method, target, body string
	}{
		{"query and Query", "POST", "/api/graphql", `{"query":"` + harmless + `","Query":"` + privateRepoDoc + `"}`},
		{"Query and query", "POST", "/api/graphql", `{"Query":"` + privateRepoDoc + `","query":"` + harmless + `"}`},
		{"operationName and OperationName", "POST", "/api/graphql",
			`{"query":"query A { viewer { login } } query B ` + privateRepoDoc + `","operationName":"A","OperationName":"B"}`},
		{"variables and VARIABLES", "POST", "/api/graphql",
			`{"query":"query($o: String!) { repository(owner: $o, name: \"private\") { id } }","variables":{"o":"bob"},"VARIABLES":{"o":"octo-org"}}`},
		{"a duplicate query key", "POST", "/api/graphql", `{"query":"` + harmless + `","query":"` + privateRepoDoc + `"}`},
		{"a duplicate key spelled with an escape", "POST", "/api/graphql", `{"query":"` + harmless + `","qu\u0065ry":"` + privateRepoDoc + `"}`},
		{"the same inside a batch", "POST", "/api/graphql", `[{"query":"` + harmless + `"},{"query":"` + harmless + `","QUERY":"` + privateRepoDoc + `"}]`},
		{"two query parameters", "GET", "/api/graphql?query=%7Bviewer%7Blogin%7D%7D&query=%7Brepository(owner%3A%22octo-org%22%2Cname%3A%22private%22)%7Bid%7D%7D", ""},
		{"a POST whose URL also carries a document", "POST", "/api/graphql?query=%7Brepository(owner%3A%22octo-org%22%2Cname%3A%22private%22)%7Bid%7D%7D", `{"query":"` + harmless + `"}`},
		{"a GET with a body", "GET", "/api/graphql?query=%7Bviewer%7Blogin%7D%7D", `{"query":"` + privateRepoDoc + `"}`},
		{"a body that is not JSON", "POST", "/api/graphql", `query=` + privateRepoDoc},
	}
	for _, tc := range cases {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			req, err := http.NewRequest(tc.method, g.URL+tc.target, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "bearer "+tokClassic)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(body), `"errors"`) {
				t.Fatalf("status %d, want 400 in the GraphQL shape: %s", resp.StatusCode, body)
			}
			if host.Count() != before {
				t.Fatal("the request reached the host")
			}
		})
	}
	// The control: the harmless document alone is forwarded.
	resp := g.do(t, "POST", "/api/graphql", `{"query":"`+harmless+`"}`, "Authorization", "bearer "+tokClassic)
	if resp.StatusCode != 200 {
		t.Fatalf("the harmless document: status %d", resp.StatusCode)
	}
}

// TestGraphQLOtherPaths: the host's router may take /api/graphql/ and
// /api/graphql.json for GraphQL; the gateway used to take them for Git
// paths it did not know, and forwarded them as unscoped. Now they are
// GraphQL, and any other path under /api/ is refused to restricted tokens.
func TestGraphQLOtherPaths(t *testing.T) {
	g, host := newGateway(t, "")
	doc := `{"query":"` + privateRepoDoc + `"}`
	cases := []struct {
		story, path string
		want        int
		says        string
	}{
		{"trailing slash", "/api/graphql/", 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"format suffix", "/api/graphql.json", 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"other case", "/API/GraphQL", 403, "`octo-org` forbids access via a personal access token (classic)"},
		{"path parameters", "/api/graphql;format=json", 400, ";"},
		{"below the GraphQL path", "/api/graphql/x", 403, "neither the REST API, GraphQL nor uploads"},
		{"another API version", "/api/v4/repos/octo-org/private", 403, "neither the REST API, GraphQL nor uploads"},
	}
	for _, tc := range cases {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, "POST", tc.path, doc, "Authorization", "bearer "+tokClassic)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.says) {
				t.Fatalf("status %d, want %d saying %q: %s", resp.StatusCode, tc.want, tc.says, body)
			}
			if host.Count() != before {
				t.Fatal("the request reached the host")
			}
		})
	}
}

// TestDumbHTTP: behind a stock git http-backend, which serves the dumb
// protocol, the review fetched HEAD, objects/info/packs and the pack files
// of octo-org's private repository with the restricted classic PAT and
// rebuilt it. Every path under a repository is now that repository's.
func TestDumbHTTP(t *testing.T) {
	g, host, _ := newGitGateway(t)
	auth := []string{"Authorization", basic("x-access-token", tokClassic)}
	for _, tc := range []struct {
		story, method, target string
		want                  int
	}{
		{"HEAD", "GET", "/octo-org/private.git/HEAD", 403},
		{"the pack list", "GET", "/octo-org/private.git/objects/info/packs", 403},
		{"a pack", "GET", "/octo-org/private.git/objects/pack/pack-0000000000000000000000000000000000000000.pack", 403},
		{"alternates", "HEAD", "/octo-org/private.git/objects/info/alternates", 403},
		{"a loose object written", "PUT", "/octo-org/public.git/objects/00/0000", 403},
		{"the files of a raw. site", "GET", "/octo-org/private/main/README.md", 403},
		{"an archive of a codeload. site", "GET", "/octo-org/private/zip/refs/heads/main", 403},
		{"INFO/refs in capitals", "GET", "/octo-org/public.git/INFO/refs?service=git-receive-pack", 403},
		{"a NUL after the service", "GET", "/octo-org/public.git/info/refs?service=git-receive-pack%00", 400},
		{"path parameters", "GET", "/octo-org/private.git;x/info/refs?service=git-upload-pack", 400},
		// The control: the public repository's HEAD is served to anyone,
		// so the refusals above are the gateway's, not the host's.
		{"the public repository's HEAD", "GET", "/octo-org/public.git/HEAD", 200},
	} {
		t.Run(tc.story, func(t *testing.T) {
			before := host.Count()
			status, body := send(t, g, tc.method, tc.target, auth...)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %.300s", status, tc.want, body)
			}
			if tc.want != 200 && host.Count() != before {
				t.Fatal("the request reached the host")
			}
			if tc.want == 200 && !strings.HasPrefix(body, "ref: refs/heads/") {
				t.Fatalf("the host did not serve HEAD: %q", body)
			}
		})
	}
	// The approved token reads the private repository's HEAD: the dumb
	// protocol really is served.
	status, body := send(t, g, "GET", "/octo-org/private.git/HEAD", "Authorization", basic("x-access-token", tokApproved))
	if status != 200 || !strings.HasPrefix(body, "ref: refs/heads/") {
		t.Fatalf("approved token: status %d: %q", status, body)
	}
}

// TestRoutesInOtherCase: a host that routes case-insensitively serves
// /api/v3/REPOS/octo-org/private as the repository. The gateway resolves
// such a path as the route it matches in lowercase, never as unscoped and
// never as public.
func TestRoutesInOtherCase(t *testing.T) {
	g, host := newGateway(t, "")
	for _, path := range []string{"/api/v3/REPOS/octo-org/private", "/api/v3/Repos/octo-org/public/hooks", "/api/v3/ORGS/octo-org/members"} {
		t.Run(path, func(t *testing.T) {
			before := host.Count()
			status, body := send(t, g, "GET", path, "Authorization", "token "+tokClassic)
			if status != 403 || host.Count() != before {
				t.Fatalf("status %d, want 403 without reaching the host: %.200s", status, body)
			}
		})
	}
}

// TestGraphQLOwnerArguments: arguments that name an owner under other
// names than login: an enterprise's slug in an invitation query, and a
// repository owner's login in a sponsors tier.
func TestGraphQLOwnerArguments(t *testing.T) {
	g, host := newGateway(t, "")
	sponsors := `mutation($i: CreateSponsorsTierInput!) { createSponsorsTier(input: $i) { clientMutationId } }`
	tier := map[string]any{"i": map[string]any{"sponsorableLogin": "bob", "repositoryOwnerLogin": "octo-org", "repositoryName": "private", "amount": 5, "description": "d"}}
	resp := g.do(t, "POST", "/api/graphql", gqlBody(t, sponsors, tier), "Authorization", "bearer "+tokClassic)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "`octo-org` forbids") {
		t.Fatalf("sponsors tier: status %d: %s", resp.StatusCode, body)
	}
	// Under an enterprise-level classic restriction, the enterprise's own
	// invitations are closed to classic PATs.
	writeFeed(t, g.Dir, feedV2())
	invitation := `{ enterpriseAdministratorInvitation(enterpriseSlug: "acme", userLogin: "bob", role: OWNER) { id } }`
	eventually(t, 10*time.Second, func() string {
		before := host.Count()
		resp := g.do(t, "POST", "/api/graphql", gqlBody(t, invitation, nil), "Authorization", "bearer "+tokClassic)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "`acme` forbids") || host.Count() != before {
			return fmt.Sprintf("invitation: status %d: %s", resp.StatusCode, body)
		}
		return ""
	})
}
