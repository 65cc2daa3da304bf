// Command fakehost serves internal/githost, the fake GitHub Enterprise Server
// of the tests, as a process for benchmark scripts: the lookup API, Git over
// HTTPS through git http-backend, Git LFS, and the list routes of SPEC §10
// (/api/v3/user/repos, search, /issues, …) answered from its table.
//
//	fakehost -listen 127.0.0.1:9100 -root /tmp/git -service-token T \
//	    -repo octo-org/big:Organization:private -user TOKEN=login
//
// For a load benchmark of a restricted token's /api/v3/user/repos page, the
// table is filled up to -list-repos repositories (30, GitHub's default page)
// with a mix of octo-org private, internal and public, open-org and bob
// repositories (table entries only, no Git repositories), and every list
// answer holds that many elements of about -list-element-size bytes (5 KB, a
// real repository object's size).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/patgate/patgate/internal/githost"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:9100", "address to listen on")
	root := flag.String("root", "", "directory of bare repositories {owner}/{repo}.git")
	service := flag.String("service-token", "", "lookup credential (read from the environment variable FAKEHOST_SERVICE_TOKEN when empty)")
	var repos, users list
	flag.Var(&repos, "repo", "owner/name:OwnerType:visibility (repeatable)")
	flag.Var(&users, "user", "TOKEN=login answered by GET /user (repeatable)")
	listRepos := flag.Int("list-repos", 30, "fill the table up to this many repositories for the list routes, and answer that many elements (0: the table as given)")
	elementSize := flag.Int("list-element-size", 5120, "approximate size in bytes of a repository object in list answers (0: unpadded)")
	flag.Parse()
	if *service == "" {
		*service = os.Getenv("FAKEHOST_SERVICE_TOKEN")
	}
	h := githost.New(*service, *root)
	h.Quiet = true
	for _, r := range repos {
		parts := strings.Split(r, ":")
		owner, name, ok := strings.Cut(parts[0], "/")
		if len(parts) != 3 || !ok {
			log.Fatalf("-repo %q: want owner/name:OwnerType:visibility", r)
		}
		if err := h.AddRepo(owner, name, parts[1], parts[2]); err != nil {
			log.Fatal(err)
		}
	}
	for _, u := range users {
		tok, login, ok := strings.Cut(u, "=")
		if !ok {
			log.Fatalf("-user: want TOKEN=login")
		}
		h.SetUser(tok, login)
	}
	if *listRepos > 0 {
		fillListTable(h, *listRepos)
		h.SetListCount(*listRepos)
		if *elementSize > 0 {
			h.SetListPadding(*elementSize - elementSizeOf(h, *listen, *listRepos))
		}
	}
	fmt.Fprintf(os.Stderr, "fakehost listening on %s\n", *listen)
	log.Fatal(http.ListenAndServe(*listen, h))
}

// benchMix is what the filled table cycles through: owners and visibilities
// a restricted token's page mixes.
var benchMix = []struct{ owner, typ, vis string }{
	{"octo-org", "Organization", "private"},
	{"octo-org", "Organization", "internal"},
	{"octo-org", "Organization", "public"},
	{"open-org", "Organization", "private"},
	{"bob", "User", "private"},
}

// fillListTable adds table entries until the host knows n repositories.
func fillListTable(h *githost.Host, n int) {
	have := map[string]bool{}
	for _, name := range h.RepoNames() {
		have[name] = true
	}
	for i := 0; len(have) < n; i++ {
		m := benchMix[i%len(benchMix)]
		name := fmt.Sprintf("bench-%02d", i+1)
		if have[m.owner+"/"+name] {
			continue
		}
		h.AddRepoEntry(m.owner, name, m.typ, m.vis)
		have[m.owner+"/"+name] = true
	}
}

// elementSizeOf measures the average unpadded repository object of a
// /api/v3/user/repos page of n elements, as the host answers it for host.
func elementSizeOf(h *githost.Host, host string, n int) int {
	h.SetListPadding(0)
	req := httptest.NewRequest("GET", "/api/v3/user/repos", nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	// "[" + n elements separated by "," + "]".
	return (rec.Body.Len() - 2 - (n - 1)) / n
}
