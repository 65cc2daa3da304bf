package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/graphql"
	"github.com/patgate/patgate/graphqlfilter"
	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

const (
	classic  = "ghp_gateClassicToken00000000000000000001"
	approved = "github_pat_11GATE_approvedFineGrainedToken0000"
	pending  = "github_pat_11GATE_pendingFineGrainedToken00000"
	oauth    = "gho_gateOAuthToken0000000000000000000001"
)

func fp(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// feed: octo-org restricts classic PATs and requires approval; audit-org
// restricts classic PATs in report mode (set by the feed); open-org allows
// everything.
func feed(t testing.TB) *enforce.Policy {
	t.Helper()
	p, err := policyfeed.Parse([]byte(fmt.Sprintf(`{
  "version": 7,
  "enterprise": {"slug": "acme"},
  "organizations": [
    {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}},
    {"login": "audit-org", "classic": {"access": "restrict"}, "mode": "report"},
    {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}}
  ],
  "tokens": [
    {"sha256": %q, "owner": "carol", "organizations": {"octo-org": "approved"}},
    {"sha256": %q, "owner": "dave", "organizations": {"octo-org": "pending"}}
  ]
}`, fp(approved), fp(pending))))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// facts is a fake lookup source: the host's answers by "owner/name",
// "repository-id/N" or "account/login", or an error. It counts calls.
type facts struct {
	res   map[string]target.Resource
	errs  map[string]error
	calls int
}

func (f *facts) key(t target.Target) string {
	switch {
	case t.IDKind == target.IDRepository:
		return fmt.Sprintf("repository-id/%d", t.ID)
	case t.IDKind == target.IDOrganization:
		return fmt.Sprintf("organization-id/%d", t.ID)
	case t.Scope == target.Repository:
		return strings.ToLower(t.Owner + "/" + t.Name)
	}
	return "account/" + strings.ToLower(t.Owner)
}

func (f *facts) Resource(_ context.Context, t target.Target) (target.Resource, bool, error) {
	f.calls++
	k := f.key(t)
	if err := f.errs[k]; err != nil {
		return target.Resource{}, false, err
	}
	if r, ok := f.res[k]; ok {
		return r, false, nil
	}
	return target.Resource{Known: true}, false, nil
}

func (f *facts) TokenFacts(context.Context, string, tokenclass.Fingerprint) (lookup.TokenFacts, bool, error) {
	f.calls++
	return lookup.TokenFacts{}, false, nil
}

func org(login, vis string) target.Resource {
	return target.Resource{Known: true, OwnerLogin: login, OwnerType: target.OwnerOrganization, Visibility: target.ParseVisibility(vis)}
}

func newFacts() *facts {
	return &facts{
		res: map[string]target.Resource{
			"octo-org/private":   org("octo-org", "private"),
			"octo-org/public":    org("octo-org", "public"),
			"audit-org/private":  org("audit-org", "private"),
			"open-org/private":   org("open-org", "private"),
			"repository-id/42":   org("octo-org", "private"),
			"repository-id/43":   org("open-org", "private"),
			"account/octo-org":   {Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic},
			"organization-id/10": {Known: true, OwnerLogin: "open-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic},
		},
		errs: map[string]error{
			"octo-org/broken":   fmt.Errorf("%w: GET /repos/octo-org/broken: unexpected status 502", lookup.ErrUnavailable),
			"octo-org/longname": fmt.Errorf("%w: GET /repos/octo-org/longname: status 414", lookup.ErrRefused),
		},
	}
}

func gql(doc string) string {
	return `{"query":` + fmt.Sprintf("%q", doc) + `}`
}

// TestCheck runs requests through the gate with a real policy and a fake
// host: no Caddy, no network.
func TestCheck(t *testing.T) {
	tests := []struct {
		name               string
		gate               func(*Gate)
		noFeed             bool
		method, path, body string
		token              string
		action             Action
		reason             enforce.Reason
		subject            string
		status             int  // for Reject
		waived             bool // a refusal forwarded by report mode
		lookup             string
		wantTarget         string // owner/name of the target that decided, if any
	}{
		{name: "no token passes untouched", method: "GET", path: "/api/v3/repos/octo-org/private", action: Pass},
		{name: "OAuth passes untouched", method: "GET", path: "/api/v3/repos/octo-org/private", token: oauth, action: Pass},
		{name: "classic refused on a private repository", method: "GET", path: "/api/v3/repos/octo-org/private", token: classic,
			action: Refuse, reason: enforce.ReasonClassicRestricted, subject: "octo-org", lookup: "miss"},
		{name: "classic reads a public repository", method: "GET", path: "/api/v3/repos/octo-org/public", token: classic,
			action: Forward, reason: enforce.ReasonPublicRead},
		{name: "approved fine-grained token", method: "POST", path: "/api/v3/repos/octo-org/private/issues", token: approved,
			action: Forward, reason: enforce.ReasonApproved},
		{name: "a path that cannot be checked", method: "GET", path: "/api/v3/repos/octo-org/private;x", token: classic, action: Reject, status: 400},
		{name: "a credential that cannot be read", method: "GET", path: "/api/v3/repos/octo-org/private", token: "ghp_a b", action: Reject, status: 400},

		// GraphQL documents name several targets: every one is decided.
		{name: "GraphQL: a restricted target among allowed ones", method: "POST", path: "/api/graphql", token: classic,
			body:   gql(`{ a: repository(owner: "open-org", name: "private") { id } b: repository(owner: "octo-org", name: "private") { id } }`),
			action: Refuse, reason: enforce.ReasonClassicRestricted, subject: "octo-org", wantTarget: "octo-org/private"},
		{name: "GraphQL: all allowed", method: "POST", path: "/api/graphql", token: classic,
			body:   gql(`{ a: repository(owner: "open-org", name: "private") { id } b: repository(owner: "octo-org", name: "public") { id } }`),
			action: Forward, reason: enforce.ReasonAllowed},
		{name: "GraphQL: the viewer names nothing", method: "POST", path: "/api/graphql", token: classic,
			body: gql(`{ viewer { login } }`), action: Forward, reason: enforce.ReasonUnscoped},
		{name: "GraphQL: ambiguous body", method: "POST", path: "/api/graphql", token: classic,
			body: `{"query":"{ viewer { login } }","Query":"{ a }"}`, action: Reject, status: 400},
		{name: "GraphQL: a class no policy restricts is not parsed", method: "POST", path: "/api/graphql", token: classic,
			gate: func(g *Gate) {
				g.Policy = func() *enforce.Policy {
					p, _ := policyfeed.Parse([]byte(`{"version": 1}`))
					return p
				}
			},
			body: `not even JSON`, action: Forward, reason: enforce.ReasonUnscoped},

		// Report mode, per organization: one organization's waiver must
		// not wave another's refusal through.
		{name: "report mode from the feed waives its organization", method: "GET", path: "/api/v3/repos/audit-org/private", token: classic,
			action: Forward, reason: enforce.ReasonClassicRestricted, subject: "audit-org", waived: true},
		{name: "report mode of one org does not waive another in the same document", method: "POST", path: "/api/graphql", token: classic,
			body:   gql(`{ a: repository(owner: "audit-org", name: "private") { id } b: repository(owner: "octo-org", name: "private") { id } }`),
			action: Refuse, reason: enforce.ReasonClassicRestricted, subject: "octo-org"},
		{name: "report mode from the config", method: "GET", path: "/api/v3/repos/octo-org/private", token: classic,
			gate:   func(g *Gate) { g.ReportOrgs = map[string]bool{"octo-org": true} },
			action: Forward, reason: enforce.ReasonClassicRestricted, waived: true},
		{name: "owner_mismatch is never waived", method: "GET", path: "/api/v3/orgs/open-org/actions/permissions/repositories/42", token: classic,
			gate:   func(g *Gate) { g.ReportOrgs = map[string]bool{"open-org": true, "octo-org": true} },
			action: Refuse, reason: enforce.ReasonOwnerMismatch},
		{name: "mode report waives everything", method: "GET", path: "/api/v3/repos/octo-org/private", token: classic,
			gate:   func(g *Gate) { g.Report = true },
			action: Forward, reason: enforce.ReasonClassicRestricted, waived: true},

		// Lookups: outages fail closed, or open with fail-open; a failure
		// the request provoked, or one beside a refusal, never opens.
		{name: "a lookup outage fails closed", method: "GET", path: "/api/v3/repos/octo-org/broken", token: classic,
			action: Refuse, reason: enforce.ReasonLookupFailed},
		{name: "a lookup outage under fail-open", method: "GET", path: "/api/v3/repos/octo-org/broken", token: classic,
			gate: func(g *Gate) { g.FailOpen = true }, action: Forward, reason: enforce.ReasonLookupFailed},
		{name: "fail-open: a refusal wins over an outage picked before it", method: "POST", path: "/api/graphql", token: classic,
			gate:   func(g *Gate) { g.FailOpen = true },
			body:   gql(`{ a: repository(owner: "octo-org", name: "broken") { id } b: repository(owner: "octo-org", name: "private") { id } }`),
			action: Refuse, reason: enforce.ReasonClassicRestricted, wantTarget: "octo-org/private"},
		{name: "fail-open: a lookup the host refuses is no outage", method: "GET", path: "/api/v3/repos/octo-org/longname", token: classic,
			gate: func(g *Gate) { g.FailOpen = true }, action: Refuse, reason: enforce.ReasonUndetermined},
		{name: "an id whose owner the lookup cannot see", method: "GET", path: "/api/v3/repositories/99", token: classic,
			action: Refuse, reason: enforce.ReasonUndetermined},

		// No feed yet: PAT requests to enterprise resources get 503.
		{name: "no feed yet", noFeed: true, method: "GET", path: "/api/v3/repos/octo-org/private", token: classic,
			action: Refuse, reason: enforce.ReasonNoFeed},

		// LFS batch bodies decide the access.
		{name: "LFS download of a public repository", method: "POST", path: "/octo-org/public.git/info/lfs/objects/batch", token: classic,
			body: `{"operation":"download","objects":[]}`, action: Forward, reason: enforce.ReasonPublicRead},
		{name: "LFS upload to a public repository", method: "POST", path: "/octo-org/public.git/info/lfs/objects/batch", token: classic,
			body: `{"operation":"upload","objects":[]}`, action: Refuse, reason: enforce.ReasonClassicRestricted},
		{name: "LFS batch that names two operations", method: "POST", path: "/octo-org/public.git/info/lfs/objects/batch", token: classic,
			body: `{"operation":"download","Operation":"upload"}`, action: Reject, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resolver, err := target.NewResolver("/api/v3")
			if err != nil {
				t.Fatal(err)
			}
			pol := feed(t)
			if tc.noFeed {
				pol = nil
			}
			f := newFacts()
			g := &Gate{Resolver: resolver, Facts: f, Policy: func() *enforce.Policy { return pol },
				GraphQLLimit: 1 << 20, LFSBatchLimit: 1 << 20}
			if tc.gate != nil {
				tc.gate(g)
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, "http://git.example.com"+tc.path, body)
			if tc.token != "" {
				r.Header.Set("Authorization", "token "+tc.token)
			}
			var rec Record
			g.Check(r, &rec)
			if rec.Action != tc.action {
				t.Fatalf("action %d, want %d (decision %+v, malformed %v)", rec.Action, tc.action, rec.Decision, rec.Malformed)
			}
			switch tc.action {
			case Pass:
				if f.calls != 0 {
					t.Error("a request that passes looked something up")
				}
				return
			case Reject:
				if rec.Status != tc.status || rec.Malformed == nil {
					t.Fatalf("status %d (%v), want %d", rec.Status, rec.Malformed, tc.status)
				}
				return
			}
			if rec.Decision.Reason != tc.reason {
				t.Errorf("reason %s, want %s (%+v)", rec.Decision.Reason, tc.reason, rec.Decision)
			}
			if tc.subject != "" && rec.Decision.Subject != tc.subject {
				t.Errorf("subject %q, want %q", rec.Decision.Subject, tc.subject)
			}
			if rec.Waived != tc.waived {
				t.Errorf("waived %v, want %v", rec.Waived, tc.waived)
			}
			if tc.lookup != "" && rec.Lookup != tc.lookup {
				t.Errorf("lookup %q, want %q", rec.Lookup, tc.lookup)
			}
			if tc.wantTarget != "" && rec.Target.Owner+"/"+rec.Target.Name != tc.wantTarget {
				t.Errorf("the record shows %s/%s, want %s", rec.Target.Owner, rec.Target.Name, tc.wantTarget)
			}
			if want := g.Policy(); rec.Policy == nil && want != nil || tc.gate == nil && rec.Policy != pol {
				t.Error("the record does not keep the policy that decided")
			}
			// Whatever was decided, the body is intact for the upstream,
			// unless its answer is checked (SPEC §11): then the document
			// gains the gateway's fields, and only the document changes.
			if tc.body != "" {
				got, _ := io.ReadAll(r.Body)
				if _, checked := rec.Answer.(*graphqlfilter.Filter); checked {
					reqs, err := graphql.ParseRequests("POST", "", got)
					if err != nil || len(reqs) != 1 || !strings.Contains(reqs[0].Query, graphqlfilter.Prefix) {
						t.Errorf("the rewritten body %q: %v", got, err)
					}
				} else if string(got) != tc.body {
					t.Errorf("the body the upstream gets is %q", got)
				}
			}
		})
	}
}

// TestExplainMatchesCheck: Decide, which explain calls, gives the same
// decision and action as Check for the same request.
func TestExplainMatchesCheck(t *testing.T) {
	resolver, err := target.NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	pol := feed(t)
	for _, path := range []string{"/api/v3/repos/octo-org/private", "/api/v3/repos/octo-org/public", "/api/v3/repos/octo-org/broken", "/api/v3/repos/audit-org/private"} {
		for _, failOpen := range []bool{false, true} {
			g := &Gate{Resolver: resolver, Facts: newFacts(), Policy: func() *enforce.Policy { return pol }, FailOpen: failOpen}
			r := httptest.NewRequest("GET", "http://git.example.com"+path, nil)
			r.Header.Set("Authorization", "token "+classic)
			var checked Record
			g.Check(r, &checked)
			tgt, err := resolver.Resolve(r)
			if err != nil {
				t.Fatal(err)
			}
			explained := Record{Policy: pol, Token: enforce.Token{Class: tokenclass.Classic, Fingerprint: tokenclass.FingerprintOf(classic)}}
			g.Decide(context.Background(), &explained, classic, tgt)
			if checked.Decision != explained.Decision || checked.Action != explained.Action || checked.Waived != explained.Waived {
				t.Errorf("%s (fail-open %v): check %+v/%d, explain %+v/%d", path, failOpen, checked.Decision, checked.Action, explained.Decision, explained.Action)
			}
		}
	}
}

// oneFact answers every lookup with one resource, from the cache, without
// allocating, so that the benchmark measures the gate alone.
type oneFact target.Resource

func (f oneFact) Resource(context.Context, target.Target) (target.Resource, bool, error) {
	return target.Resource(f), true, nil
}

func (f oneFact) TokenFacts(context.Context, string, tokenclass.Fingerprint) (lookup.TokenFacts, bool, error) {
	return lookup.TokenFacts{}, true, nil
}

// BenchmarkCheck: a cached allowed request through the gate allocates
// nothing.
func BenchmarkCheck(b *testing.B) {
	resolver, err := target.NewResolver("/api/v3")
	if err != nil {
		b.Fatal(err)
	}
	pol := feed(b)
	g := &Gate{Resolver: resolver, Facts: oneFact(org("open-org", "private")), Policy: func() *enforce.Policy { return pol }}
	r := httptest.NewRequest("GET", "http://git.example.com/api/v3/repos/open-org/private", nil)
	r.Header.Set("Authorization", "token "+classic)
	b.ReportAllocs()
	for b.Loop() {
		var rec Record
		g.Check(r, &rec)
		if rec.Action != Forward {
			b.Fatal(rec.Decision)
		}
	}
}

// answerCheck is an AnswerCheck that passes the answer through.
type answerCheck struct{}

func (answerCheck) Check(_ context.Context, _ int, _ http.Header, body io.Reader, out io.Writer) error {
	_, err := io.Copy(out, body)
	return err
}

// TestAnswers: the gate asks for an answer check only for the requests it
// forwards; refused, rejected and untouched requests have none.
func TestAnswers(t *testing.T) {
	resolver, err := target.NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	pol := feed(t)
	asked := 0
	g := &Gate{Resolver: resolver, Facts: newFacts(), Policy: func() *enforce.Policy { return pol },
		Answers: func(r *http.Request, rec Record) AnswerCheck {
			asked++
			if r.URL.Path == "/api/v3/user/repos" {
				return answerCheck{}
			}
			return nil
		}}
	for _, tc := range []struct {
		path, token string
		action      Action
		check       bool
	}{
		{"/api/v3/user/repos", classic, Forward, true},
		{"/api/v3/repos/octo-org/public", classic, Forward, false},
		{"/api/v3/repos/octo-org/private", classic, Refuse, false},
		{"/api/v3/repos/octo-org/private;x", classic, Reject, false},
		{"/api/v3/user/repos", oauth, Pass, false},
	} {
		before := asked
		r := httptest.NewRequest("GET", "http://git.example.com"+tc.path, nil)
		r.Header.Set("Authorization", "token "+tc.token)
		var rec Record
		g.Check(r, &rec)
		if rec.Action != tc.action || (rec.Answer != nil) != tc.check {
			t.Errorf("%s: action %d, check %v", tc.path, rec.Action, rec.Answer != nil)
		}
		if wantAsked := tc.action == Forward; (asked > before) != wantAsked {
			t.Errorf("%s: asked for an answer check: %v, want %v", tc.path, asked > before, wantAsked)
		}
	}
}

// TestListsAskForTheWholeAnswer: a restricted token's list request goes
// upstream without Range (a range of the list is its unfiltered bytes a
// piece at a time) and asking for an uncompressed answer; other requests
// keep their headers.
func TestListsAskForTheWholeAnswer(t *testing.T) {
	resolver, err := target.NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	pol := feed(t)
	g := &Gate{Resolver: resolver, Facts: newFacts(), Policy: func() *enforce.Policy { return pol }}
	g.Answers = g.Lists
	for _, tc := range []struct {
		path, token string
		filtered    bool
	}{
		{"/api/v3/user/repos", classic, true},
		// A POST the host may read as a GET: its answer is the list.
		{"/api/v3/user/repos?_method=GET", classic, true},
		{"/API/V3/Search/Repositories/", classic, true},
		// Resolution reads the uploads prefix as the API: so do the lists.
		{"/api/uploads/user/repos", classic, true},
		{"/api/v3/user/repos.json", classic, true},
		{"/api/v3/repos/octo-org/public", classic, false},
		{"/api/v3/user/repos", oauth, false},
	} {
		method := "GET"
		if strings.Contains(tc.path, "_method") {
			method = "POST"
		}
		r := httptest.NewRequest(method, "http://git.example.com"+tc.path, nil)
		r.Header.Set("Authorization", "token "+tc.token)
		r.Header.Set("Range", "bytes=0-99")
		r.Header.Set("Accept-Encoding", "gzip")
		var rec Record
		g.Check(r, &rec)
		if (rec.Answer != nil) != tc.filtered {
			t.Errorf("%s: filtered %v", tc.path, rec.Answer != nil)
		}
		if gotRange := r.Header.Get("Range") != ""; gotRange == tc.filtered {
			t.Errorf("%s: Range kept %v", tc.path, gotRange)
		}
		if enc := r.Header.Get("Accept-Encoding"); (enc == "identity") != tc.filtered {
			t.Errorf("%s: Accept-Encoding %q", tc.path, enc)
		}
	}
}
