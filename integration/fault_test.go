package integration

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goroutines reads Caddy's goroutine count from its admin pprof endpoint.
func goroutines(t *testing.T, g *gateway) int {
	t.Helper()
	resp, err := http.Get(g.Admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	if err != nil {
		t.Fatalf("goroutine profile: %q", line)
	}
	return n
}

// TestLookupFaults: the lookup API slow, answering garbage, or gone: every
// PAT request that needs it fails closed with 503 (no token slips
// through), nothing leaks, and decisions recover when the host does.
func TestLookupFaults(t *testing.T) {
	g, host := newGateway(t, "lookup_timeout 200ms")
	classic := func(path string) int {
		return g.do(t, "GET", path, "", "Authorization", "token "+tokClassic).StatusCode
	}
	t.Run("slow", func(t *testing.T) {
		host.SetLookupDelay(2 * time.Second)
		start := time.Now()
		if got := classic("/api/v3/repos/octo-org/private"); got != 503 {
			t.Fatalf("status %d, want 503", got)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("a slow lookup held the request %v (lookup_timeout 200ms)", took)
		}
		host.SetLookupDelay(0)
		if got := classic("/api/v3/repos/octo-org/private"); got != 403 {
			t.Fatalf("after recovery: status %d, want 403", got)
		}
	})
	t.Run("garbage JSON", func(t *testing.T) {
		host.SetGarbage("octo-org/internal", true)
		if got := classic("/api/v3/repos/octo-org/internal"); got != 503 {
			t.Fatalf("status %d, want 503", got)
		}
		host.SetGarbage("octo-org/internal", false)
		if got := classic("/api/v3/repos/octo-org/internal"); got != 403 {
			t.Fatalf("after recovery: status %d, want 403", got)
		}
	})
	t.Run("5xx under load leaks nothing", func(t *testing.T) {
		host.SetFailing("open-org/private", true)
		var bad atomic.Int64
		burst := func() {
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					for range 20 {
						req, _ := http.NewRequest("GET", g.URL+"/api/v3/repos/open-org/private", nil)
						req.Header.Set("Authorization", "token "+tokClassic)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							bad.Add(1)
							continue
						}
						if resp.StatusCode != 503 {
							bad.Add(1)
						}
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
			http.DefaultClient.CloseIdleConnections()
			time.Sleep(300 * time.Millisecond)
		}
		// The first burst opens the connections a server keeps; a second
		// one of 400 failing lookups must not add goroutines.
		burst()
		base := goroutines(t, g)
		burst()
		if n := goroutines(t, g); n > base+10 {
			t.Errorf("goroutines grew from %d to %d across 400 failing lookups", base, n)
		}
		for range 50 {
			if got := classic("/api/v3/repos/open-org/private"); got != 503 {
				t.Fatalf("status %d, want 503", got)
			}
		}
		host.SetFailing("open-org/private", false)
		if got := classic("/api/v3/repos/open-org/private"); got != 200 {
			t.Fatalf("after recovery: status %d, want 200", got)
		}
		if bad.Load() != 0 {
			t.Errorf("%d requests failed or were not answered 503", bad.Load())
		}
	})
}

// TestLookupHostGone: the lookup API does not answer at all (connection
// refused): 503, with fail_open the request goes through.
func TestLookupHostGone(t *testing.T) {
	host := newGitHost(t)
	gone := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	for _, tc := range []struct {
		extra string
		want  int
	}{{"", 503}, {"fail_open", 200}} {
		body := fmt.Sprintf(`feed %s/policy.json
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
		%s`, dir, gone, tc.extra)
		g := startGateway(t, host.hostPort(), body)
		resp := g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic)
		if resp.StatusCode != tc.want {
			t.Errorf("%q: status %d, want %d", tc.extra, resp.StatusCode, tc.want)
		}
	}
}

// TestReloadUnderLoad: config reloads while clients send allowed and
// refused requests change no decision and answer no request with an error
// status; the policy feed and decisions carry over.
//
// Caddy itself drops a few connections at each reload, with or without
// patgate: measured here, plain Caddy lost 2 and 36 of about 4,000 requests
// across 6 reloads (fresh connections), and 5 of 3,985 on kept-alive ones;
// the client sees EOF or a reset, never an answer. Those losses are counted
// and reported, and must stay connection errors: a request that gets an
// answer must get the right one.
func TestReloadUnderLoad(t *testing.T) {
	g, _ := newGateway(t, "")
	cfg, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, wrong, failed atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 8 {
		wg.Go(func() {
			path, tok, want := "/api/v3/repos/octo-org/private", tokApproved, 200
			if i%2 == 1 {
				tok, want = tokClassic, 403
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", g.URL+path, nil)
				req.Header.Set("Authorization", "token "+tok)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					if failed.Add(1) <= 3 {
						t.Logf("request failed: %v", err)
					}
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					wrong.Add(1)
				}
			}
		})
	}
	for i := range 6 {
		newCfg := string(cfg)
		if i%2 == 0 {
			newCfg = strings.Replace(newCfg, "feed_refresh 50ms", "feed_refresh 50ms\n\t\tlog_allowed", 1)
		}
		req, _ := http.NewRequest("POST", g.Admin+"/load", strings.NewReader(newCfg))
		req.Header.Set("Content-Type", "text/caddyfile")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reload %d: status %d", i, resp.StatusCode)
		}
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests across 6 reloads", sent.Load())
	t.Logf("%d connections dropped by Caddy's reloads (EOF or reset, no answer)", failed.Load())
	if wrong.Load() != 0 {
		t.Errorf("%d requests were answered wrongly across reloads", wrong.Load())
	}
	if failed.Load() > sent.Load()/50 {
		t.Errorf("%d of %d requests dropped: more than Caddy's own reloads drop", failed.Load(), sent.Load())
	}
	if sent.Load() < 100 {
		t.Errorf("only %d requests sent", sent.Load())
	}
}
