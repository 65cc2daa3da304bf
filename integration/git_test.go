package integration

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitClient runs the real git (and git-lfs) as a user would, with a home of
// its own and a credential helper that answers with one token, the way a
// PAT stored in a credential manager is used.
type gitClient struct {
	t    *testing.T
	home string
	dir  string // a scratch directory for clones
}

func newGitClient(t *testing.T) *gitClient {
	t.Helper()
	needTool(t, "git")
	needTool(t, "git-lfs")
	c := &gitClient{t: t, home: t.TempDir(), dir: t.TempDir()}
	c.mustRun("", nil, "config", "--global", "user.name", "Test User")
	c.mustRun("", nil, "config", "--global", "user.email", "test@example.com")
	c.mustRun("", nil, "config", "--global", "init.defaultBranch", "main")
	c.mustRun("", nil, "lfs", "install", "--skip-repo")
	return c
}

// auth is how a command presents its token.
type auth struct {
	// user and token go through the credential helper; token alone with
	// user "" uses x-access-token, as GitHub documents.
	user, token string
	// header, when set, is sent with http.extraHeader instead.
	header string
}

func withToken(tok string) *auth { return &auth{user: "x-access-token", token: tok} }

func (c *gitClient) env(a *auth) []string {
	env := append(os.Environ(),
		"HOME="+c.home, "XDG_CONFIG_HOME="+c.home,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
		"GIT_LFS_SKIP_PUSH=0",
	)
	return env
}

func (c *gitClient) args(a *auth, args []string) []string {
	pre := []string{"-c", "credential.helper="}
	if a != nil && a.header != "" {
		pre = append(pre, "-c", "http.extraHeader="+a.header)
	} else if a != nil {
		helper := fmt.Sprintf("!f() { test \"$1\" = get && echo username=%s && echo password=%s; }; f", a.user, a.token)
		pre = append(pre, "-c", "credential.helper="+helper)
	}
	return append(pre, args...)
}

// run runs git in dir and returns its combined output.
func (c *gitClient) run(dir string, a *auth, args ...string) (string, error) {
	cmd := exec.Command("git", c.args(a, args)...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = c.dir
	}
	cmd.Env = c.env(a)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *gitClient) mustRun(dir string, a *auth, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, a, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// seed pushes an initial commit straight into a bare repository of the
// host, bypassing the gateway, as the repository's history before the test.
func (c *gitClient) seed(gitRoot, owner, repo string) {
	c.t.Helper()
	work := filepath.Join(c.dir, "seed-"+owner+"-"+repo)
	c.mustRun("", nil, "init", "--quiet", work)
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("# "+owner+"/"+repo+"\n"), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.mustRun(work, nil, "add", "README.md")
	c.mustRun(work, nil, "commit", "--quiet", "-m", "initial")
	c.mustRun(work, nil, "push", "--quiet", filepath.Join(gitRoot, owner, repo+".git"), "main")
}

func newGitGateway(t *testing.T) (*gateway, *testHost, *gitClient) {
	t.Helper()
	c := newGitClient(t) // first: skips before Caddy starts when git-lfs is missing
	g, host := newGateway(t, "")
	for _, r := range []string{"octo-org/private", "octo-org/public", "octo-org/internal", "open-org/private", "locked-org/private", "bob/private"} {
		owner, repo, _ := strings.Cut(r, "/")
		c.seed(host.GitRoot, owner, repo)
	}
	return g, host, c
}

func (g *gateway) repoURL(owner, repo string) string {
	return g.URL + "/" + owner + "/" + repo + ".git"
}

const (
	classicMsg  = "`octo-org` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."
	pendingMsg  = "`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token's request for approval is pending."
	noRecordMsg = "`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token has not requested approval."
	lockedFG    = "`locked-org` forbids access via a personal access token with fine-grained permissions. Please use a GitHub App, or an OAuth App."
)

// TestGitCloneAndPush runs git clone and push through the gateway with each
// token class under each policy, and checks git's exit status and what git
// printed: a refused user must read the organization and the rule.
func TestGitCloneAndPush(t *testing.T) {
	g, host, c := newGitGateway(t)
	cases := []struct {
		name        string
		repo        string
		auth        *auth
		clone, push bool   // whether each must succeed
		msg         string // what git must print when refused
	}{
		{"approved fine-grained, private repository", "octo-org/private", withToken(tokApproved), true, true, ""},
		{"approved fine-grained, internal repository", "octo-org/internal", withToken(tokApproved), true, true, ""},
		{"org owner's fine-grained token", "octo-org/private", withToken(tokOwner), true, true, ""},
		{"org owner learned from the host", "octo-org/internal", withToken(tokOwnerFromHost), true, true, ""},
		{"pending fine-grained, private repository", "octo-org/private", withToken(tokPending), false, false, pendingMsg},
		{"fine-grained without record, internal repository", "octo-org/internal", withToken(tokNoRecord), false, false, noRecordMsg},
		// The heart of the approval policy: an unapproved token still reads
		// a public repository, but its push is refused at ref discovery,
		// where git prints the reason.
		{"pending fine-grained, public repository", "octo-org/public", withToken(tokPending), true, false, pendingMsg},
		{"classic, private repository of a restricting org", "octo-org/private", withToken(tokClassic), false, false, classicMsg},
		{"classic, public repository of a restricting org", "octo-org/public", withToken(tokClassic), true, false, classicMsg},
		{"classic, org that allows classic PATs", "open-org/private", withToken(tokClassic), true, true, ""},
		{"fine-grained, org that allows without approval", "open-org/private", withToken(tokPending), true, true, ""},
		{"approved fine-grained, org that restricts fine-grained PATs", "locked-org/private", withToken(tokApproved), false, false, lockedFG},
		{"classic, user-owned repository", "bob/private", withToken(tokClassic), true, true, ""},
		{"oauth token is not governed", "octo-org/private", withToken(tokOAuth), true, true, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			owner, repo, _ := strings.Cut(tc.repo, "/")
			dst := filepath.Join(c.dir, fmt.Sprintf("clone-%d", i))
			out, err := c.run("", tc.auth, "clone", g.repoURL(owner, repo), dst)
			if tc.clone != (err == nil) {
				t.Fatalf("clone: err=%v, want success=%v\n%s", err, tc.clone, out)
			}
			if !tc.clone {
				assertRefusal(t, out, tc.msg)
				// ls-remote is refused the same way.
				out, err := c.run("", tc.auth, "ls-remote", g.repoURL(owner, repo))
				if err == nil {
					t.Fatalf("ls-remote succeeded:\n%s", out)
				}
				assertRefusal(t, out, tc.msg)
				return
			}
			if b, err := os.ReadFile(filepath.Join(dst, "README.md")); err != nil || !strings.Contains(string(b), tc.repo) {
				t.Fatalf("clone has no README: %v", err)
			}
			c.mustRun(dst, tc.auth, "fetch", "--quiet", "origin")
			if err := os.WriteFile(filepath.Join(dst, fmt.Sprintf("change-%d.txt", i)), []byte(tc.name), 0o644); err != nil {
				t.Fatal(err)
			}
			c.mustRun(dst, nil, "add", ".")
			c.mustRun(dst, nil, "commit", "--quiet", "-m", tc.name)
			out, err = c.run(dst, tc.auth, "push", "origin", "main")
			if tc.push != (err == nil) {
				t.Fatalf("push: err=%v, want success=%v\n%s", err, tc.push, out)
			}
			head := strings.TrimSpace(c.mustRun(dst, nil, "rev-parse", "HEAD"))
			remote := strings.TrimSpace(c.mustRun(filepath.Join(host.GitRoot, owner, repo+".git"), nil, "rev-parse", "main"))
			if tc.push {
				if remote != head {
					t.Fatalf("push reported success but the host has %s, not %s", remote, head)
				}
				return
			}
			if remote == head {
				t.Fatal("a refused push reached the host")
			}
			assertRefusal(t, out, tc.msg)
		})
	}
}

// assertRefusal checks that git showed the gateway's message as "remote:"
// lines and exited because of a 403.
func assertRefusal(t *testing.T, out, msg string) {
	t.Helper()
	if !strings.Contains(out, "remote: "+msg) {
		t.Errorf("git did not print the refusal as remote: lines; want %q in\n%s", msg, out)
	}
	if !strings.Contains(out, "403") {
		t.Errorf("git did not report the 403:\n%s", out)
	}
}

// TestGitCredentialForms sends the same tokens the ways git users send
// them; the gateway must see the token in each form, so an allowed token
// clones and a restricted one is refused with the message.
func TestGitCredentialForms(t *testing.T) {
	g, _, c := newGitGateway(t)
	basicHeader := func(user, pass string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	forms := []struct {
		name string
		auth func(tok string) *auth
	}{
		{"x-access-token:TOKEN", func(tok string) *auth { return &auth{user: "x-access-token", token: tok} }},
		{"USER:TOKEN", func(tok string) *auth { return &auth{user: "carol", token: tok} }},
		{"TOKEN:x-oauth-basic", func(tok string) *auth { return &auth{user: tok, token: "x-oauth-basic"} }},
		{"TOKEN: (empty password)", func(tok string) *auth { return &auth{header: basicHeader(tok, "")} }},
		{"http.extraHeader Bearer", func(tok string) *auth { return &auth{header: "Authorization: Bearer " + tok} }},
		{"http.extraHeader token", func(tok string) *auth { return &auth{header: "Authorization: token " + tok} }},
	}
	for i, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			out, err := c.run("", f.auth(tokApproved), "clone", "--quiet", g.repoURL("octo-org", "private"), filepath.Join(c.dir, fmt.Sprintf("ok-%d", i)))
			if err != nil {
				t.Fatalf("approved token refused: %v\n%s", err, out)
			}
			out, err = c.run("", f.auth(tokClassic), "ls-remote", g.repoURL("octo-org", "private"))
			if err == nil {
				t.Fatalf("classic token let through:\n%s", out)
			}
			assertRefusal(t, out, classicMsg)
		})
	}
	t.Run("anonymous clone of a public repository", func(t *testing.T) {
		c.mustRun("", nil, "clone", "--quiet", g.repoURL("octo-org", "public"), filepath.Join(c.dir, "anon"))
	})
	t.Run("anonymous access to a private repository gets the host's challenge", func(t *testing.T) {
		// The gateway lets anonymous requests through untouched, so git
		// sees the host's 401 and would ask for credentials.
		out, err := c.run("", nil, "ls-remote", g.repoURL("octo-org", "private"))
		if err == nil || strings.Contains(out, "403") || !strings.Contains(out, "could not read Username") {
			t.Fatalf("want the 401 challenge (git asks for a username), got err=%v\n%s", err, out)
		}
	})
}

// TestGitEnterprisePolicy: an enterprise-level restriction reaches git users
// of every organization, including one that allows the class itself.
func TestGitEnterprisePolicy(t *testing.T) {
	g, _, c := newGitGateway(t)
	c.mustRun("", withToken(tokClassic), "ls-remote", g.repoURL("open-org", "private"))
	writeFeed(t, g.Dir, feedV2())
	eventually(t, 10*time.Second, func() string {
		if out, err := c.run("", withToken(tokClassic), "ls-remote", g.repoURL("open-org", "private")); err == nil {
			return "feed v2 not in force: " + out
		}
		return ""
	})
	out, err := c.run("", withToken(tokClassic), "clone", g.repoURL("open-org", "private"), filepath.Join(c.dir, "x"))
	if err == nil {
		t.Fatal("clone succeeded under an enterprise classic restriction")
	}
	assertRefusal(t, out, "`open-org` forbids access via a personal access token (classic).")
	c.mustRun("", withToken(tokClassic), "clone", "--quiet", g.repoURL("bob", "private"), filepath.Join(c.dir, "y"))
}

// TestGitLargePush: git sends a push over 1 MiB chunked; it must pass the
// gateway and reach the host intact (and a refused one must not).
func TestGitLargePush(t *testing.T) {
	g, host, c := newGitGateway(t)
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{{"approved", tokApproved, true}, {"pending", tokPending, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(c.dir, "large-"+tc.name)
			c.mustRun("", withToken(tokApproved), "clone", "--quiet", g.repoURL("octo-org", "private"), dst)
			blob := make([]byte, 3<<20)
			if _, err := rand.Read(blob); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, "large.bin"), blob, 0o644); err != nil {
				t.Fatal(err)
			}
			c.mustRun(dst, nil, "add", "large.bin")
			c.mustRun(dst, nil, "commit", "--quiet", "-m", "large")
			out, err := c.run(dst, withToken(tc.tok), "push", "origin", "main")
			if tc.ok != (err == nil) {
				t.Fatalf("push: err=%v, want success=%v\n%s", err, tc.ok, out)
			}
			head := strings.TrimSpace(c.mustRun(dst, nil, "rev-parse", "HEAD"))
			remote := strings.TrimSpace(c.mustRun(filepath.Join(host.GitRoot, "octo-org", "private.git"), nil, "rev-parse", "main"))
			if tc.ok != (remote == head) {
				t.Fatalf("host has %s, pushed %s, want equal=%v", remote, head, tc.ok)
			}
			if !tc.ok {
				assertRefusal(t, out, pendingMsg)
				return
			}
			// The blob arrived byte for byte.
			got := c.mustRun(filepath.Join(host.GitRoot, "octo-org", "private.git"), nil, "cat-file", "-s", "main:large.bin")
			if strings.TrimSpace(got) != fmt.Sprint(len(blob)) {
				t.Fatalf("host has large.bin of %s bytes", got)
			}
		})
	}
}
