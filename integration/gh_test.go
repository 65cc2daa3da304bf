package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGhCLI runs the real gh CLI (Debian's) through the gateway over HTTPS
// (Caddy's tls internal, trusted through SSL_CERT_FILE): gh repo view, gh
// pr list and gh api graphql work for an allowed token and are refused
// with a readable message for a restricted one.
func TestGhCLI(t *testing.T) {
	needTool(t, "gh")
	host := newGitHost(t)
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	home := t.TempDir()
	g := startCaddy(t, dir, home, func(port, admin int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
	log {
		level DEBUG
	}
}

https://localhost:%d {
	bind 127.0.0.1
	tls internal
	pat_policy {
		feed %s/policy.json
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
	}
	reverse_proxy %s
}
`, admin, port, dir, host.URL, host.hostPort())
	})
	root := filepath.Join(home, "caddy", "pki", "authorities", "local", "root.crt")
	eventually(t, 10*time.Second, func() string {
		if _, err := os.Stat(root); err != nil {
			return "Caddy's local root certificate did not appear: " + err.Error()
		}
		return ""
	})
	ghHost := fmt.Sprintf("localhost:%d", g.port)
	gh := func(token string, args ...string) (string, error) {
		cmd := exec.Command("gh", args...)
		cmd.Env = append(os.Environ(),
			"GH_HOST="+ghHost, "GH_ENTERPRISE_TOKEN="+token, "GH_CONFIG_DIR="+t.TempDir(),
			"SSL_CERT_FILE="+root, "GH_PROMPT_DISABLED=1", "GH_NO_UPDATE_NOTIFIER=1", "NO_COLOR=1",
			"GH_TOKEN=", "GITHUB_TOKEN=", "GH_ENTERPRISE_TOKEN_FILE=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const classicMsg = "`octo-org` forbids access via a personal access token (classic)"
	cases := []struct {
		name    string
		token   string
		args    []string
		ok      bool
		want    string
		notWant []string // nothing restricted may appear anywhere in the output
	}{
		{"repo view, approved token", tokApproved, []string{"repo", "view", ghHost + "/octo-org/private", "--json", "name,description"}, true, `"name":"private"`, nil},
		{"repo view, classic token", tokClassic, []string{"repo", "view", ghHost + "/octo-org/private", "--json", "name,description"}, false, classicMsg, nil},
		{"repo view, classic token, public repository", tokClassic, []string{"repo", "view", ghHost + "/octo-org/public", "--json", "name"}, true, `"name":"public"`, nil},
		{"pr list, approved token", tokApproved, []string{"pr", "list", "-R", ghHost + "/octo-org/private"}, true, "", nil},
		{"pr list, pending token", tokPending, []string{"pr", "list", "-R", ghHost + "/octo-org/private"}, false, "This token's request for approval is pending", nil},
		{"api graphql, approved token", tokApproved, []string{"api", "graphql", "-f", `query=query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { name } }`, "-f", "owner=octo-org", "-f", "name=private"}, true, `"name":"private"`, nil},
		// Lists of several owners show a restricted token only what it may
		// read on its own (SPEC §10).
		{"api /user/repos, classic token", tokClassic, []string{"api", "/user/repos", "--jq", ".[].full_name"}, true, "octo-org/public\nopen-org/private",
			[]string{"octo-org/private", "octo-org/internal", "locked-org/private"}},
		{"search repos, classic token", tokClassic, []string{"search", "repos", "org:octo-org", "--json", "fullName"}, true, `"fullName":"octo-org/public"`,
			[]string{"octo-org/private", "octo-org/internal", "locked-org/private"}},
		{"search issues, classic token", tokClassic, []string{"search", "issues", "bug", "--json", "repository"}, true, `"nameWithOwner":"open-org/private"`,
			[]string{"octo-org/private", "octo-org/internal", "locked-org/private"}},
		{"api /user/repos, approved token", tokApproved, []string{"api", "/user/repos", "--jq", ".[].full_name"}, true, "octo-org/internal\nocto-org/private",
			[]string{"locked-org/private"}},
		{"api graphql, classic token", tokClassic, []string{"api", "graphql", "-f", `query=query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { name } }`, "-f", "owner=octo-org", "-f", "name=private"}, false, classicMsg, nil},
	}
	// GraphQL answers: objects the token may not read come back null
	// with FORBIDDEN errors, which gh prints (SPEC §11).
	host.SetUser(tokClassic, "carol")
	for _, org := range []string{"octo-org", "open-org", "locked-org"} {
		host.AddMember(org, "carol")
	}
	if err := host.AddRepo("carol", "fork", "User", "public"); err != nil {
		t.Fatal(err)
	}
	host.SetParent("carol/fork", "octo-org/private")
	restricted := []string{"octo-org/private", "octo-org/internal", "locked-org/private", `"login":"octo-org"`, `"login":"locked-org"`}
	cases = append(cases, []struct {
		name    string
		token   string
		args    []string
		ok      bool
		want    string
		notWant []string
	}{
		{"repo list, classic token", tokClassic, []string{"repo", "list", "--json", "nameWithOwner"}, true, `"nameWithOwner":"carol/fork"`, restricted},
		{"api graphql viewer organizations, classic token", tokClassic, []string{"api", "graphql", "-f", `query={ viewer { organizations(first: 10) { nodes { login repositories(first: 10) { nodes { nameWithOwner } } } } } }`},
			false, `"login":"open-org"`, restricted},
		{"api graphql search, classic token", tokClassic, []string{"api", "graphql", "-f", `query={ search(type: REPOSITORY, query: "is:private", first: 20) { repositoryCount nodes { ... on Repository { nameWithOwner } } } }`},
			false, `"nameWithOwner":"open-org/private"`, restricted},
		{"api graphql a fork's parent, classic token", tokClassic, []string{"api", "graphql", "-f", `query={ repository(owner: "carol", name: "fork") { nameWithOwner parent { nameWithOwner } } }`},
			false, `"parent":null`, restricted},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := gh(tc.token, tc.args...)
			if tc.ok != (err == nil) {
				t.Fatalf("gh %s: err=%v, want success=%v\n%s", strings.Join(tc.args, " "), err, tc.ok, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("gh printed no %q:\n%s", tc.want, out)
			}
			if strings.HasPrefix(tc.name, "api graphql") && tc.token == tokClassic && !strings.Contains(out, classicMsg) {
				t.Errorf("gh printed no FORBIDDEN message:\n%s", out)
			}
			for _, n := range tc.notWant {
				if strings.Contains(out, n) {
					t.Errorf("gh printed %q, which the token may not see:\n%s", n, out)
				}
			}
		})
	}
}
