package graphqlfilter

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/patgate/patgate/answerbody"
	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

const classic = "ghp_graphqlfilterClassicToken00000000001"

// newHost is a fake host that really executes documents (the gateway's
// rewritten ones included) over its tables: octo-org (which the policy
// restricts for classic PATs) and open-org, carol's fork of octo-org's
// private repository, issues everywhere, a team.
func newHost(t testing.TB) *githost.Host {
	t.Helper()
	h := githost.New("svc", "")
	h.Quiet = true
	for _, r := range []struct{ owner, name, typ, vis string }{
		{"octo-org", "private", "Organization", "private"},
		{"octo-org", "public", "Organization", "public"},
		{"octo-org", "internal", "Organization", "internal"},
		{"open-org", "private", "Organization", "private"},
		{"carol", "fork", "User", "public"},
	} {
		if err := h.AddRepo(r.owner, r.name, r.typ, r.vis); err != nil {
			t.Fatal(err)
		}
	}
	h.SetUser(classic, "carol")
	h.AddMember("octo-org", "carol")
	h.AddMember("open-org", "carol")
	h.SetParent("carol/fork", "octo-org/private")
	for _, r := range []string{"octo-org/private", "octo-org/public", "octo-org/internal", "open-org/private", "carol/fork"} {
		h.AddIssue(r, 1, "issue of "+r, "carol")
	}
	h.AddTeam(7, "octo-org")
	// An owner of a type the host cannot show: its repositories' owner
	// resolves to null, which the host reports at the gateway's field.
	if err := h.AddRepo("ghost-owner", "x", "Mannequin", "public"); err != nil {
		t.Fatal(err)
	}
	return h
}

// decider decides with enforce for a classic PAT under a policy where
// octo-org restricts classic PATs; it counts the facts it had to look up
// (none should be needed: the answer carries them).
func decider(t testing.TB, lookups *atomic.Int64) Decider {
	pol, err := policyfeed.Parse([]byte(`{"version": 3, "organizations": [
		{"login": "octo-org", "classic": {"access": "restrict"}},
		{"login": "open-org", "classic": {"access": "allow"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tok := enforce.Token{Class: tokenclass.Classic}
	return func(_ context.Context, tg target.Target, res target.Resource) Verdict {
		for range 3 {
			d := enforce.Decide(pol, tok, tg, res)
			if d.Outcome != enforce.NeedResource {
				v := Verdict{Keep: d.Outcome == enforce.Allow, Reason: d.Reason}
				if !v.Keep {
					v.Message = d.Message()
				}
				return v
			}
			lookups.Add(1)
			res = target.Resource{Known: true, OwnerLogin: tg.Owner, OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}
		}
		t.Fatal("the decision did not settle")
		return Verdict{}
	}
}

// run sends a request body (one request or a batch) as the gateway would:
// each document prepared, the host executing the rewritten ones, the
// answer checked. It returns the checked answer, the header, and the
// filter.
func run(t testing.TB, h *githost.Host, body string) (string, http.Header, *Filter, error) {
	t.Helper()
	var reqs []map[string]any
	batch := strings.HasPrefix(strings.TrimSpace(body), "[")
	if batch {
		if err := json.Unmarshal([]byte(body), &reqs); err != nil {
			t.Fatal(err)
		}
	} else {
		var one map[string]any
		if err := json.Unmarshal([]byte(body), &one); err != nil {
			t.Fatal(err)
		}
		reqs = []map[string]any{one}
	}
	var lookups atomic.Int64
	f := &Filter{Batch: batch, Decide: decider(t, &lookups)}
	for _, r := range reqs {
		q, plan, err := Prepare(r["query"].(string), "")
		if err != nil {
			t.Fatal(err)
		}
		r["query"] = q
		f.Plans = append(f.Plans, plan)
	}
	var fwd []byte
	if batch {
		fwd, _ = json.Marshal(reqs)
	} else {
		fwd, _ = json.Marshal(reqs[0])
	}
	req := httptest.NewRequest("POST", "/api/graphql", bytes.NewReader(fwd))
	req.Header.Set("Authorization", "bearer "+classic)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	hd := rec.Header().Clone()
	var out bytes.Buffer
	err := f.Check(context.Background(), rec.Code, hd, rec.Body, &out)
	if lookups.Load() != 0 {
		t.Errorf("%d lookups: the answer should carry every fact", lookups.Load())
	}
	return out.String(), hd, f, err
}

func query(q string) string {
	b, _ := json.Marshal(map[string]string{"query": q})
	return string(b)
}

func TestFilter(t *testing.T) {
	h := newHost(t)
	tests := []struct {
		name   string
		body   string
		want   string // the checked answer's data and errors, exactly
		owners string
	}{
		{"organizations are organization data; a repository's owner goes with it",
			query(`{ viewer { organizations(first: 5) { nodes { login } } } repository(owner: "octo-org", name: "public") { owner { login } } }`),
			`{"data":{"viewer":{"organizations":{"nodes":[null,{"login":"open-org"}]}},"repository":{"owner":{"login":"octo-org"}}},"errors":[{"type":"FORBIDDEN","path":["viewer","organizations","nodes",0],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}`,
			"octo-org"},
		{"a non-null position: the null moves up to the nullable edge",
			query(`{ search(type: REPOSITORY, query: "org:octo-org", first: 5) { repositoryCount edges { node { ... on Repository { nameWithOwner } } } } }`),
			`{"data":{"search":{"repositoryCount":3,"edges":[{"node":null},{"node":null},{"node":{"nameWithOwner":"octo-org/public"}}]}},"errors":[` +
				`{"type":"FORBIDDEN","path":["search","edges",0,"node"],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."},` +
				`{"type":"FORBIDDEN","path":["search","edges",1,"node"],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}`,
			"octo-org"},
		{"only the outermost removed object has an error",
			query(`{ repository(owner: "carol", name: "fork") { parent { issues(first: 1) { nodes { title repository { name } } } } } }`),
			`{"data":{"repository":{"parent":null}},"errors":[{"type":"FORBIDDEN","path":["repository","parent"],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}`,
			"octo-org"},
		{"the host's own errors stay first",
			query(`{ missing: repository(owner: "nobody", name: "x") { name } repository(owner: "carol", name: "fork") { parent { name } } }`),
			`{"data":{"missing":null,"repository":{"parent":null}},"errors":[{"type":"NOT_FOUND","path":["missing"],"locations":[{"line":1,"column":3}],"message":"Could not resolve to a Repository with the name 'nobody/x'."},{"type":"FORBIDDEN","path":["repository","parent"],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}`,
			"octo-org"},
		{"the host's errors about the gateway's fields are not the client's",
			query(`{ repository(owner: "ghost-owner", name: "x") { name } }`),
			`{"data":{"repository":null}}`, ""},
		// A ref's target is a GitObject, an interface that says its own
		// repository: a public repository's head commit stays readable
		// although the client names no concrete type, and a restricted
		// repository's goes with it.
		{"a commit through the GitObject interface",
			query(`{ a: repository(owner: "octo-org", name: "public") { defaultBranchRef { target { oid } } } b: repository(owner: "carol", name: "fork") { parent { defaultBranchRef { target { oid } } } } }`),
			`{"data":{"a":{"defaultBranchRef":{"target":{"oid":"6310bb56700dcd4e8300fd1c69c44a3dc7e21a44"}}},"b":{"parent":null}},"errors":[{"type":"FORBIDDEN","path":["b","parent"],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}`,
			"octo-org"},
		{"a team goes with its organization",
			query(`{ organization(login: "open-org") { login } viewer { login } }`),
			`{"data":{"organization":{"login":"open-org"},"viewer":{"login":"carol"}}}`, ""},
		{"a batch: each answer checked with its own document",
			`[` + query(`{ viewer { login } }`) + `,` + query(`{ search(type: ISSUE, query: "", first: 10) { nodes { ... on Issue { title } } } }`) + `]`,
			`[{"data":{"viewer":{"login":"carol"}}},{"data":{"search":{"nodes":[{"title":"issue of carol/fork"},null,null,{"title":"issue of octo-org/public"},{"title":"issue of open-org/private"}]}},"errors":[` +
				`{"type":"FORBIDDEN","path":["search","nodes",1],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."},` +
				`{"type":"FORBIDDEN","path":["search","nodes",2],"extensions":{"saml_failure":false},"message":"` + "`octo-org`" + ` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."}]}]`,
			"octo-org"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, hd, f, err := run(t, h, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			n, owners := f.Removed()
			if strings.Join(owners, ",") != tc.owners || (n > 0) != (tc.owners != "") {
				t.Errorf("removed %d of %v, want %s", n, owners, tc.owners)
			}
			if tc.owners != "" && hd.Get("X-PAT-Policy") != "partial-results; organizations="+tc.owners {
				t.Errorf("X-PAT-Policy %q", hd.Get("X-PAT-Policy"))
			}
			if hd.Get("Content-Length") != "" && hd.Get("Content-Length") != itoa(len(got)) {
				t.Errorf("Content-Length %s for %d bytes", hd.Get("Content-Length"), len(got))
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestFilterRefuses: what cannot be checked is not forwarded (the
// handler answers 502), and the error quotes nothing of the answer.
func TestFilterRefuses(t *testing.T) {
	_, plan, err := Prepare(`{ viewer { organizations(first: 1) { nodes { login } } } }`, "")
	if err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int64
	for _, tc := range []struct {
		name, body, ctype, enc string
		batch                  bool
		want                   error
	}{
		{"not JSON", `{"data": {"viewer": secret-plans`, "application/json", "", false, ErrNotJSON},
		{"not JSON by its type", `<html>`, "text/html", "", false, ErrNotJSON},
		{"an encoding no client reads here", `x`, "application/json", "br", false, answerbody.ErrEncoding},
		{"a batch answered by one answer", `{"data":null}`, "application/json", "", true, ErrNotJSON},
		{"an answer that is not an object", `[1]`, "application/json", "", false, ErrNotJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Filter{Plans: []*Plan{plan}, Batch: tc.batch, Decide: decider(t, &lookups)}
			h := http.Header{"Content-Type": {tc.ctype}}
			if tc.enc != "" {
				h.Set("Content-Encoding", tc.enc)
			}
			err := f.Check(context.Background(), 200, h, strings.NewReader(tc.body), io.Discard)
			if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestFactsMissing: an object of a governed type whose facts did not come
// back (a type the gateway did not ask about at that position, a host
// that dropped a field) cannot be placed, and is removed.
func TestFactsMissing(t *testing.T) {
	_, plan, err := Prepare(`{ viewer { organizations(first: 1) { nodes { login } } } }`, "")
	if err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int64
	for _, answer := range []string{
		`{"data":{"viewer":{"organizations":{"nodes":[{"login":"open-org"}]}}}}`,                    // no patgate_login
		`{"data":{"viewer":{"organizations":{"nodes":[{"login":"open-org","patgate_login":""}]}}}}`, // empty
	} {
		f := &Filter{Plans: []*Plan{plan}, Decide: decider(t, &lookups)}
		var out bytes.Buffer
		if err := f.Check(context.Background(), 200, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(answer), &out); err != nil {
			t.Fatal(err)
		}
		v := fastjson.MustParse(out.String())
		if v.Get("data", "viewer", "organizations", "nodes", "0").Type() != fastjson.TypeNull || string(v.GetStringBytes("errors", "0", "type")) != "FORBIDDEN" {
			t.Errorf("%s → %s", answer, out.String())
		}
	}
}

// TestUnknownFields: a field only the host knows (GitHub Enterprise
// Server has some github.com's schema lacks) may hold anything: what it
// holds is not shown to a restricted token. Scalars and introspection are.
func TestUnknownFields(t *testing.T) {
	_, plan, err := Prepare(`{ viewer { login enterpriseOnly { name } count: enterpriseCount organizations(first: 1) { nodes { login } } } }`, "")
	if err != nil || plan == nil {
		t.Fatal(err)
	}
	answer := `{"data":{"viewer":{"login":"carol","enterpriseOnly":{"name":"octo-org/private"},"count":3,"organizations":{"nodes":[{"login":"open-org","patgate_login":"open-org"}]}}}}`
	var lookups atomic.Int64
	f := &Filter{Plans: []*Plan{plan}, Decide: decider(t, &lookups)}
	var out bytes.Buffer
	if err := f.Check(context.Background(), 200, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(answer), &out); err != nil {
		t.Fatal(err)
	}
	want := `{"data":{"viewer":{"login":"carol","enterpriseOnly":null,"count":3,"organizations":{"nodes":[{"login":"open-org"}]}}},"errors":[{"type":"FORBIDDEN","path":["viewer","enterpriseOnly"],"extensions":{"saml_failure":false},"message":`
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("got\n%s\nwant\n%s…", out.String(), want)
	}
}

// TestGzipAnswer: a host that compresses although the gateway asked for
// the plain answer is read decoded, and answered plain.
func TestGzipAnswer(t *testing.T) {
	_, plan, err := Prepare(`{ viewer { organizations(first: 1) { nodes { login } } } }`, "")
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, `{"data":{"viewer":{"organizations":{"nodes":[{"login":"octo-org","patgate_login":"octo-org"}]}}}}`)
	zw.Close()
	var lookups atomic.Int64
	f := &Filter{Plans: []*Plan{plan}, Decide: decider(t, &lookups)}
	h := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}
	var out bytes.Buffer
	if err := f.Check(context.Background(), 200, h, &zb, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `{"data":{"viewer":{"organizations":{"nodes":[null]}}},"errors":[{"type":"FORBIDDEN"`) || h.Get("Content-Encoding") != "" {
		t.Errorf("%s (Content-Encoding %q)", out.String(), h.Get("Content-Encoding"))
	}
}

// TestErrorLocationsBounded: the attacker sends 3,000 aliased lookups of
// users that do not exist, next to one repository so that the answer is
// checked. The host answers 3,000 NOT_FOUND errors, and mapping each one
// back to the client's document walked the document once per error (nine
// million steps). The document is now indexed once: every error is still
// located, at a cost linear in the document.
func TestErrorLocationsBounded(t *testing.T) {
	h := newHost(t)
	const n = 3000
	var b strings.Builder
	b.WriteString(`{ repository(owner: "octo-org", name: "public") { name } `)
	for i := range n {
		fmt.Fprintf(&b, "u%d: user(login: \"nobody-%d\") { login } ", i, i)
	}
	b.WriteString("}")
	got, _, f, err := run(t, h, query(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	v := fastjson.MustParse(got)
	errs := v.GetArray("errors")
	if len(errs) != n {
		t.Fatalf("%d errors, want %d", len(errs), n)
	}
	for i, e := range errs {
		// u17 is on the document's first line, after 17 others.
		if e.GetInt("locations", "0", "line") != 1 || e.GetInt("locations", "0", "column") <= 0 {
			t.Fatalf("error %d: %s", i, e)
		}
	}
	steps := 0
	for _, l := range f.locators {
		steps += l.steps
	}
	if steps > 2*(n+1) {
		t.Errorf("%d selections walked to place %d errors in a document of %d fields", steps, n, n+1)
	}
}
