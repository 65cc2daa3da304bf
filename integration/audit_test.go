package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// opensslHash is GitHub's recipe for a token's hashed_token, run for real:
// echo -n TOKEN | openssl dgst -sha256 -binary | base64.
func opensslHash(t *testing.T, token string) string {
	t.Helper()
	needTool(t, "openssl")
	cmd := exec.Command("sh", "-c", "printf '%s' \"$TOKEN\" | openssl dgst -sha256 -binary | base64")
	cmd.Env = append(cmd.Environ(), "TOKEN="+token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestAuditLogJoin: every decision record names its token as GitHub's
// audit log does (hashed_token), whatever form the credential came in,
// and a forwarded request's record carries the host's X-GitHub-Request-Id
// as request_id, so one query joins a decision to the host's own record.
func TestAuditLogJoin(t *testing.T) {
	g, _ := newGateway(t, "")
	forms := []struct {
		name  string
		token string
		send  func(token string) (path string, headers []string)
	}{
		{"Authorization: token", "ghp_auditFormToken00000000000000000000001", func(tok string) (string, []string) {
			return "/api/v3/repos/octo-org/private", []string{"Authorization", "token " + tok}
		}},
		{"Authorization: Bearer", "ghp_auditFormBearer0000000000000000000002", func(tok string) (string, []string) {
			return "/api/v3/repos/octo-org/private", []string{"Authorization", "Bearer " + tok}
		}},
		{"Basic, token as password", "ghp_auditFormBasic00000000000000000000003", func(tok string) (string, []string) {
			return "/api/v3/repos/octo-org/private", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))}
		}},
		{"Basic, token as user", "ghp_auditFormBasicUser000000000000000004", func(tok string) (string, []string) {
			return "/api/v3/repos/octo-org/private", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(tok+":x-oauth-basic"))}
		}},
		{"access_token query parameter", "ghp_auditFormQuery00000000000000000000005", func(tok string) (string, []string) {
			return "/api/v3/repos/octo-org/private?access_token=" + tok, nil
		}},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			path, headers := f.send(f.token)
			resp := g.do(t, "GET", path, "", headers...)
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			g.waitLog(t, "hashed_token "+f.name, regexp.MustCompile(`"reason":"classic_restricted".*"hashed_token":"`+regexp.QuoteMeta(opensslHash(t, f.token))+`"`))
		})
	}
	t.Run("request_id is the host's on a forwarded request", func(t *testing.T) {
		resp := g.do(t, "POST", "/api/v3/repos/octo-org/private/issues", "", "Authorization", "token "+tokApproved)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-GitHub-Request-Id")
		if resp.StatusCode != 200 || id == "" {
			t.Fatalf("status %d, request id %q", resp.StatusCode, id)
		}
		g.waitLog(t, "request_id "+id, regexp.MustCompile(fmt.Sprintf(`"forwarded":true,"request_id":%s,"uuid":"[0-9a-f-]{36}","hashed_token":%s`,
			regexp.QuoteMeta(`"`+id+`"`), regexp.QuoteMeta(`"`+opensslHash(t, tokApproved)+`"`))))
	})
	if strings.Contains(g.logs.String(), "ghp_auditForm") {
		t.Error("a raw token reached the log")
	}
}
