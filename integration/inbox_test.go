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

// TestApprovalInboxBound: 100,000 distinct tokens refused through the
// gateway, first all in one organization, then spread over 100: the inbox
// stays at its bounds (inbox_size 50 tokens per organization,
// inbox_organizations 20), keeps the most recent, and Caddy's heap stays
// put (measured after a forced collection, through the admin API's
// /debug/vars).
func TestApprovalInboxBound(t *testing.T) {
	host := newGitHost(t)
	const orgs = 100
	var feed strings.Builder
	feed.WriteString(`{"version": 1, "organizations": [`)
	// wait-org-100 … 119 are for the last, sequential burst.
	for i := range orgs + 20 {
		if i > 0 {
			feed.WriteString(",")
		}
		// Approval required, no owners: every token without a record is
		// refused without asking the host who owns it.
		fmt.Fprintf(&feed, `{"login": "wait-org-%d", "fine_grained": {"access": "allow", "approval": "require"}}`, i)
		if err := host.AddRepo(fmt.Sprint("wait-org-", i), "app", "Organization", "private"); err != nil {
			t.Fatal(err)
		}
	}
	feed.WriteString(`]}`)
	dir := t.TempDir()
	writeFeed(t, dir, feed.String())
	body := strings.ReplaceAll(fmt.Sprintf(policyBody("inbox_size 50\n\t\tinbox_organizations 20"), host.URL), "{dir}", dir)
	g := startGateway(t, host.hostPort(), body)
	token := func(i int) string { return fmt.Sprintf("github_pat_11INBOX_boundTestToken%016d", i) }
	send := func(from, to int, org func(i int) int) {
		const workers = 8
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				client := &http.Client{}
				for i := from + w; i < to; i += workers {
					req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v3/repos/wait-org-%d/app/issues", g.URL, org(i)), nil)
					req.Header.Set("Authorization", "token "+token(i))
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 403 {
						errs <- fmt.Errorf("status %d", resp.StatusCode)
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() float64 {
		resp, err := http.Get(g.Admin + "/debug/pprof/heap?gc=1")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		resp, err = http.Get(g.Admin + "/debug/vars")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Memstats struct{ HeapAlloc uint64 } }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return float64(v.Memstats.HeapAlloc) / (1 << 20)
	}
	send(0, 100, func(int) int { return 0 }) // warm the lookups and pools
	before := heap()
	start := time.Now()
	send(100, 50_000, func(int) int { return 0 })
	got, _, _ := listInbox(t, g, "wait-org-0")
	if len(got) != 50 {
		t.Fatalf("%d entries in one organization, want 50", len(got))
	}
	send(50_000, 100_000, func(i int) int { return i % orgs })
	took := time.Since(start)
	after := heap()
	// Eight senders at once interleave as they will, so the last word is
	// a sequential burst into 20 organizations that had nothing yet: the
	// 20 most recently seen, one token each, all that is left.
	for i := range 20 {
		refuseAt(t, g, fmt.Sprint("wait-org-", orgs+i), token(100_000+i))
	}
	all, _, raw := listInbox(t, g, "")
	if len(all) != 20 {
		t.Fatalf("%d entries after 120 organizations, want 20: %.300s", len(all), raw)
	}
	for i, e := range all {
		// The most recently seen first.
		if want := token(100_019 - i); e.Token != sha(want)[:12] || e.Organization != fmt.Sprint("wait-org-", orgs+19-i) {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if got, _, _ := listInbox(t, g, "wait-org-0"); len(got) != 0 {
		t.Errorf("wait-org-0 kept past the bound of organizations: %d entries", len(got))
	}
	t.Logf("100,000 distinct tokens refused in %v; Caddy's heap %.1f MB before, %.1f MB after", took.Round(time.Millisecond), before, after)
	if after-before > 16 {
		t.Errorf("Caddy's heap grew %.1f MB", after-before)
	}
}

// refuseAt sends a write to an organization's repository that the token's
// missing approval refuses.
func refuseAt(t *testing.T, g *gateway, org, token string) {
	t.Helper()
	resp := g.do(t, "POST", "/api/v3/repos/"+org+"/app/issues", "", "Authorization", "token "+token)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d", resp.StatusCode)
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
