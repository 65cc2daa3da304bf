package integration

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patgate/patgate/webhook"
)

// webhookSecret is the webhooks' shared secret (through the environment).
const webhookSecret = "webhook-shared-secret"

const webhookConfig = `webhook_path /_patgate/webhook
		webhook_secret {env.PATGATE_WEBHOOK_SECRET}
		cache_ttl 10m`

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
	g, host := newGateway(t, webhookConfig)
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
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr + "/0"
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookAcrossGateways: two gateways behind one load balancer; the
// host delivers the webhook to one of them; the other must refuse within a
// second, through Redis pub/sub.
func TestWebhookAcrossGateways(t *testing.T) {
	redisURL := startRedis(t)
	host := newGitHost(t)
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	body := strings.ReplaceAll(fmt.Sprintf(policyBody(webhookConfig+"\n\t\tinvalidation_redis "+redisURL), host.URL), "{dir}", dir)
	a := startGateway(t, host.hostPort(), body)
	b := startGateway(t, host.hostPort(), body)
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
		if time.Since(start) > time.Second {
			t.Fatal("b still serves the cached answer a second after the webhook reached a")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
