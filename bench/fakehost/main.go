// Command fakehost serves internal/githost, the fake GitHub Enterprise Server
// of the tests, as a process for benchmark scripts: the lookup API, Git over
// HTTPS through git http-backend, and Git LFS.
//
//	fakehost -listen 127.0.0.1:9100 -root /tmp/git -service-token T \
//	    -repo octo-org/big:Organization:private -user TOKEN=login
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
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
	fmt.Fprintf(os.Stderr, "fakehost listening on %s\n", *listen)
	log.Fatal(http.ListenAndServe(*listen, h))
}
