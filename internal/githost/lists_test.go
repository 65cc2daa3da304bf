package githost

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The repositories of the integration tests.
var listRepos = []struct{ owner, name, typ, vis string }{
	{"octo-org", "private", "Organization", "private"},
	{"octo-org", "public", "Organization", "public"},
	{"octo-org", "internal", "Organization", "internal"},
	{"open-org", "private", "Organization", "private"},
	{"locked-org", "private", "Organization", "private"},
	{"bob", "private", "User", "private"},
}

var sortedNames = []string{
	"bob/private", "locked-org/private", "octo-org/internal", "octo-org/private", "octo-org/public", "open-org/private",
}

var sortedOrgs = []string{"locked-org", "octo-org", "open-org"}

func newListHost(t testing.TB) (*Host, *httptest.Server) {
	t.Helper()
	h := New("svc", "")
	for _, r := range listRepos {
		if err := h.AddRepo(r.owner, r.name, r.typ, r.vis); err != nil {
			t.Fatal(err)
		}
	}
	h.AddAccount("alice", "User")
	h.SetUser("alice-token", "alice")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// get asks for path with a user's token and the given Accept-Encoding
// ("" leaves Go's transport to ask for gzip and decode it).
func get(t testing.TB, srv *httptest.Server, method, path, acceptEncoding string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token alice-token")
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

type routeCase struct {
	path      string
	container string // "", "items" or "repositories"
	perOrg    bool
}

var routeCases = []routeCase{
	{"/user/repos", "", false},
	{"/user/starred", "", false},
	{"/user/subscriptions", "", false},
	{"/users/alice/repos", "", false},
	{"/users/alice/starred", "", false},
	{"/users/alice/subscriptions", "", false},
	{"/repositories", "", false},
	{"/search/repositories", "items", false},
	{"/user/installations/77/repositories", "repositories", false},
	{"/issues", "", false},
	{"/user/issues", "", false},
	{"/notifications", "", false},
	{"/search/code", "items", false},
	{"/search/commits", "items", false},
	{"/search/issues", "items", false},
	{"/user/orgs", "", true},
	{"/users/alice/orgs", "", true},
	{"/user/memberships/orgs", "", true},
	{"/user/teams", "", true},
	{"/users/alice/events", "", false},
	{"/users/alice/received_events", "", false},
	{"/users/alice/events/public", "", false},
	{"/events", "", false},
}

// elements parses an answer and returns its elements, checking the
// envelope.
func elements(t testing.TB, c routeCase, body []byte) []json.RawMessage {
	t.Helper()
	var els []json.RawMessage
	if c.container == "" {
		if err := json.Unmarshal(body, &els); err != nil {
			t.Fatalf("%s: %v: %.200s", c.path, err, body)
		}
		return els
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s: %v: %.200s", c.path, err, body)
	}
	if err := json.Unmarshal(env[c.container], &els); err != nil || els == nil {
		t.Fatalf("%s: %q is not an array: %v", c.path, c.container, err)
	}
	var total int
	if err := json.Unmarshal(env["total_count"], &total); err != nil || total != len(els) {
		t.Errorf("%s: total_count %s, %d elements", c.path, env["total_count"], len(els))
	}
	if c.container == "items" && string(env["incomplete_results"]) != "false" {
		t.Errorf("%s: incomplete_results %s", c.path, env["incomplete_results"])
	}
	return els
}

type owner struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type repoObj struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	FullName   string  `json:"full_name"`
	Private    *bool   `json:"private"`
	Visibility *string `json:"visibility"`
	Owner      owner   `json:"owner"`
	URL        string  `json:"url"`
}

// elementNames returns what an element names: its repository's full name
// (or organization login), and checks the owner fields SPEC §10 reads.
func elementName(t *testing.T, c routeCase, host string, raw json.RawMessage) string {
	t.Helper()
	vis := map[string]string{}
	typ := map[string]string{}
	for _, r := range listRepos {
		vis[r.owner+"/"+r.name] = r.vis
		typ[r.owner] = r.typ
	}
	checkRepo := func(r *repoObj, minimal bool) string {
		t.Helper()
		if r == nil {
			t.Fatalf("%s: no repository in %.200s", c.path, raw)
		}
		want, ok := vis[r.FullName]
		if !ok {
			t.Fatalf("%s: unknown repository %q", c.path, r.FullName)
		}
		if r.Owner.Login+"/"+r.Name != r.FullName || r.Owner.Type != typ[r.Owner.Login] || r.ID == 0 {
			t.Errorf("%s: repository %+v", c.path, r)
		}
		if r.Private == nil || *r.Private != (want != "public") {
			t.Errorf("%s: %s private %v", c.path, r.FullName, r.Private)
		}
		if minimal && r.Visibility != nil {
			t.Errorf("%s: minimal repository %s has visibility", c.path, r.FullName)
		}
		if !minimal && (r.Visibility == nil || *r.Visibility != want) {
			t.Errorf("%s: %s visibility %v, want %s", c.path, r.FullName, r.Visibility, want)
		}
		if r.URL != "https://"+host+"/api/v3/repos/"+r.FullName {
			t.Errorf("%s: url %q", c.path, r.URL)
		}
		return r.FullName
	}
	var el struct {
		Repository    *repoObj `json:"repository"`
		RepositoryURL string   `json:"repository_url"`
		Organization  *owner   `json:"organization"`
		Repo          *struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"repo"`
		Org    *owner `json:"org"`
		Public *bool  `json:"public"`
		Login  string `json:"login"`
	}
	if err := json.Unmarshal(raw, &el); err != nil {
		t.Fatalf("%s: %v", c.path, err)
	}
	switch p := strings.TrimPrefix(c.path, "/"); {
	case strings.HasSuffix(p, "repos") || strings.HasSuffix(p, "starred") || strings.HasSuffix(p, "subscriptions") ||
		strings.HasSuffix(p, "repositories"):
		var r repoObj
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		return checkRepo(&r, false)
	case p == "issues" || p == "user/issues":
		name := checkRepo(el.Repository, false)
		if el.RepositoryURL != el.Repository.URL {
			t.Errorf("%s: repository_url %q", c.path, el.RepositoryURL)
		}
		return name
	case p == "notifications" || p == "search/code" || p == "search/commits":
		return checkRepo(el.Repository, true)
	case p == "search/issues":
		if el.Repository != nil {
			t.Errorf("%s: a repository object", c.path)
		}
		name, ok := strings.CutPrefix(el.RepositoryURL, "https://"+host+"/api/v3/repos/")
		if _, known := vis[name]; !ok || !known {
			t.Errorf("%s: repository_url %q", c.path, el.RepositoryURL)
		}
		return name
	case strings.HasSuffix(p, "orgs") && !strings.Contains(p, "memberships"):
		if el.Login == "" || typ[el.Login] != "Organization" {
			t.Errorf("%s: organization %q", c.path, el.Login)
		}
		return el.Login
	case p == "user/memberships/orgs" || p == "user/teams":
		if el.Organization == nil || typ[el.Organization.Login] != "Organization" {
			t.Fatalf("%s: organization %+v", c.path, el.Organization)
		}
		return el.Organization.Login
	case strings.Contains(p, "events"):
		if el.Repo == nil || el.Public == nil {
			t.Fatalf("%s: %.200s", c.path, raw)
		}
		o, _, _ := strings.Cut(el.Repo.Name, "/")
		if (typ[o] == "Organization") != (el.Org != nil) || el.Org != nil && el.Org.Login != o {
			t.Errorf("%s: %s with org %+v", c.path, el.Repo.Name, el.Org)
		}
		if *el.Public != (vis[el.Repo.Name] == "public") {
			t.Errorf("%s: %s public %v", c.path, el.Repo.Name, *el.Public)
		}
		return el.Repo.Name
	}
	t.Fatalf("no check for %s", c.path)
	return ""
}

func TestListRoutes(t *testing.T) {
	h, srv := newListHost(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range routeCases {
		before := h.Count()
		resp, body := get(t, srv, "GET", "/api/v3"+c.path+"?per_page=30&q=x", "identity")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", c.path, resp.StatusCode)
		}
		for k, want := range map[string]string{
			"Content-Type":   "application/json; charset=utf-8",
			"Content-Length": strconv.Itoa(len(body)),
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", c.path, k, got, want)
			}
		}
		for _, k := range []string{"X-GitHub-Request-Id", "ETag", "Last-Modified"} {
			if resp.Header.Get(k) == "" {
				t.Errorf("%s: no %s", c.path, k)
			}
		}
		if l := resp.Header.Get("Link"); !strings.Contains(l, `rel="next"`) || !strings.Contains(l, "/api/v3"+c.path+"?page=2") {
			t.Errorf("%s: Link %q", c.path, l)
		}
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: encoded", c.path)
		}
		var names []string
		for _, el := range elements(t, c, body) {
			names = append(names, elementName(t, c, host, el))
		}
		want := sortedNames
		if c.perOrg {
			want = sortedOrgs
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: elements %v, want %v", c.path, names, want)
		}
		if last, n := h.Last(); n != before+1 || last.Path != "/api/v3"+c.path || last.AuthSHA != SHA("token alice-token") {
			t.Errorf("%s: recorded %+v (%d)", c.path, last, n)
		}
	}
}

func TestListRoutesOnlyThose(t *testing.T) {
	h, srv := newListHost(t)
	for _, p := range []string{
		"/api/v3/repos/octo-org/private/issues", "/api/v3/users/alice", "/api/v3/repositories/1001",
		"/api/v3/user/repos/x", "/api/v3/users//repos", "/api/v3/orgs/octo-org/repos", "/user/repos",
	} {
		resp, body := get(t, srv, "GET", p, "identity")
		if string(body) != "upstream: GET "+p {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	// Writes are not list answers.
	req, _ := http.NewRequest("POST", srv.URL+"/api/v3/user/repos", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "token alice-token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "upstream: POST /api/v3/user/repos" {
		t.Errorf("POST: %q", body)
	}
	// The service token's requests are lookups.
	req, _ = http.NewRequest("GET", srv.URL+"/api/v3/user/repos", nil)
	req.Header.Set("Authorization", "token svc")
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || h.Lookups() != 1 {
		t.Errorf("lookup: %d, %d lookups", resp.StatusCode, h.Lookups())
	}
	// HEAD: the headers only.
	resp, body = get(t, srv, "HEAD", "/api/v3/user/repos", "identity")
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("ETag") == "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestListFollowsTables(t *testing.T) {
	h, srv := newListHost(t)
	_, before := get(t, srv, "GET", "/api/v3/user/repos", "identity")
	h.SetVisibility("octo-org/private", "public")
	if err := h.AddRepo("zeta-org", "new", "Organization", "internal"); err != nil {
		t.Fatal(err)
	}
	h.AddRepoEntry("zeta-org", "entry", "Organization", "private")
	_, after := get(t, srv, "GET", "/api/v3/user/repos", "identity")
	var els []repoObj
	if err := json.Unmarshal(after, &els); err != nil || len(els) != 8 || bytes.Equal(before, after) {
		t.Fatalf("%d elements, %v", len(els), err)
	}
	for _, e := range els {
		if e.FullName == "octo-org/private" && (*e.Visibility != "public" || *e.Private) {
			t.Errorf("visibility not followed: %+v", e)
		}
	}
	if want := append(slices.Clone(sortedNames), "zeta-org/entry", "zeta-org/new"); !slices.Equal(h.RepoNames(), want) {
		t.Errorf("RepoNames %v", h.RepoNames())
	}
	_, orgs := get(t, srv, "GET", "/api/v3/user/orgs", "identity")
	if !strings.Contains(string(orgs), `"login":"zeta-org"`) {
		t.Errorf("orgs: %s", orgs)
	}
}

func TestListGzip(t *testing.T) {
	h, srv := newListHost(t)
	c := routeCase{path: "/search/repositories", container: "items"}
	for _, tc := range []struct {
		mode   ListGzip
		accept string
		gz     bool
	}{
		{ListGzipOff, "gzip", false},
		{ListGzipWhenAsked, "gzip", true},
		{ListGzipWhenAsked, "br, gzip;q=0.5", true},
		{ListGzipWhenAsked, "*", true},
		{ListGzipWhenAsked, "identity", false},
		{ListGzipWhenAsked, "gzip;q=0, identity", false},
		{ListGzipAlways, "identity", true},
		{ListGzipAlways, "gzip", true},
	} {
		h.SetListGzip(tc.mode)
		resp, body := get(t, srv, "GET", "/api/v3"+c.path, tc.accept)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gz {
			t.Errorf("mode %d, %q: gzip %v", tc.mode, tc.accept, got)
			continue
		}
		if tc.gz {
			if resp.Header.Get("Content-Length") != "" && resp.ContentLength != int64(len(body)) {
				t.Errorf("mode %d: Content-Length %d for %d bytes", tc.mode, resp.ContentLength, len(body))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if els := elements(t, c, body); len(els) != len(sortedNames) {
			t.Errorf("mode %d: %d elements", tc.mode, len(els))
		}
	}
	// Go's transport asks for gzip itself and decodes the answer.
	h.SetListGzip(ListGzipWhenAsked)
	resp, body := get(t, srv, "GET", "/api/v3/user/repos", "")
	if !resp.Uncompressed || !json.Valid(body) {
		t.Errorf("transparent gzip: uncompressed %v, valid %v", resp.Uncompressed, json.Valid(body))
	}
}

func TestListTruncated(t *testing.T) {
	h, srv := newListHost(t)
	h.SetListTruncated(true)
	for _, c := range routeCases {
		for _, mode := range []ListGzip{ListGzipOff, ListGzipAlways} {
			h.SetListGzip(mode)
			resp, body := get(t, srv, "GET", "/api/v3"+c.path, "identity")
			if mode == ListGzipAlways {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("%s: the gzip stream itself is whole: %v", c.path, err)
				}
			} else if resp.ContentLength != int64(len(body)) {
				t.Errorf("%s: Content-Length %d for %d bytes", c.path, resp.ContentLength, len(body))
			}
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: %d %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if json.Valid(body) || len(body) < 100 {
				t.Errorf("%s: %d bytes, valid %v", c.path, len(body), json.Valid(body))
			}
		}
	}
	// And whole again.
	h.SetListTruncated(false)
	h.SetListGzip(ListGzipOff)
	if _, body := get(t, srv, "GET", "/api/v3/user/repos", "identity"); !json.Valid(body) {
		t.Error("not whole again")
	}
}

func TestListPadding(t *testing.T) {
	h, srv := newListHost(t)
	sizes := func(c routeCase) []int {
		_, body := get(t, srv, "GET", "/api/v3"+c.path, "identity")
		var out []int
		for _, el := range elements(t, c, body) {
			out = append(out, len(el))
		}
		return out
	}
	const pad = 5000
	for _, c := range routeCases {
		h.SetListPadding(0)
		plain := sizes(c)
		h.SetListPadding(pad)
		padded := sizes(c)
		if len(plain) != len(padded) {
			t.Fatalf("%s: %d and %d elements", c.path, len(plain), len(padded))
		}
		for i := range plain {
			if padded[i]-plain[i] != pad {
				t.Errorf("%s: element %d grew by %d, want %d", c.path, i, padded[i]-plain[i], pad)
			}
		}
	}
	// A full repository object of GitHub's size.
	h.SetListPadding(0)
	if s := sizes(routeCases[0]); s[0] < 4000 {
		t.Errorf("a repository object is only %d bytes", s[0])
	}
	// Elements larger than 8 MiB.
	h.SetListPadding(9 << 20)
	h.SetListCount(2)
	resp, body := get(t, srv, "GET", "/api/v3/user/repos", "identity")
	var els []repoObj
	if err := json.Unmarshal(body, &els); err != nil || len(els) != 2 || len(body) < 18<<20 || resp.ContentLength != int64(len(body)) {
		t.Errorf("huge elements: %d bytes, %d elements, %v", len(body), len(els), err)
	}
}

// sampler counts what is read and samples the heap every few MiB.
type sampler struct {
	n, next  int64
	baseline uint64
	peak     uint64
}

func (s *sampler) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.n >= s.next {
		s.next = s.n + 2<<20
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.peak = max(s.peak, ms.HeapInuse)
	}
	return len(p), nil
}

func TestListCountStreams(t *testing.T) {
	h, srv := newListHost(t)
	h.SetListPadding(5000)
	// Elements of about 9.5 KB: 5,500 of them are more than 50 MB.
	const count = 5500
	h.SetListCount(count)
	for _, mode := range []ListGzip{ListGzipOff, ListGzipAlways} {
		h.SetListGzip(mode)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := &sampler{baseline: ms.HeapInuse}
		req, _ := http.NewRequest("GET", srv.URL+"/api/v3/issues", nil)
		req.Header.Set("Authorization", "token alice-token")
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = resp.Body
		if mode == ListGzipAlways {
			if r, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		// Decode element by element while counting and sampling.
		dec := json.NewDecoder(io.TeeReader(r, s))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			t.Fatalf("first token %v, %v", tok, err)
		}
		n := 0
		for dec.More() {
			var el struct {
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
			}
			if err := dec.Decode(&el); err != nil {
				t.Fatalf("element %d: %v", n, err)
			}
			if want := sortedNames[n%len(sortedNames)]; el.Repository.FullName != want {
				t.Fatalf("element %d names %q, want %q", n, el.Repository.FullName, want)
			}
			n++
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			t.Fatalf("last token %v, %v", tok, err)
		}
		resp.Body.Close()
		if n != count || s.n < 50e6 {
			t.Errorf("%d elements, %d bytes", n, s.n)
		}
		if mode == ListGzipOff && resp.ContentLength != s.n {
			t.Errorf("Content-Length %d, read %d", resp.ContentLength, s.n)
		}
		if grew := int64(s.peak) - int64(s.baseline); grew > 16<<20 {
			t.Errorf("heap in use grew by %d MiB while streaming %d MB", grew>>20, s.n/1e6)
		}
		t.Logf("gzip %v: %d MB, heap in use grew at most %d KiB", mode == ListGzipAlways, s.n/1e6, (int64(s.peak)-int64(s.baseline))>>10)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"deflate, GZIP"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.0, *"}, false},
		{[]string{"br", "gzip;q=0.1"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"identity, *"}, true},
		{[]string{"identity"}, false},
	} {
		if got := acceptsGzip(tc.values); got != tc.want {
			t.Errorf("%q: %v", tc.values, got)
		}
	}
}

func TestListRoute(t *testing.T) {
	for p, want := range map[string]bool{
		"/user/repos": true, "/users/x/repos": true, "/users/x/events/public": true,
		"/user/installations/1/repositories": true, "/users/x/received_events": true,
		"/user/repos/": false, "/users/x/repos/y": false, "/users/x/events/orgs": false,
		"/user/installations//repositories": false, "/orgs/x/repos": false, "/search/labels": false,
	} {
		if _, got := listRoute(p); got != want {
			t.Errorf("%s: %v", p, got)
		}
	}
}
