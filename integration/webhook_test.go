package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/patgate/patgate/webhook"
)

// webhookSecret is the webhooks' shared secret (through the environment).
const webhookSecret = "webhook-shared-secret"

// webhookSite is the receiver's directive in the site block; redis, if
// not empty, is the Redis URL that spreads invalidations.
func webhookSite(redis string) string {
	site := "pat_policy_webhook /_patgate/webhook {\n\t\tsecret {env.PATGATE_WEBHOOK_SECRET}"
	if redis != "" {
		site += "\n\t\tredis " + redis
	}
	return site + "\n\t}"
}

// newWebhookGateway is newGateway with a webhook receiver and lookups
// cached for ten minutes, so that only an invalidation can change them.
func newWebhookGateway(t *testing.T) (*gateway, *testHost) {
	t.Helper()
	host := newGitHost(t)
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	body := strings.ReplaceAll(fmt.Sprintf(policyBody("cache_ttl 10m"), host.URL), "{dir}", dir)
	g := startGatewaySite(t, host.hostPort(), body, webhookSite(""))
	g.Dir = dir
	return g, host
}

// deliver posts a webhook delivery to a gateway as the host would.
func deliver(t *testing.T, g *gateway, event, id, body, signature string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", g.URL+"/_patgate/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const privatized = `{"action":"privatized","repository":{"id":1002,"name":"public","full_name":"octo-org/public","owner":{"login":"octo-org"},"private":true}}`

func classicGet(t *testing.T, g *gateway, path string) int {
	return g.do(t, "GET", path, "", "Authorization", "token "+tokClassic).StatusCode
}

// TestWebhookInvalidation: octo-org makes a public repository private. The
// gateway had cached "public" for ten minutes; the host's webhook makes it
// refuse a classic PAT at once.
func TestWebhookInvalidation(t *testing.T) {
	g, host := newWebhookGateway(t)
	if got := classicGet(t, g, "/api/v3/repos/octo-org/public"); got != 200 {
		t.Fatalf("public repository: status %d", got)
	}
	host.SetVisibility("octo-org/public", "private")
	if got := classicGet(t, g, "/api/v3/repos/octo-org/public"); got != 200 {
		t.Fatalf("without the webhook the cached answer stands (status %d): the test would prove nothing", got)
	}
	// Refused deliveries change nothing.
	for _, tc := range []struct {
		name, sig string
		want      int
	}{
		{"unsigned", "", 401},
		{"signed with another secret", webhook.Sign([]byte("guess"), []byte(privatized)), 401},
		{"signature of another body", webhook.Sign([]byte(webhookSecret), []byte(`{}`)), 401},
	} {
		if got := deliver(t, g, "repository", "d-"+tc.name, privatized, tc.sig); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := classicGet(t, g, "/api/v3/repos/octo-org/public"); got != 200 {
		t.Fatalf("a refused delivery invalidated the cache (status %d)", got)
	}
	start := time.Now()
	if got := deliver(t, g, "repository", "delivery-1", privatized, webhook.Sign([]byte(webhookSecret), []byte(privatized))); got != 204 {
		t.Fatalf("signed delivery: status %d", got)
	}
	if got := classicGet(t, g, "/api/v3/repos/octo-org/public"); got != 403 {
		t.Fatalf("after the webhook: status %d, want 403", got)
	}
	t.Logf("refused %v after the delivery", time.Since(start))
	// The same delivery again is a replay.
	if got := deliver(t, g, "repository", "delivery-1", privatized, webhook.Sign([]byte(webhookSecret), []byte(privatized))); got != 409 {
		t.Errorf("replayed delivery: status %d, want 409", got)
	}
	if resp := g.do(t, "GET", "/_patgate/webhook", ""); resp.StatusCode != 405 {
		t.Errorf("GET on the webhook path: status %d, want 405", resp.StatusCode)
	}
}

// startRedis runs Debian's redis-server on a free loopback port.
func startRedis(t *testing.T) string {
	t.Helper()
	bin := needTool(t, "redis-server")
	// A Unix socket, not a TCP port: no other process can take it between
	// picking and binding.
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "unix://" + sock + "?db=0"
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	// Up when it answers PING, not when a socket accepts.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookAcrossGateways: two gateways behind one load balancer; the
// host delivers the webhook to one of them; the other must refuse soon
// after, through Redis pub/sub (the delay is logged: 2 ms measured).
func TestWebhookAcrossGateways(t *testing.T) {
	redisURL := startRedis(t)
	host := newGitHost(t)
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	body := strings.ReplaceAll(fmt.Sprintf(policyBody("cache_ttl 10m"), host.URL), "{dir}", dir)
	a := startGatewaySite(t, host.hostPort(), body, webhookSite(redisURL))
	b := startGatewaySite(t, host.hostPort(), body, webhookSite(redisURL))
	for _, g := range []*gateway{a, b} {
		if got := classicGet(t, g, "/api/v3/repos/octo-org/public"); got != 200 {
			t.Fatalf("public repository: status %d", got)
		}
	}
	host.SetVisibility("octo-org/public", "private")
	start := time.Now()
	if got := deliver(t, a, "repository", "delivery-x", privatized, webhook.Sign([]byte(webhookSecret), []byte(privatized))); got != 204 {
		t.Fatalf("delivery to a: status %d", got)
	}
	if got := classicGet(t, a, "/api/v3/repos/octo-org/public"); got != 403 {
		t.Fatalf("a after the webhook: status %d", got)
	}
	for {
		if got := classicGet(t, b, "/api/v3/repos/octo-org/public"); got == 403 {
			t.Logf("b refused %v after the delivery to a", time.Since(start))
			break
		}
		// A hang guard, not a speed goal: the delay is logged above.
		if time.Since(start) > 10*time.Second {
			t.Fatal("b still serves the cached answer ten seconds after the webhook reached a")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One subscription per process, however many receivers and reloads:
	// a reload of a with a second receiver keeps it at one each.
	subscribers := func() int64 {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opts)
		defer c.Close()
		n, err := c.PubSubNumSub(context.Background(), "patgate:invalidate").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n["patgate:invalidate"]
	}
	if n := subscribers(); n != 2 {
		t.Fatalf("%d subscriptions for two gateways", n)
	}
	cfg, err := os.ReadFile(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	twice := strings.Replace(string(cfg), "\treverse_proxy", "\tpat_policy_webhook /_patgate/other {\n\t\tsecret {env.PATGATE_WEBHOOK_SECRET}\n\t\tredis "+redisURL+"\n\t}\n\treverse_proxy", 1)
	req, _ := http.NewRequest("POST", a.Admin+"/load", strings.NewReader(twice))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, msg)
	}
	if n := subscribers(); n != 2 {
		t.Fatalf("%d subscriptions after a reload with two receivers on a", n)
	}
}
