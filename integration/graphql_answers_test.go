package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// graphqlHost adds to the test host what the GraphQL stories need: carol
// (the classic PAT's owner) belongs to the restricted octo-org and
// locked-org and to open-org, owns a public fork of octo-org's private
// repository, and issues live in repositories of every kind.
func graphqlHost(t *testing.T, host *testHost) {
	t.Helper()
	host.SetUser(tokClassic, "carol")
	host.SetUser(tokOAuth, "carol")
	host.SetUser(tokApproved, "carol")
	for _, org := range []string{"octo-org", "open-org", "locked-org"} {
		host.AddMember(org, "carol")
	}
	if err := host.AddRepo("carol", "fork", "User", "public"); err != nil {
		t.Fatal(err)
	}
	host.SetParent("carol/fork", "octo-org/private")
	for _, r := range []string{"octo-org/private", "octo-org/internal", "octo-org/public", "open-org/private", "locked-org/private", "bob/private"} {
		title := "issue in " + r
		if r == "octo-org/private" || r == "octo-org/internal" || r == "locked-org/private" {
			title = "secret plans of " + r
		}
		host.AddIssue(r, 1, title, "carol")
	}
	host.AddTeam(77, "octo-org")
}

// restrictedMarks are what must never appear in a classic PAT's answer:
// the restricted repositories and their issues' titles.
var restrictedMarks = []string{"octo-org/private", "octo-org/internal", "locked-org/private", "secret plans"}

// graphqlAnswer is a GraphQL answer as a client reads it.
type graphqlAnswer struct {
	Data   any `json:"data"`
	Errors []struct {
		Type       string         `json:"type"`
		Path       []any          `json:"path"`
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// TestGraphQLAnswers: with the classic PAT that octo-org restricts, a
// document that never names octo-org still reached its private data
// through viewer, user, search and a fork's parent. Now every object the
// token could not read on its own comes back null with a FORBIDDEN error
// at the client's own path, and everything else is exactly what the host
// answered an unrestricted token.
func TestGraphQLAnswers(t *testing.T) {
	g, host := newGateway(t, "")
	graphqlHost(t, host)
	post := func(token, query string) (int, string, map[string]string) {
		body, _ := json.Marshal(map[string]any{"query": query})
		resp := g.do(t, "POST", "/api/graphql", string(body), "Authorization", "bearer "+token)
		b, _ := io.ReadAll(resp.Body)
		h := map[string]string{"X-PAT-Policy": resp.Header.Get("X-PAT-Policy"), "Content-Length": resp.Header.Get("Content-Length")}
		return resp.StatusCode, string(b), h
	}
	stories := []struct {
		name, query string
		nulled      int // objects the classic PAT loses
	}{
		{"viewer → organizations → repositories",
			`{ viewer { login organizations(first: 10) { nodes { login repositories(first: 10) { nodes { nameWithOwner isPrivate } } } } } }`, 2},
		{"viewer → repositories → a fork's parent",
			`{ viewer { repositories(first: 10) { nodes { nameWithOwner parent { nameWithOwner description } } } } }`, 1},
		{"user → organizations → repositories → issues",
			`{ user(login: "carol") { organizations(first: 10) { nodes { repositories(first: 10) { nodes { issues(first: 5) { nodes { title } } } } } } } }`, 2},
		{"search mixing owners",
			`{ search(type: REPOSITORY, query: "", first: 50) { repositoryCount nodes { ... on Repository { nameWithOwner visibility } } } }`, 3},
		{"search for issues, edges { node }",
			`{ search(type: ISSUE, query: "", first: 50) { issueCount edges { cursor node { ... on Issue { title repository { nameWithOwner } } } } } }`, 3},
		{"aliases and named and inline fragments",
			`fragment Repo on Repository { full: nameWithOwner mine: owner { who: login } }
			 query Q { me: viewer { orgs: organizations(first: 10) { list: nodes { ... on Organization { name: login } projects: repositories(first: 10) { items: nodes { ...Repo } } } } } }`, 2},
		{"the repository field of an issue found through a public repository's owner",
			`{ repository(owner: "octo-org", name: "public") { owner { ... on Organization { repositories(first: 10) { nodes { nameWithOwner issues(first: 1) { nodes { repository { nameWithOwner } } } } } } } } }`, 2},
	}
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) {
			status, got, h := post(tokClassic, s.query)
			if status != 200 {
				t.Fatalf("status %d: %s", status, got)
			}
			for _, m := range restrictedMarks {
				if strings.Contains(got, m) {
					t.Errorf("the answer shows %q: %s", m, got)
				}
			}
			if strings.Contains(got, "patgate_") {
				t.Errorf("the gateway's own fields reached the client: %s", got)
			}
			if h["Content-Length"] != "" && h["Content-Length"] != fmt.Sprint(len(got)) {
				t.Errorf("Content-Length %s for %d bytes", h["Content-Length"], len(got))
			}
			// What the host answers a token nothing restricts, with the
			// classic PAT's FORBIDDEN paths nulled, is the classic PAT's
			// answer: nothing allowed was lost or changed.
			_, full, _ := post(tokOAuth, s.query)
			var restricted, open graphqlAnswer
			if err := json.Unmarshal([]byte(got), &restricted); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(full), &open); err != nil || len(open.Errors) > 0 {
				t.Fatalf("the unrestricted answer: %v %s", err, full)
			}
			if len(restricted.Errors) != s.nulled {
				t.Errorf("%d errors, want %d: %s", len(restricted.Errors), s.nulled, got)
			}
			for _, e := range restricted.Errors {
				if e.Type != "FORBIDDEN" || e.Extensions["saml_failure"] != false || !strings.Contains(e.Message, "forbids access via a personal access token (classic)") {
					t.Errorf("error %+v", e)
				}
				open.Data = nullAt(t, open.Data, e.Path)
			}
			if !reflect.DeepEqual(restricted.Data, open.Data) {
				t.Errorf("data\n%s\nwant\n%s", mustJSON(restricted.Data), mustJSON(open.Data))
			}
			if s.nulled > 0 && !strings.HasPrefix(h["X-PAT-Policy"], "partial-results; organizations=") {
				t.Errorf("X-PAT-Policy %q", h["X-PAT-Policy"])
			}
		})
	}
	// Nodes by id: the fork is the client's to read; its parent is not.
	t.Run("node by id → a fork's parent", func(t *testing.T) {
		_, idAnswer, _ := post(tokOAuth, `{ repository(owner: "carol", name: "fork") { id } }`)
		var a struct {
			Data struct{ Repository struct{ ID string } }
		}
		if err := json.Unmarshal([]byte(idAnswer), &a); err != nil || a.Data.Repository.ID == "" {
			t.Fatalf("%v: %s", err, idAnswer)
		}
		q := fmt.Sprintf(`{ fork: node(id: %q) { id ... on Repository { nameWithOwner parent { nameWithOwner } } } }`, a.Data.Repository.ID)
		status, got, _ := post(tokClassic, q)
		if status != 200 || !strings.Contains(got, `"nameWithOwner":"carol/fork","parent":null`) ||
			!strings.Contains(got, `"path":["fork","parent"]`) || strings.Contains(got, "octo-org/private") {
			t.Errorf("status %d: %s", status, got)
		}
	})
	// The decision record says how many objects were nulled, whose; the
	// metric counts them by reason (16 in the stories above).
	g.waitLog(t, "the record counts the nulled objects",
		regexp.MustCompile(`"path":"/api/graphql".*"removed":3,"removed_owners":\["locked-org","octo-org"\]`))
	if n := scrape(t, g.Admin, "caddy_pat_policy_answer_elements_removed_total", map[string]string{"reason": "classic_restricted"}); n != 16 {
		t.Errorf("the metric counts %v removals, want 16", n)
	}
	t.Run("an approved fine-grained token reads octo-org, not locked-org", func(t *testing.T) {
		_, got, h := post(tokApproved, stories[0].query)
		if !strings.Contains(got, `"octo-org/private"`) || strings.Contains(got, "locked-org/private") || h["X-PAT-Policy"] != "partial-results; organizations=locked-org" {
			t.Errorf("X-PAT-Policy %q: %s", h["X-PAT-Policy"], got)
		}
	})
	t.Run("tokens nothing restricts: the document and the answer as they are", func(t *testing.T) {
		before := host.Count()
		_, got, h := post(tokOAuth, stories[0].query)
		f, n := host.Last()
		if n != before+1 || strings.Contains(f.Body, "patgate_") || !strings.Contains(got, "octo-org/private") || h["X-PAT-Policy"] != "" {
			t.Errorf("forwarded %q; answer %s", f.Body, got)
		}
	})
	t.Run("the gateway's aliases are not the client's", func(t *testing.T) {
		status, got, _ := post(tokClassic, `{ repository(owner: "octo-org", name: "public") { patgate_nwo: name } }`)
		if status != 400 {
			t.Errorf("status %d: %s", status, got)
		}
	})
	t.Run("a document the request check refuses is refused as before", func(t *testing.T) {
		status, _, _ := post(tokClassic, `{ repository(owner: "octo-org", name: "private") { name } }`)
		if status != 403 {
			t.Errorf("status %d", status)
		}
	})
}

// nullAt sets the value at path in a decoded JSON document to nil.
func nullAt(t *testing.T, v any, path []any) any {
	t.Helper()
	if len(path) == 0 {
		return nil
	}
	switch c := v.(type) {
	case map[string]any:
		k, _ := path[0].(string)
		c[k] = nullAt(t, c[k], path[1:])
	case []any:
		i, _ := path[0].(float64)
		c[int(i)] = nullAt(t, c[int(i)], path[1:])
	default:
		t.Fatalf("no object or list at %v", path)
	}
	return v
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
