// Package integration runs patgate end to end: the real Caddy binary built
// from cmd/caddy, in front of a fake Git host that serves GitHub's lookup API
// and records what reaches it. The fake stands for the outside service only;
// everything of patgate's runs for real.
package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// caddyBin is the Caddy binary with the module, built once for the package.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patgate-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago and that no
// earlier call in this test process returned. Nothing holds it: another
// process may bind it before the caller does, which is why startCaddy
// starts again with fresh ports when Caddy finds one taken. Within the
// process, though, two calls never agree: the kernel may hand the same
// port out again once the probe closed it, and Caddy binds its listeners
// with SO_REUSEPORT, so its admin endpoint and a site given the same port
// would both start and share the connections (a site answering "404 page
// not found" from the admin API).
func freePort(t *testing.T) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}

// handedOut are the ports freePort returned.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// needTool returns the path of an outside program a test drives. When it is
// missing the test fails in CI (CI=true), where .ci/run installs every such
// program, so that a broken install cannot pass as skipped tests; elsewhere
// the test is skipped and says how to install it. The Debian package has
// the program's name for each one the tests use.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is needed and CI must provide it (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s is not installed (apt-get install %s); skipping outside CI", name, name)
	return ""
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gateway is one running Caddy process.
type gateway struct {
	URL   string // http://127.0.0.1:port
	Admin string // http://127.0.0.1:adminport, Caddy's admin endpoint
	Dir   string // working directory, where the feed file lives
	logs  *syncBuffer

	port          int
	cfgPath, home string
	stop          func() // ends the process and waits for it
}

// restart stops Caddy and starts it again with the same config, working
// directory and data directory, as an operator's restart would.
func (g *gateway) restart(t *testing.T) {
	t.Helper()
	g.stop()
	n := runCaddy(t, g.Dir, g.port, g.cfgPath, g.home)
	g.logs, g.stop = n.logs, n.stop
}

// allTokens lists every raw token the tests use, so that the logs of every
// Caddy they start can be checked for leaks.
var (
	allTokensMu sync.Mutex
	allTokens   []string
)

func registerTokens(toks ...string) {
	allTokensMu.Lock()
	defer allTokensMu.Unlock()
	allTokens = append(allTokens, toks...)
}

// startGateway runs Caddy with a pat_policy block (the directive's body,
// without braces) in front of upstream. {dir} in the body stands for the
// gateway's working directory. Logs are at debug level so that every
// decision record is written, and they are checked for raw tokens when the
// test ends.
func startGateway(t *testing.T, upstream, policyBody string) *gateway {
	t.Helper()
	return startGatewaySite(t, upstream, policyBody, "")
}

// startGatewaySite is startGateway with more directives in the site block
// (site), such as a pat_policy_webhook receiver.
func startGatewaySite(t *testing.T, upstream, policyBody, site string) *gateway {
	t.Helper()
	dir := t.TempDir()
	return startCaddy(t, dir, "", func(port, admin int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
	log {
		level DEBUG
	}
}

http://127.0.0.1:%d {
	pat_policy {
		%s
	}
	%s
	reverse_proxy %s
}
`, admin, port, strings.ReplaceAll(policyBody, "{dir}", dir), site, upstream)
	})
}

// errPortTaken says that Caddy could not bind a port because another
// process holds it.
var errPortTaken = errors.New("a port caddy was to bind is in use by another process")

// startAttempts bounds how often startCaddy picks fresh ports: a port lost
// between freePort and Caddy's bind is rare, several in a row mean
// something else is wrong.
const startAttempts = 5

// startCaddy writes the config that config returns for a listening port
// and an admin port to dir/Caddyfile and runs Caddy with it; home is as for
// runCaddy. The ports come from freePort, which cannot hold them until
// Caddy binds them: should another process take one in between, Caddy
// exits with "address already in use", and the whole start is tried again
// with fresh ports.
func startCaddy(t *testing.T, dir, home string, config func(port, admin int) string) *gateway {
	t.Helper()
	if home == "" {
		home = t.TempDir()
	}
	cfgPath := filepath.Join(dir, "Caddyfile")
	for attempt := 1; ; attempt++ {
		port, admin := freePort(t), freePort(t)
		if err := os.WriteFile(cfgPath, []byte(config(port, admin)), 0o600); err != nil {
			t.Fatal(err)
		}
		g, err := tryCaddy(t, dir, port, cfgPath, home)
		if err == nil {
			g.Admin = fmt.Sprintf("http://127.0.0.1:%d", admin)
			return g
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		t.Logf("attempt %d: %v; starting again with fresh ports", attempt, err)
	}
}

// runCaddy starts Caddy with a config file whose ports are fixed (the
// README's, or a restart's); home is Caddy's data directory ("" for a new
// one).
func runCaddy(t *testing.T, dir string, port int, cfgPath, home string) *gateway {
	t.Helper()
	g, err := tryCaddy(t, dir, port, cfgPath, home)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// tryCaddy starts Caddy and waits until it serves its config. It returns
// errPortTaken if Caddy exited because a port was in use, and any other
// failure to start as an error too; the process's logs are checked for
// raw tokens when the test ends either way.
func tryCaddy(t *testing.T, dir string, port int, cfgPath, home string) (*gateway, error) {
	t.Helper()
	if home == "" {
		// Caddy's own state (autosave.json, certificates, the feed cache)
		// goes to a scratch home, never into the working directory.
		home = t.TempDir()
	}
	g := &gateway{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, logs: new(syncBuffer), port: port, cfgPath: cfgPath, home: home}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, caddyBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = g.logs, g.logs
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home,
		// The service credential comes from the environment, as the README
		// advises: a literal in the config would be logged with it.
		"PATGATE_LOOKUP_TOKEN="+serviceToken,
		"PATGATE_WEBHOOK_SECRET="+webhookSecret)
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting caddy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // also waits for the copies into g.logs
		close(exited)
	}()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			cancel()
			<-exited
		})
	}
	buf := g.logs // this process's logs, even after a restart replaces g's
	t.Cleanup(func() {
		g.stop()
		logs := buf.String()
		allTokensMu.Lock()
		defer allTokensMu.Unlock()
		for _, tok := range allTokens {
			if strings.Contains(logs, tok) {
				t.Errorf("a raw token (fingerprint %s) appears in Caddy's logs", sha(tok)[:12])
			}
		}
		if t.Failed() {
			t.Logf("caddy logs:\n%s", logs)
		}
	})
	// Caddy logs this line once caddy.Load has bound every listener of the
	// config, the admin endpoint's too. Waiting for it rather than for the
	// port to accept a connection tells this Caddy from another process
	// that took the port. The configs here log to stderr.
	const ready = `"serving initial configuration"`
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	hang := time.NewTimer(30 * time.Second) // a hang guard, not a measure
	defer hang.Stop()
	for !strings.Contains(g.logs.String(), ready) {
		select {
		case <-exited:
			logs := g.logs.String()
			if line := lineWith(logs, "address already in use"); line != "" {
				return nil, fmt.Errorf("%w: %s", errPortTaken, line)
			}
			return nil, fmt.Errorf("caddy exited before serving its config:\n%s", logs)
		case <-hang.C:
			g.stop()
			return nil, fmt.Errorf("caddy did not serve its config within 30s:\n%s", g.logs.String())
		case <-tick.C:
		}
	}
	return g, nil
}

// lineWith returns the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// do sends a request through the gateway with the given headers.
func (g *gateway) do(t *testing.T, method, path string, body string, headers ...string) *http.Response {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequest(method, g.URL+path, rd)
	} else {
		req, err = http.NewRequest(method, g.URL+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// eventually retries f until it returns "" or the deadline passes.
func eventually(t *testing.T, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// basic is an Authorization header value for HTTP Basic.
func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// waitLog waits until Caddy's output (copied from its pipes a moment after
// it writes) matches re.
func (g *gateway) waitLog(t *testing.T, what string, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !re.MatchString(g.logs.String()) {
		if time.Now().After(deadline) {
			t.Errorf("no log line: %s", what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
