package target

import (
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestResolveGitAndWeb(t *testing.T) {
	r, err := NewResolver("/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	repo := func(s Surface, a Access) Target {
		return Target{Scope: Repository, Surface: s, Access: a, Owner: "octo-org", Name: "r", AnonReadable: a == Read}
	}
	unscoped := func(a Access) Target { return Target{Scope: Unscoped, Surface: Git, Access: a} }
	batch := repo(LFS, Write)
	batch.BodyDecides = true
	tests := []struct {
		name, method, url string
		want              Target
	}{
		{"ref discovery without .git", "GET", "/octo-org/r/info/refs?service=git-upload-pack", repo(Git, Read)},
		{"ref discovery for push", "GET", "/octo-org/r.git/info/refs?service=git-receive-pack", repo(Git, Write)},
		{"dumb ref discovery", "GET", "/octo-org/r.git/info/refs", repo(Git, Read)},
		{"upload-pack reads", "POST", "/octo-org/r.git/git-upload-pack", repo(Git, Read)},
		{"receive-pack writes", "POST", "/octo-org/r.git/git-receive-pack", repo(Git, Write)},
		{"receive-pack GET still writes", "GET", "/octo-org/r.git/git-receive-pack", repo(Git, Write)},
		{"lfs batch: the body decides", "POST", "/octo-org/r.git/info/lfs/objects/batch", batch},
		{"lfs object download", "GET", "/octo-org/r.git/info/lfs/objects/" + "ab12", repo(LFS, Read)},
		{"lfs object upload", "PUT", "/octo-org/r.git/info/lfs/objects/" + "ab12", repo(LFS, Write)},
		{"lfs locks list is a write", "GET", "/octo-org/r.git/info/lfs/locks", repo(LFS, Write)},
		{"lfs locks verify", "POST", "/octo-org/r.git/info/lfs/locks/verify", repo(LFS, Write)},
		{"raw file", "GET", "/octo-org/r/raw/main/a/b.txt", repo(Web, Read)},
		{"raw host path", "GET", "/raw/octo-org/r/main/a.txt", repo(Web, Read)},
		{"archive", "GET", "/octo-org/r/archive/refs/heads/main.zip", repo(Web, Read)},
		{"release asset", "GET", "/octo-org/r/releases/download/v1/app.tgz", repo(Web, Read)},
		// Nothing under a repository is unscoped (SPEC §3).
		{"release page", "GET", "/octo-org/r/releases/tag/v1", repo(Git, Read)},
		{"web UI page", "GET", "/octo-org/r/pulls", repo(Git, Read)},
		{"dumb HTTP pack list", "GET", "/octo-org/r.git/objects/info/packs", repo(Git, Read)},
		{"dumb HTTP pack", "GET", "/octo-org/r.git/objects/pack/pack-1234.pack", repo(Git, Read)},
		{"dumb HTTP HEAD", "GET", "/octo-org/r.git/HEAD", repo(Git, Read)},
		{"dumb HTTP alternates", "HEAD", "/octo-org/r.git/objects/info/alternates", repo(Git, Read)},
		{"unknown path written to", "PUT", "/octo-org/r.git/objects/ab/cdef", repo(Git, Write)},
		{"OPTIONS is not a read here", "OPTIONS", "/octo-org/r.git/objects/info/packs", repo(Git, Write)},
		{"raw. host: a file without /raw/", "GET", "/octo-org/r/main/README.md", repo(Git, Read)},
		{"codeload. host: an archive", "GET", "/octo-org/r/zip/refs/heads/main", repo(Git, Read)},
		{"the repository itself", "GET", "/octo-org/r", repo(Git, Read)},
		{"the repository with .git", "GET", "/octo-org/r.git", repo(Git, Read)},
		{"INFO/refs in capitals", "GET", "/octo-org/r.GIT/INFO/refs?service=git-receive-pack", repo(Git, Write)},
		{"Git-Receive-Pack in other case", "POST", "/octo-org/r/Git-Receive-Pack", repo(Git, Write)},
		{"an account page", "GET", "/octo-org", unscoped(Read)},
		{"reserved: settings", "GET", "/settings/tokens/info/refs", unscoped(Read)},
		{"reserved: login", "POST", "/login/oauth/access_token", unscoped(Write)},
		{"reserved in other case", "GET", "/Organizations/x/info/refs", unscoped(Read)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(httptest.NewRequest(tc.method, tc.url, nil))
			if err != nil {
				t.Fatal(err)
			}
			got.Operation = nil
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("no git on an api.github.com-style host", func(t *testing.T) {
		dotcom, _ := NewResolver("")
		got, err := dotcom.Resolve(httptest.NewRequest("GET", "/octo-org/r/info/refs", nil))
		if err != nil || got.Scope != Unscoped {
			t.Errorf("got %+v %v", got, err)
		}
	})
}

func TestLFSBatchAccess(t *testing.T) {
	tests := []struct {
		name, body string
		want       Access
		ok         bool
	}{
		{"download", `{"operation":"download","objects":[{"oid":"a","size":1}]}`, Read, true},
		{"upload", `{"operation":"upload","objects":[]}`, Write, true},
		{"operation last", `{"objects":[{"oid":"a"}],"transfers":["basic"],"operation":"download"}`, Read, true},
		{"whitespace", " \n{ \"operation\" : \"download\" }\n", Read, true},
		{"twice", `{"operation":"download","operation":"upload"}`, Write, false},
		{"other case", `{"operation":"download","OPERATION":"upload"}`, Write, false},
		{"missing", `{"objects":[]}`, Write, false},
		{"unknown", `{"operation":"verify"}`, Write, false},
		{"not a string", `{"operation":1}`, Write, false},
		{"array", `[{"operation":"download"}]`, Write, false},
		{"empty", ``, Write, false},
		{"truncated", `{"operation":"download"`, Write, false},
		{"trailing object", `{"operation":"download"}{"operation":"upload"}`, Write, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LFSBatchAccess([]byte(tc.body))
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("got %v %v, want %v ok=%v", got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadLFSBatch) {
				t.Errorf("error %v does not wrap ErrBadLFSBatch", err)
			}
		})
	}
}

// TestREADMEListsReserved keeps the documented list of reserved paths the
// same as the code's. The list lives in docs/targets.md; the README must
// link to the page that holds it, so the test reads the README and every
// docs page it links to.
func TestREADMEListsReserved(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{string(readme)}
	for _, link := range readmeDocLink.FindAllStringSubmatch(string(readme), -1) {
		page, err := os.ReadFile("../docs/" + link[1])
		if err != nil {
			t.Fatalf("README links to docs/%s: %v", link[1], err)
		}
		docs = append(docs, string(page))
	}
	text := strings.Join(strings.Fields(strings.Join(docs, " ")), " ")
	for _, name := range Reserved() {
		if !strings.Contains(text, "`"+name+"`") {
			t.Errorf("neither the README nor a docs page it links to lists the reserved path %q", name)
		}
	}
}

// readmeDocLink matches the README's links to docs pages.
var readmeDocLink = regexp.MustCompile(`\]\(docs/([a-z0-9-]+\.md)(?:#[^)]*)?\)`)
