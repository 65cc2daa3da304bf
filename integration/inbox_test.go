package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// inboxEntry is an entry of GET /pat-policy/requests.
type inboxEntry struct {
	Organization string `json:"organization"`
	Token        string `json:"token"`
	HashedToken  string `json:"hashed_token"`
	Owner        string `json:"token_owner"`
	Reason       string `json:"reason"`
	Requests     int64  `json:"requests"`
}

func listInbox(t *testing.T, g *gateway, org string) ([]inboxEntry, []string, string) {
	t.Helper()
	u := g.Admin + "/pat-policy/requests"
	if org != "" {
		u += "?organization=" + org
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Stores  []string     `json:"stores"`
		Entries []inboxEntry `json:"entries"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return out.Entries, out.Stores, string(raw)
}

// refuse sends a write the token's approval status refuses.
func refuseWrite(t *testing.T, g *gateway, token string) {
	t.Helper()
	resp := g.do(t, "POST", "/api/v3/repos/octo-org/private/issues", "", "Authorization", "token "+token)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

// TestApprovalInbox: octo-org's owner asks who is waiting. The inbox holds
// what the test sent and nothing else: dave's pending token three times,
// nora's token that never asked once; not the classic token (a class
// restriction no approval fixes), not the approved one. It survives a
// reload, the CLI prints it as a table, and no raw token shows anywhere.
func TestApprovalInbox(t *testing.T) {
	g, _ := newGateway(t, "")
	for range 3 {
		refuseWrite(t, g, tokPending)
	}
	refuseWrite(t, g, tokNoRecord)
	refuseWrite(t, g, tokClassic)
	resp := g.do(t, "POST", "/api/v3/repos/octo-org/private/issues", "", "Authorization", "token "+tokApproved)
	resp.Body.Close()
	check := func(t *testing.T) string {
		t.Helper()
		got, stores, raw := listInbox(t, g, "octo-org")
		want := []string{
			"octo-org " + sha(tokNoRecord)[:12] + " nora approval_missing 1",
			"octo-org " + sha(tokPending)[:12] + " dave approval_pending 3",
		}
		if len(got) != len(want) {
			t.Fatalf("%d entries: %s", len(got), raw)
		}
		for i, e := range got {
			if s := fmt.Sprintf("%s %s %s %s %d", e.Organization, e.Token, e.Owner, e.Reason, e.Requests); s != want[i] {
				t.Errorf("entry %d: %s, want %s", i, s, want[i])
			}
		}
		if len(stores) != 1 || stores[0] != "memory" {
			t.Errorf("stores %v", stores)
		}
		if other, _, _ := listInbox(t, g, "open-org"); len(other) != 0 {
			t.Errorf("open-org's inbox: %+v", other)
		}
		return raw
	}
	raw := check(t)
	// The reload keeps the inbox: it is the process's.
	cfg, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", g.Admin+"/load", strings.NewReader(strings.Replace(string(cfg), "feed_refresh 50ms", "feed_refresh 50ms\n\t\tlog_allowed", 1)))
	req.Header.Set("Content-Type", "text/caddyfile")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("reload: %v %v", resp, err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	check(t)
	// The CLI, as an operator runs it.
	cmd := exec.Command(caddyBin, "pat-policy", "requests", "--org", "octo-org", "--address", strings.TrimPrefix(g.Admin, "http://"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ORGANIZATION") || !strings.Contains(string(out), "approval_pending") ||
		!strings.Contains(string(out), sha(tokPending)[:12]) || !strings.Contains(string(out), "inbox: memory") {
		t.Errorf("caddy pat-policy requests: %v\n%s", err, out)
	}
	t.Logf("caddy pat-policy requests --org octo-org:\n%s", out)
	for _, tok := range []string{tokPending, tokNoRecord, tokClassic, tokApproved} {
		if strings.Contains(raw, tok) || strings.Contains(string(out), tok) {
			t.Error("a raw token in the inbox's output")
		}
	}
}

// TestApprovalInboxBound: 2,000 distinct tokens refused through the
// gateway leave 50 entries (inbox_size 50), the 50 most recent. The
// memory under 100,000 distinct tokens is measured in the inbox package
// (TestMemoryBound), where it does not take minutes of requests.
func TestApprovalInboxBound(t *testing.T) {
	g, host := newGateway(t, "inbox_size 50")
	const n = 2000
	for i := range n {
		host.SetUser(fmt.Sprintf("github_pat_11INBOX_boundTestToken%016d", i), fmt.Sprint("user", i))
	}
	for i := range n {
		refuseWrite(t, g, fmt.Sprintf("github_pat_11INBOX_boundTestToken%016d", i))
	}
	got, _, _ := listInbox(t, g, "octo-org")
	if len(got) != 50 {
		t.Fatalf("%d entries, want 50", len(got))
	}
	if want := sha(fmt.Sprintf("github_pat_11INBOX_boundTestToken%016d", n-1))[:12]; got[0].Token != want {
		t.Errorf("the most recent entry is %s, want %s", got[0].Token, want)
	}
}

// TestApprovalInboxAcrossGateways: two gateways behind one load balancer
// share the Redis of their webhook receivers; a refusal on one shows in
// the inbox of both, the same.
func TestApprovalInboxAcrossGateways(t *testing.T) {
	redisURL := startRedis(t)
	host := newGitHost(t)
	host.SetUser(tokNoRecord, "nora")
	dir := t.TempDir()
	writeFeed(t, dir, feedV1())
	body := strings.ReplaceAll(fmt.Sprintf(policyBody(""), host.URL), "{dir}", dir)
	a := startGatewaySite(t, host.hostPort(), body, webhookSite(redisURL))
	b := startGatewaySite(t, host.hostPort(), body, webhookSite(redisURL))
	refuseWrite(t, a, tokPending)
	refuseWrite(t, b, tokPending)
	refuseWrite(t, a, tokNoRecord)
	var lists [2]string
	deadline := time.Now().Add(5 * time.Second)
	for i, g := range []*gateway{a, b} {
		for {
			got, stores, _ := listInbox(t, g, "octo-org")
			lists[i] = fmt.Sprint(got)
			if len(got) == 2 && got[1].Requests == 2 && len(stores) == 1 && strings.HasPrefix(stores[0], "redis ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway %d: %v %v", i, got, stores)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if lists[0] != lists[1] {
		t.Errorf("the gateways disagree:\n%s\n%s", lists[0], lists[1])
	}
}
