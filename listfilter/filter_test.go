package listfilter

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/internal/heappeak"
	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// policy: octo-org restricts classic PATs; open-org allows them.
func policy(t testing.TB) *enforce.Policy {
	t.Helper()
	p, err := policyfeed.Parse([]byte(`{"version": 3, "organizations": [
		{"login": "octo-org", "classic": {"access": "restrict"}},
		{"login": "open-org", "classic": {"access": "allow"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// host answers lookups for elements that do not carry their facts.
var host = map[string]target.Resource{
	"octo-org/private": {Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate},
	"octo-org/public":  {Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic},
	"open-org/private": {Known: true, OwnerLogin: "open-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate},
	"bob/private":      {Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPrivate},
}

// decider decides with enforce for a classic PAT, looking up in host what
// an element does not carry; it counts lookups. broken names a
// repository whose lookup fails.
func decider(t testing.TB, lookups *atomic.Int64, broken string) Decider {
	pol := policy(t)
	tok := enforce.Token{Class: tokenclass.Classic}
	return func(_ context.Context, tg target.Target, res target.Resource) Verdict {
		for range 3 {
			d := enforce.Decide(pol, tok, tg, res)
			if d.Outcome != enforce.NeedResource {
				return Verdict{Keep: d.Outcome == enforce.Allow, Reason: d.Reason}
			}
			lookups.Add(1)
			key := strings.ToLower(tg.Owner + "/" + tg.Name)
			if tg.Scope != target.Repository {
				key = strings.ToLower(tg.Owner)
			}
			if key == broken {
				return Verdict{Reason: enforce.ReasonLookupFailed}
			}
			var ok bool
			if res, ok = host[key]; !ok {
				res = target.Resource{Known: true, OwnerLogin: tg.Owner, OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}
			}
		}
		t.Fatal("the decision did not settle")
		return Verdict{}
	}
}

func repo(full, typ, vis string) string {
	owner, name, _ := strings.Cut(full, "/")
	v := ""
	if vis != "" {
		v = fmt.Sprintf(`,"visibility":%q,"private":%v`, vis, vis != "public")
	}
	return fmt.Sprintf(`{"id":1,"name":%q,"full_name":%q,"owner":{"login":%q,"type":%q}%s,"description":"d"}`, name, full, owner, typ, v)
}

// the mixed list: restricted private and internal, restricted public, an
// open organization's private, a user's private.
var mixed = []string{
	repo("octo-org/private", "Organization", "private"),
	repo("octo-org/public", "Organization", "public"),
	repo("octo-org/internal", "Organization", "internal"),
	repo("open-org/private", "Organization", "private"),
	repo("bob/private", "User", "private"),
}

func list(els ...string) string { return "[" + strings.Join(els, ",") + "]" }

// pretty is an element as indented JSON.
func pretty(el string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(el), "    ", "  "); err != nil {
		panic(err)
	}
	return b.String()
}

func header(extra ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Etag": {`"e"`},
		"Last-Modified": {"Tue, 01 Dec 2026 10:00:00 GMT"}, "Link": {`<…?page=2>; rel="next"`}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

func deflate(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name    string
		route   string
		status  int
		header  http.Header
		body    string
		want    string // exact body, or "" to skip
		removed int
		owners  string // X-PAT-Policy value, "" when nothing was removed
		lookups int64
		err     error
	}{
		{name: "user repos: restricted private and internal removed", route: "/user/repos", body: list(mixed...),
			want:    list(mixed[1], mixed[3], mixed[4]),
			removed: 2, owners: "partial-results; organizations=octo-org"},
		{name: "nothing removed: the upstream's validators stay", route: "/user/repos", body: list(mixed[1], mixed[4]),
			want: list(mixed[1], mixed[4])},
		{name: "search: total_count kept, incomplete_results set", route: "/search/repositories",
			body:    `{"total_count":5,"incomplete_results":false,"items":` + list(mixed...) + `}`,
			want:    `{"total_count":5,"items":` + list(mixed[1], mixed[3], mixed[4]) + `,"incomplete_results":true}`,
			removed: 2, owners: "partial-results; organizations=octo-org"},
		{name: "search that loses nothing", route: "/search/repositories",
			body: `{"total_count":1,"incomplete_results":false,"items":` + list(mixed[4]) + `}`,
			want: `{"total_count":1,"items":` + list(mixed[4]) + `,"incomplete_results":false}`},
		{name: "installation repositories", route: "/user/installations/7/repositories",
			body: `{"total_count":2,"repositories":` + list(mixed[0], mixed[3]) + `}`,
			want: `{"total_count":2,"repositories":` + list(mixed[3]) + `}`, removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "elements without visibility are looked up", route: "/user/repos",
			body: list(repo("octo-org/private", "Organization", ""), repo("octo-org/public", "Organization", "")),
			want: list(repo("octo-org/public", "Organization", "")), removed: 1, owners: "partial-results; organizations=octo-org", lookups: 2},
		{name: "issues: the repository object", route: "/issues",
			body: list(`{"id":1,"repository":`+mixed[0]+`}`, `{"id":2,"repository":`+mixed[3]+`}`),
			want: list(`{"id":2,"repository":` + mixed[3] + `}`), removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "notifications: minimal repository objects (private, no visibility)", route: "/notifications",
			body: list(`{"id":"1","repository":{"full_name":"octo-org/internal","private":true,"owner":{"login":"octo-org","type":"Organization"}}}`,
				`{"id":"2","repository":{"full_name":"octo-org/public","private":false,"owner":{"login":"octo-org","type":"Organization"}}}`),
			want:    list(`{"id":"2","repository":{"full_name":"octo-org/public","private":false,"owner":{"login":"octo-org","type":"Organization"}}}`),
			removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "search issues: repository_url, looked up", route: "/search/issues",
			body:    `{"total_count":2,"incomplete_results":false,"items":[{"id":1,"repository_url":"https://git.example.com/api/v3/repos/octo-org/private"},{"id":2,"repository_url":"https://git.example.com/api/v3/repos/bob/private"}]}`,
			want:    `{"total_count":2,"items":[{"id":2,"repository_url":"https://git.example.com/api/v3/repos/bob/private"}],"incomplete_results":true}`,
			removed: 1, owners: "partial-results; organizations=octo-org", lookups: 2},
		{name: "orgs: organization data, never public", route: "/user/orgs",
			body: list(`{"login":"octo-org"}`, `{"login":"open-org"}`), want: list(`{"login":"open-org"}`),
			removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "memberships: organization.login", route: "/user/memberships/orgs",
			body: list(`{"state":"active","organization":{"login":"Octo-Org"}}`, `{"state":"active","organization":{"login":"open-org"}}`),
			want: list(`{"state":"active","organization":{"login":"open-org"}}`), removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "events: repository and organization", route: "/users/bob/events",
			body: list(`{"id":"1","repo":{"name":"octo-org/public"},"org":{"login":"octo-org"}}`, `{"id":"2","repo":{"name":"bob/private"}}`,
				`{"id":"3","repo":{"name":"open-org/private"},"org":{"login":"open-org"}}`),
			want:    list(`{"id":"2","repo":{"name":"bob/private"}}`, `{"id":"3","repo":{"name":"open-org/private"},"org":{"login":"open-org"}}`),
			removed: 1, owners: "partial-results; organizations=octo-org", lookups: 3},
		{name: "events: an org named twice makes the event unreadable", route: "/users/bob/events",
			body: list(`{"id":"1","repo":{"name":"open-org/private"},"org":{"login":"open-org"},"org":{"login":"octo-org"}}`, `{"id":"2","repo":{"name":"bob/private"}}`),
			want: list(`{"id":"2","repo":{"name":"bob/private"}}`), removed: 1, owners: "partial-results; organizations=", lookups: 1},
		{name: "an element that names nothing is removed", route: "/issues", body: list(`{"id":1}`), want: list(), removed: 1,
			owners: "partial-results; organizations="},
		{name: "gzip", route: "/user/repos", header: header("Content-Encoding", "gzip"), body: gz(list(mixed...)),
			want: list(mixed[1], mixed[3], mixed[4]), removed: 2, owners: "partial-results; organizations=octo-org"},
		{name: "deflate", route: "/user/repos", header: header("Content-Encoding", "deflate"), body: deflate(list(mixed...)),
			want: list(mixed[1], mixed[3], mixed[4]), removed: 2, owners: "partial-results; organizations=octo-org"},
		{name: "a 304 passes untouched", route: "/user/repos", status: 304, body: "", want: ""},
		{name: "an error answer passes untouched", route: "/user/repos", status: 404, body: `{"message":"Not Found"}`, want: `{"message":"Not Found"}`},
		{name: "a range of the list is refused", route: "/user/repos", status: 206, body: list(mixed...)[:200], err: ErrNotJSON},
		{name: "a redirect passes untouched", route: "/user/repos", status: 301, body: "", want: ""},
		{name: "truncated JSON", route: "/user/repos", body: list(mixed...)[:100], err: ErrNotJSON},
		{name: "not JSON", route: "/user/repos", header: header("Content-Type", "text/html"), body: "<html>", err: ErrNotJSON},
		{name: "an object where a list belongs", route: "/user/repos", body: `{"message":"hi"}`, err: ErrNotJSON},
		{name: "data after the JSON", route: "/user/repos", body: list(mixed[4]) + list(mixed[0]), err: ErrNotJSON},
		{name: "an encoding the gateway cannot read", route: "/user/repos", header: header("Content-Encoding", "br"), body: "x", err: ErrEncoding},
		{name: "an element over 8 MiB", route: "/user/repos", body: list(`{"full_name":"bob/x","description":"` + strings.Repeat("a", MaxElement) + `"}`), err: ErrElementTooBig},
		{name: "whitespace, escaped quotes and brackets in strings", route: "/search/repositories",
			body: " {\n \"total_count\" : 2 ,\"incomplete_results\" :false, \"items\" : [ " + mixed[0] + " ,\n" +
				`{"description":"\\\"]}[{,\\","full_name":"bob/x","owner":{"login":"bob","type":"User"},"private":true}` + " ] } \n",
			want:    `{"total_count":2,"items":[{"description":"\\\"]}[{,\\","full_name":"bob/x","owner":{"login":"bob","type":"User"},"private":true}],"incomplete_results":true}`,
			removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "white space inside elements, no escapes: the upstream's bytes", route: "/search/repositories",
			body:    "{\n  \"total_count\": 2,\n  \"items\": [\n    " + pretty(mixed[0]) + ",\n\t" + pretty(mixed[4]) + "\n  ],\n  \"incomplete_results\": false\n}\n",
			want:    `{"total_count":2,"items":[` + pretty(mixed[4]) + `],"incomplete_results":true}`,
			removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "white space inside the elements of a list", route: "/user/repos",
			body: "\n[ " + pretty(mixed[4]) + " ,\r\n" + pretty(mixed[0]) + "\t,\n" + pretty(mixed[3]) + " ]\n",
			want: list(pretty(mixed[4]), pretty(mixed[3])), removed: 1, owners: "partial-results; organizations=octo-org"},
		{name: "a number ends at the object's end", route: "/search/repositories",
			body: `{"items":` + list(mixed[4]) + `,"total_count":1}`, want: `{"items":` + list(mixed[4]) + `,"total_count":1}`},
		{name: "elements without a comma", route: "/user/repos", body: "[" + mixed[4] + mixed[4] + "]", err: ErrNotJSON},
		{name: "a trailing comma", route: "/user/repos", body: "[" + mixed[4] + ",]", err: ErrNotJSON},
		{name: "an unterminated string", route: "/user/repos", body: `[{"full_name":"bob/x}]`, err: ErrNotJSON},
		{name: "a broken element", route: "/user/repos", body: `[{"full_name":"bob/x",}]`, err: ErrNotJSON},
		{name: "a member without a colon", route: "/search/repositories", body: `{"total_count" 1,"items":[]}`, err: ErrNotJSON},
		{name: "a bare word", route: "/search/repositories", body: `{"total_count":tru,"items":[]}`, err: ErrNotJSON},
		{name: "an empty answer", route: "/user/repos", body: ``, err: ErrNotJSON},
		{name: "an unclosed list", route: "/user/repos", body: "[" + mixed[4], err: ErrNotJSON},
	}
	for _, tc := range tests {
		// Every answer is read whole, a byte at a time (an element split
		// across reads, inside a string, an escape, a number, is read the
		// same), and where it lies in memory (Held).
		for _, mode := range []string{"reads", "one-byte-reads", "held"} {
			if mode == "one-byte-reads" && len(tc.body) > 1<<20 {
				continue
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				route := Match("GET", tc.route)
				if route == nil {
					t.Fatalf("no route for %s", tc.route)
				}
				var lookups atomic.Int64
				f := &Filter{Route: route, Decide: decider(t, &lookups, "")}
				h := tc.header.Clone()
				if h == nil {
					h = header()
				}
				status := tc.status
				if status == 0 {
					status = 200
				}
				var out bytes.Buffer
				var body io.Reader = strings.NewReader(tc.body)
				switch mode {
				case "one-byte-reads":
					body = iotest.OneByteReader(body)
				case "held":
					body = heldBody{strings.NewReader(tc.body), []byte(tc.body)}
				}
				err := f.Check(context.Background(), status, h, body, &out)
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("error %v, want %v", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if tc.want != "" && out.String() != tc.want {
					t.Fatalf("body\n%s\nwant\n%s", out.String(), tc.want)
				}
				if status != 200 {
					if h.Get("ETag") == "" {
						t.Error("an answer that passes lost its ETag")
					}
					return
				}
				if !json.Valid(out.Bytes()) {
					t.Fatalf("the filtered answer is not JSON: %s", out.String())
				}
				if n, _ := f.Removed(); n != tc.removed {
					t.Errorf("removed %d, want %d", n, tc.removed)
				}
				if got := h.Get("X-PAT-Policy"); got != tc.owners {
					t.Errorf("X-PAT-Policy %q, want %q", got, tc.owners)
				}
				if tc.removed > 0 && (h.Get("ETag") != "" || h.Get("Last-Modified") != "") {
					t.Error("validators kept on a filtered answer")
				}
				if tc.removed == 0 && h.Get("ETag") == "" {
					t.Error("validators dropped although nothing was removed")
				}
				if h.Get("Link") == "" {
					t.Error("the Link header was dropped")
				}
				if h.Get("Content-Encoding") != "" || h.Get("Content-Length") != fmt.Sprint(out.Len()) {
					t.Errorf("Content-Encoding %q, Content-Length %q for %d bytes", h.Get("Content-Encoding"), h.Get("Content-Length"), out.Len())
				}
				if lookups.Load() != tc.lookups {
					t.Errorf("%d lookups, want %d", lookups.Load(), tc.lookups)
				}
			})
		}
	}
}

// TestFilterLookupFails: an element whose lookup fails is removed (the
// decider says so under fail-closed), and counted under its reason.
func TestFilterLookupFails(t *testing.T) {
	var lookups atomic.Int64
	f := &Filter{Route: Match("GET", "/user/repos"), Decide: decider(t, &lookups, "octo-org/broken")}
	var out bytes.Buffer
	body := list(repo("octo-org/broken", "Organization", ""), mixed[4])
	if err := f.Check(context.Background(), 200, header(), strings.NewReader(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != list(mixed[4]) || f.RemovedBy()[enforce.ReasonLookupFailed] != 1 {
		t.Fatalf("got %s, removed by reason %v", out.String(), f.RemovedBy())
	}
}

func TestMatch(t *testing.T) {
	for path, want := range map[string]string{
		"/user/repos": "/user/repos", "/user/repos/": "/user/repos", "/USER/Repos": "/user/repos",
		"/users/bob/events/public": "/users/{username}/events/public", "/users/bob/events": "/users/{username}/events",
		"/user/installations/12/repositories": "/user/installations/{installation_id}/repositories",
		"/repos/o/r":                          "", "/users/bob": "", "/user": "", "/users//repos": "",
	} {
		r := Match("GET", path)
		if got := ""; r != nil {
			got = r.Pattern
			if got != want {
				t.Errorf("%s: %s, want %s", path, got, want)
			}
		} else if want != "" {
			t.Errorf("%s: no route, want %s", path, want)
		}
	}
	if Match("POST", "/user/repos") != nil || Match("HEAD", "/user/repos") != nil {
		t.Error("only GET answers carry lists to check")
	}
}

// bigList streams n copies of the mixed list as one answer.
func bigList(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("["))
		for i := range n {
			for j, el := range mixed {
				if i > 0 || j > 0 {
					pw.Write([]byte(","))
				}
				pw.Write([]byte(el))
			}
		}
		pw.Write([]byte("]"))
		pw.Close()
	}()
	return pr
}

// TestFilterMemory: a 50 MB answer is filtered holding one element at a
// time and spooling what stays past 1 MiB to a file: the heap grows by a
// few megabytes, not by the answer.
func TestFilterMemory(t *testing.T) {
	n := 50 << 20 / len(strings.Join(mixed, ","))
	var lookups atomic.Int64
	f := &Filter{Route: Match("GET", "/user/repos"), Decide: decider(t, &lookups, "")}
	counter := &countingWriter{}
	var err error
	use := heappeak.Measure(func() { err = f.Check(context.Background(), 200, header(), bigList(n), counter) })
	if err != nil {
		t.Fatal(err)
	}
	if removed, _ := f.Removed(); removed != 2*n {
		t.Fatalf("removed %d of %d", removed, 5*n)
	}
	t.Logf("%d elements, %d MB out, heap peak +%.1f MB", 5*n, counter.n>>20, float64(use.Peak)/(1<<20))
	if use.Peak > 24<<20 {
		t.Fatalf("the heap grew by %d MB filtering a 50 MB answer", use.Peak>>20)
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// page is a /user/repos page of n GitHub-sized repositories (about 5 KB
// each), mixing owners.
func page(n int) []byte {
	pad := strings.Repeat("x", 4800)
	els := make([]string, n)
	for i := range els {
		el := mixed[i%len(mixed)]
		els[i] = strings.Replace(el, `"description":"d"`, `"description":"`+pad+`"`, 1)
	}
	return []byte(list(els...))
}

// BenchmarkFilter compares the filter with encoding/json decoding the
// same answer into any, in the same run.
func BenchmarkFilter(b *testing.B) {
	// A page of 30 repositories as the fake host renders them: GitHub's
	// members, URLs and nesting, about 5 KB each.
	github, err := os.ReadFile("testdata/user-repos-30.json")
	if err != nil {
		b.Fatal(err)
	}
	search := func(n int) []byte {
		return []byte(`{"total_count":` + fmt.Sprint(n) + `,"incomplete_results":false,"items":` + string(page(n)) + `}`)
	}
	for _, tc := range []struct {
		name  string
		route string
		body  []byte
	}{
		{"user-repos-30-github", "/user/repos", github},
		{"user-repos-100", "/user/repos", page(100)},
		{"search-5MB", "/search/repositories", search(1000)},
	} {
		route := Match("GET", tc.route)
		// "filter" streams the answer; "filter-held" is how the handler
		// gives it an answer of up to 1 MiB: held whole.
		for _, held := range []bool{false, true} {
			name := tc.name + "/filter"
			if held {
				name += "-held"
			}
			b.Run(name, func(b *testing.B) {
				var lookups atomic.Int64
				dec := decider(b, &lookups, "")
				b.ReportAllocs()
				b.SetBytes(int64(len(tc.body)))
				for b.Loop() {
					var body io.Reader
					if held {
						body = heldBody{bytes.NewReader(tc.body), tc.body}
					} else {
						body = bytes.NewReader(tc.body)
					}
					f := &Filter{Route: route, Decide: dec}
					if err := f.Check(context.Background(), 200, header("Content-Length", fmt.Sprint(len(tc.body))), body, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(tc.name+"/encoding-json-any", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				var v any
				if err := json.Unmarshal(tc.body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLookupsInParallel: the elements of one page that need a lookup are
// decided at the same time, and the answer keeps its order. The decider
// lets no lookup finish until four are waiting at once.
func TestLookupsInParallel(t *testing.T) {
	var waiting sync.WaitGroup
	waiting.Add(4)
	all := make(chan struct{})
	go func() { waiting.Wait(); close(all) }()
	var lookups atomic.Int64
	inner := decider(t, &lookups, "")
	dec := func(ctx context.Context, tg target.Target, res target.Resource) Verdict {
		waiting.Done()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Error("lookups ran one after another")
		}
		return inner(ctx, tg, res)
	}
	item := func(o string) string { return `{"repository_url":"https://h/api/v3/repos/` + o + `"}` }
	body := `{"total_count":4,"incomplete_results":false,"items":[` + item("a/1") + "," + item("octo-org/private") + "," + item("b/2") + "," + item("c/3") + `]}`
	f := &Filter{Route: Match("GET", "/search/issues"), Decide: dec}
	var out bytes.Buffer
	if err := f.Check(context.Background(), 200, header(), strings.NewReader(body), &out); err != nil {
		t.Fatal(err)
	}
	want := `{"total_count":4,"items":[` + item("a/1") + "," + item("b/2") + "," + item("c/3") + `],"incomplete_results":true}`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// TestAnswerBounds: a host (or something posing as one) answers a list
// with more than the gateway will check: an answer so long that spooling
// it would fill the disk, or a page of thousands of repositories, each of
// which would cost a lookup. Past the size bound the answer is 502; past
// the lookup bound the elements that would need one are removed, as
// anything that cannot be checked is.
func TestAnswerBounds(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		var lookups atomic.Int64
		f := &Filter{Route: Match("GET", "/user/repos"), Decide: decider(t, &lookups, ""), MaxAnswer: 10 << 10}
		err := f.Check(context.Background(), 200, header(), bigList(100), io.Discard)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
	})
	t.Run("lookups", func(t *testing.T) {
		els := make([]string, 50)
		for i := range els {
			els[i] = repo(fmt.Sprintf("org%d/r", i), "Organization", "") // no visibility: a lookup each
		}
		var lookups atomic.Int64
		f := &Filter{Route: Match("GET", "/user/repos"), Decide: decider(t, &lookups, ""), MaxLookups: 10}
		var out bytes.Buffer
		if err := f.Check(context.Background(), 200, header(), strings.NewReader(list(els...)), &out); err != nil {
			t.Fatal(err)
		}
		if lookups.Load() != 10 {
			t.Errorf("%d lookups, want the bound, 10", lookups.Load())
		}
		if n, _ := f.Removed(); n != 40 || f.RemovedBy()[enforce.ReasonUndetermined] != 40 {
			t.Errorf("removed %d (%v), want the 40 past the bound", n, f.RemovedBy())
		}
	})
}

// TestErrorsQuoteNothing: an answer that cannot be checked is answered
// 502 with the error's text; the text says where the answer broke, never
// what it held, for what it held may be what the token must not read.
func TestErrorsQuoteNothing(t *testing.T) {
	secret := `{"full_name":"octo-org/merger-plans","description":"acquire initech","private":true,"x":`
	for _, body := range []string{
		"[" + secret + "tru}]",
		`[{"x":tru,"full_name":"octo-org/merger-plans","description":"acquire initech"}]`,
		"[" + secret + `"unterminated`,
		"[" + secret + "1}{" + secret + "2}]",
		`{"items":[],"total_count":1,"acquire initech":` + "nul}",
		"[" + secret + "1}] acquire initech",
	} {
		for _, route := range []string{"/user/repos", "/search/repositories"} {
			var lookups atomic.Int64
			f := &Filter{Route: Match("GET", route), Decide: decider(t, &lookups, "")}
			err := f.Check(context.Background(), 200, header(), strings.NewReader(body), io.Discard)
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("%s: error %v, want ErrNotJSON", body, err)
			}
			if msg := err.Error(); strings.Contains(msg, "initech") || strings.Contains(msg, "merger") {
				t.Errorf("the error quotes the answer: %s", msg)
			}
		}
	}
}

// heldBody is an answer the handler holds whole (Held).
type heldBody struct {
	io.Reader
	b []byte
}

func (h heldBody) Held() []byte { return h.b }
