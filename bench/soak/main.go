// Command soak runs the gateway under load for a few minutes while it
// injects faults, and reports what went wrong: wrong decisions (must be 0),
// unexpected 5xx (must be 0), connections dropped, and Caddy's RSS over time
// (must stay flat). Loopback only; it stops by itself.
//
//	go build -o caddy ./cmd/caddy && go run ./bench/soak -caddy ./caddy -duration 2m
//
// Faults, each on its own ticker: feed swaps (a new version that changes
// no decision of the mix), lookup failures of one repository (whose
// requests must then fail closed), and config reloads through the admin API.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patgate/patgate/internal/githost"
)

const (
	classic  = "ghp_soakClassicToken000000000000000000000"
	approved = "github_pat_11SOAK_approvedFineGrainedTokenForSoakTest"
	pending  = "github_pat_11SOAK_pendingFineGrainedTokenForSoakTest0"
	service  = "soak-service-credential"
)

type check struct {
	method, path, auth string
	// ok lists the statuses that are right for this request.
	ok []int
}

func fp(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }

func feed(version int) string {
	// The unrelated org flips with every version: swaps change nothing the
	// mix asks, so any change of decision is a wrong one.
	spare := "allow"
	if version%2 == 1 {
		spare = "restrict"
	}
	return fmt.Sprintf(`{"version": %d,
 "organizations": [
   {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}},
   {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}},
   {"login": "spare-org", "classic": {"access": %q}}],
 "tokens": [{"sha256": %q, "organizations": {"octo-org": "approved"}}, {"sha256": %q, "organizations": {"octo-org": "pending"}}]}`,
		version, spare, fp(approved), fp(pending))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

func main() {
	caddyBin := flag.String("caddy", "./caddy", "the Caddy binary with pat_policy")
	duration := flag.Duration("duration", 2*time.Minute, "how long to run")
	workers := flag.Int("workers", 16, "concurrent clients")
	reloadEvery := flag.Duration("reload-every", 10*time.Second, "config reload period (0: none)")
	swapEvery := flag.Duration("swap-every", 3*time.Second, "feed swap period (0: none)")
	outageEvery := flag.Duration("outage-every", 2*time.Second, "lookup outage period (0: none)")
	flag.Parse()

	host := githost.New(service, "")
	host.Quiet = true
	for _, r := range [][4]string{
		{"octo-org", "private", "Organization", "private"}, {"octo-org", "public", "Organization", "public"},
		{"octo-org", "flaky", "Organization", "private"}, {"open-org", "private", "Organization", "private"},
		{"bob", "dotfiles", "User", "private"},
	} {
		if err := host.AddRepo(r[0], r[1], r[2], r[3]); err != nil {
			panic(err)
		}
	}
	up := httptest.NewServer(host)
	defer up.Close()

	dir, err := os.MkdirTemp("", "patgate-soak-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	feedPath := filepath.Join(dir, "policy.json")
	writeFeed := func(v int) {
		tmp := feedPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(feed(v)), 0o600); err != nil {
			panic(err)
		}
		if err := os.Rename(tmp, feedPath); err != nil {
			panic(err)
		}
	}
	writeFeed(1)
	port, admin := freePort(), freePort()
	for admin == port {
		// Caddy binds with SO_REUSEPORT: its admin API and the site would
		// both start on one port and share its connections.
		admin = freePort()
	}
	config := func(logAllowed bool) string {
		extra := ""
		if logAllowed {
			extra = "log_allowed"
		}
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
http://127.0.0.1:%d {
	pat_policy {
		feed %s
		feed_refresh 200ms
		feed_cache off
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
		lookup_timeout 500ms
		cache_ttl 2s
		%s
	}
	reverse_proxy %s
}
`, admin, port, feedPath, up.URL, extra, strings.TrimPrefix(up.URL, "http://"))
	}
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(config(false)), 0o600); err != nil {
		panic(err)
	}
	cmd := exec.Command(*caddyBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "PATGATE_LOOKUP_TOKEN="+service, "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			panic("caddy did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	mix := []check{
		{"GET", "/api/v3/repos/octo-org/private", "token " + approved, []int{200}},
		{"POST", "/api/v3/repos/octo-org/private/issues", "token " + classic, []int{403}},
		{"GET", "/api/v3/repos/octo-org/private", "token " + pending, []int{403}},
		{"GET", "/api/v3/repos/octo-org/public", "token " + pending, []int{200}},
		{"GET", "/api/v3/repos/open-org/private", "token " + classic, []int{200}},
		{"GET", "/api/v3/repos/bob/dotfiles", "token " + classic, []int{200}},
		{"GET", "/api/v3/repos/octo-org/private", "token gho_soakOAuth", []int{200}},
		{"GET", "/api/v3/meta", "", []int{200}},
		// The flaky repository's lookups fail now and then: refused or
		// failed closed, never let through.
		{"GET", "/api/v3/repos/octo-org/flaky", "token " + classic, []int{403, 503}},
		{"GET", "/api/v3/repos/octo-org/flaky", "token " + approved, []int{200, 503}},
	}
	var sent, wrong, fivexx, dropped atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range *workers {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := mix[i%len(mix)]
				req, _ := http.NewRequest(c.method, base+c.path, nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					dropped.Add(1)
					continue
				}
				resp.Body.Close()
				good := false
				for _, s := range c.ok {
					good = good || resp.StatusCode == s
				}
				if !good {
					if wrong.Add(1) <= 5 {
						fmt.Fprintf(os.Stderr, "wrong: %s %s → %d, want %v\n", c.method, c.path, resp.StatusCode, c.ok)
					}
				}
				if resp.StatusCode >= 500 && !(resp.StatusCode == 503 && strings.Contains(c.path, "flaky")) {
					fivexx.Add(1)
				}
			}
		})
	}

	// Faults.
	var swaps, failures, reloads atomic.Int64
	fault := func(every time.Duration, f func()) {
		if every <= 0 {
			return
		}
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					f()
				}
			}
		})
	}
	version := 1
	fault(*swapEvery, func() { version++; writeFeed(version); swaps.Add(1) })
	fault(*outageEvery, func() {
		host.SetFailing("octo-org/flaky", true)
		time.Sleep(700 * time.Millisecond)
		host.SetFailing("octo-org/flaky", false)
		failures.Add(1)
	})
	fault(*reloadEvery, func() {
		body := config(reloads.Load()%2 == 0)
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/load", admin), strings.NewReader(body))
		req.Header.Set("Content-Type", "text/caddyfile")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			reloads.Add(1)
		}
	})

	fmt.Printf("soak: %v, %d workers, pid %d\n", *duration, *workers, cmd.Process.Pid)
	fmt.Printf("%8s %10s %8s %8s %8s %10s\n", "elapsed", "requests", "wrong", "5xx", "dropped", "rss_kB")
	start := time.Now()
	var rss []int
	tick := time.NewTicker(10 * time.Second)
	for time.Since(start) < *duration {
		<-tick.C
		r := rssKB(cmd.Process.Pid)
		rss = append(rss, r)
		fmt.Printf("%8s %10d %8d %8d %8d %10d\n", time.Since(start).Round(time.Second), sent.Load(), wrong.Load(), fivexx.Load(), dropped.Load(), r)
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	fmt.Printf("faults: %d feed swaps, %d lookup outages, %d config reloads\n", swaps.Load(), failures.Load(), reloads.Load())
	fmt.Printf("result: %d requests, %d wrong decisions (want 0), %d unexpected 5xx (want 0), %d dropped connections\n",
		sent.Load(), wrong.Load(), fivexx.Load(), dropped.Load())
	if len(rss) >= 3 {
		// Compare the last third with the second: after warm-up, RSS must
		// not keep growing.
		mid, last := rss[len(rss)/3], rss[len(rss)-1]
		fmt.Printf("rss: %d kB after warm-up, %d kB at the end (%+.1f%%)\n", mid, last, 100*float64(last-mid)/float64(mid))
	}
	if wrong.Load() != 0 || fivexx.Load() != 0 {
		os.Exit(1)
	}
}
