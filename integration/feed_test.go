package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/policyfeed"
)

// signer holds a feed signing key and writes its public half for feed_key.
type signer struct {
	key     *ecdsa.PrivateKey
	pubFile string
	keyFile string
}

func newSigner(t *testing.T, dir string) *signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(key)
	s := &signer{key: key, pubFile: filepath.Join(dir, "feed-key.pem"), keyFile: filepath.Join(dir, "signing-key.pem")}
	if err := os.WriteFile(s.pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *signer) sign(t *testing.T, feed string) []byte {
	t.Helper()
	jws, err := policyfeed.Sign([]byte(feed), s.key, false)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// classicFeed is a feed in which octo-org restricts classic PATs or not.
func classicFeed(version int, access string) string {
	return fmt.Sprintf(`{"version": %d, "organizations": [{"login": "octo-org", "classic": {"access": %q}}]}`, version, access)
}

// TestSignedFeedOverHTTP: the gateway polls a signed feed, takes new
// versions, refuses tampered, unsigned and older ones while keeping the
// last good one, survives the feed server going down, and after a restart
// with the server still down starts from the feed it kept.
func TestSignedFeedOverHTTP(t *testing.T) {
	host := newGitHost(t)
	keys := newSigner(t, t.TempDir())
	fs := &githost.FeedServer{}
	fs.Publish(keys.sign(t, classicFeed(1, "restrict")))
	feedSrv := httptest.NewServer(fs)
	defer feedSrv.Close()
	g := startGateway(t, host.hostPort(), fmt.Sprintf(`feed %s/feed.jws
		feed_key %s
		feed_refresh 50ms
		feed_cache {dir}/last-good.jws
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}`, feedSrv.URL, keys.pubFile, host.URL))
	classic := func() int {
		return g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic).StatusCode
	}
	expect := func(what string, want int) {
		t.Helper()
		eventually(t, 10*time.Second, func() string {
			if got := classic(); got != want {
				return fmt.Sprintf("%s: status %d, want %d", what, got, want)
			}
			return ""
		})
	}
	expect("signed v1 restricts", 403)
	fs.Publish(keys.sign(t, classicFeed(2, "allow")))
	expect("signed v2 allows", 200)

	rejected := func(what string, body []byte, logNeedle string) {
		t.Helper()
		fs.Publish(body)
		eventually(t, 10*time.Second, func() string {
			if !strings.Contains(g.logs.String(), logNeedle) {
				return what + ": rejection not logged (" + logNeedle + ")"
			}
			return ""
		})
		if got := classic(); got != 200 {
			t.Fatalf("%s: status %d; v2 must stay in force", what, got)
		}
	}
	other := newSigner(t, t.TempDir())
	rejected("signed by another key", other.sign(t, classicFeed(3, "restrict")), "feed signature")
	rejected("unsigned", []byte(classicFeed(4, "restrict")), "feed is not signed")
	rejected("older version", keys.sign(t, classicFeed(1, "restrict")), "rollback")
	rejected("expired", keys.sign(t, fmt.Sprintf(`{"version": 5, "exp": %d}`, time.Now().Add(-time.Hour).Unix())), "feed is not valid now")

	// The gateway must have met the server down, not merely not polled
	// since: wait for it to log a failed fetch.
	const unavailable = "policy feed unavailable; keeping the feed in force"
	failed := strings.Count(g.logs.String(), unavailable)
	fs.SetDown(true)
	eventually(t, 10*time.Second, func() string {
		if strings.Count(g.logs.String(), unavailable) == failed {
			return "the gateway did not log a failed fetch with the feed server down"
		}
		return ""
	})
	if got := classic(); got != 200 {
		t.Fatalf("feed server down: status %d; v2 must stay in force", got)
	}
	if _, err := os.Stat(filepath.Join(g.Dir, "last-good.jws")); err != nil {
		t.Fatalf("no last-good feed kept: %v", err)
	}

	// A restart while the feed server is still down starts from the kept
	// feed, verified again, instead of answering 503.
	g.restart(t)
	if got := classic(); got != 200 {
		t.Fatalf("after restart with the server down: status %d, want 200 from the kept v2", got)
	}
	if !strings.Contains(g.logs.String(), "policy feed loaded from cache") {
		t.Error("the restart did not say it loaded the kept feed")
	}
	fs.SetDown(false)
	fs.Publish(keys.sign(t, classicFeed(6, "restrict")))
	expect("signed v6 after the server is back", 403)
}

// TestFeedAdminRefreshAndReload: an operator who just published a feed
// asks the gateway to fetch it now; a config reload keeps the feed and its
// poller instead of fetching again.
func TestFeedAdminRefreshAndReload(t *testing.T) {
	host := newGitHost(t)
	fs := &githost.FeedServer{}
	fs.Publish([]byte(classicFeed(1, "restrict")))
	feedSrv := httptest.NewServer(fs)
	defer feedSrv.Close()
	body := fmt.Sprintf(`feed %s/feed.json
		feed_refresh 1h
		lookup %s/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}`, feedSrv.URL, host.URL)
	g := startGateway(t, host.hostPort(), body)
	classic := func() int {
		return g.do(t, "GET", "/api/v3/repos/octo-org/private", "", "Authorization", "token "+tokClassic).StatusCode
	}
	if got := classic(); got != 403 {
		t.Fatalf("status %d, want 403 under v1", got)
	}
	fs.Publish([]byte(classicFeed(2, "allow")))
	if got := classic(); got != 403 {
		t.Fatalf("status %d: v2 taken before the refresh (interval is an hour)", got)
	}
	resp, err := http.Post(g.Admin+"/pat-policy/refresh", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var reports []struct {
		Source  string
		Version int64
		Error   string
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &reports); err != nil || resp.StatusCode != 200 || len(reports) != 1 || reports[0].Version != 2 || reports[0].Source != feedSrv.URL+"/feed.json" {
		t.Fatalf("refresh answered %d %s (%v)", resp.StatusCode, b, err)
	}
	if got := classic(); got != 200 {
		t.Fatalf("status %d after the refresh, want 200 under v2", got)
	}

	// Reload with another setting of the handler (report mode) and the
	// same feed: the feed is shared, not fetched again.
	before := fs.Requests.Load()
	cfg, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	newCfg := strings.Replace(string(cfg), "feed_refresh 1h", "feed_refresh 1h\n\t\tmode report", 1)
	req, _ := http.NewRequest("POST", g.Admin+"/load", strings.NewReader(newCfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
	// The reload closes the old server's idle connections, and the old
	// server may still accept a new one and drop it while it shuts down
	// (Caddy's own behaviour, see TestReloadUnderLoad): a dropped request
	// is sent again, as a client would; an answer must be v2's.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if n := fs.Requests.Load(); n != before {
		t.Errorf("the reload fetched the feed again (%d requests, %d before)", n, before)
	}
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest("GET", g.URL+"/api/v3/repos/octo-org/private", nil)
		req.Header.Set("Authorization", "token "+tokClassic)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if attempt == 5 {
				t.Fatalf("after reload: %v", err)
			}
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("after reload: status %d, want 200 (v2 still in force)", resp.StatusCode)
		}
		break
	}
	if got := strings.Count(g.logs.String(), `"msg":"policy feed loaded"`); got != 2 {
		t.Errorf("policy feed loaded %d times, want 2 (v1 at start, v2 on refresh)", got)
	}
}

// TestFeedCommands runs the ops commands of the built binary.
func TestFeedCommands(t *testing.T) {
	dir := t.TempDir()
	keys := newSigner(t, dir)
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(caddyBin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("test\n", "pat-policy", "feed", "fingerprint")
	if err != nil || strings.TrimSpace(out) != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Fatalf("fingerprint: %v %q", err, out)
	}
	feed := filepath.Join(dir, "feed.json")
	if err := os.WriteFile(feed, []byte(`{"version": 9, "organizations": [{"login": "octo-org"}], "tokens": [{"sha256": "`+sha("x")+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	jws := filepath.Join(dir, "feed.jws")
	if out, err := run("", "pat-policy", "feed", "sign", "--key", keys.keyFile, "--expires-in", "1h", "--out", jws, feed); err != nil {
		t.Fatalf("sign: %v %s", err, out)
	}
	out, err = run("", "pat-policy", "feed", "verify", "--key", keys.pubFile, jws)
	if err != nil || !strings.Contains(out, "valid: version 9, 1 organizations, 1 tokens, signed with ES256") {
		t.Fatalf("verify: %v %s", err, out)
	}
	other := newSigner(t, t.TempDir())
	if out, err := run("", "pat-policy", "feed", "verify", "--key", other.pubFile, jws); err == nil || !strings.Contains(out, "feed signature") {
		t.Fatalf("verify with another key: %v %s", err, out)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "classic": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("", "pat-policy", "feed", "sign", "--key", keys.keyFile, bad); err == nil || !strings.Contains(out, "unknown field") {
		t.Fatalf("sign of an invalid feed: %v %s", err, out)
	}
}
