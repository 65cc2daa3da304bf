package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitLFS: an approved token uploads LFS objects to a public repository
// of an approval-requiring organization; an unapproved token can download
// them (a public read) but its upload is refused in git-lfs's own format.
func TestGitLFS(t *testing.T) {
	g, host, c := newGitGateway(t)
	url := g.repoURL("octo-org", "public")
	blob := make([]byte, 256<<10)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}

	writer := filepath.Join(c.dir, "writer")
	c.mustRun("", withToken(tokApproved), "clone", "--quiet", url, writer)
	c.mustRun(writer, nil, "lfs", "track", "*.bin")
	if err := os.WriteFile(filepath.Join(writer, "data.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(writer, nil, "add", ".gitattributes", "data.bin")
	c.mustRun(writer, nil, "commit", "--quiet", "-m", "lfs data")
	out := c.mustRun(writer, withToken(tokApproved), "push", "origin", "main")
	uploaded := false
	for _, f := range host.Forwarded() {
		uploaded = uploaded || f.Method == "PUT" && strings.HasSuffix(f.Path, "/info/lfs/objects/"+sha(string(blob)))
	}
	if !uploaded {
		t.Fatalf("approved token's push did not upload the LFS object:\n%s", out)
	}

	t.Run("unapproved token downloads from a public repository", func(t *testing.T) {
		reader := filepath.Join(c.dir, "reader")
		c.mustRun("", withToken(tokPending), "clone", "--quiet", url, reader)
		got, err := os.ReadFile(filepath.Join(reader, "data.bin"))
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("LFS content not downloaded (err %v, %d bytes, want %d)", err, len(got), len(blob))
		}
	})

	t.Run("unapproved token's upload is refused with the reason", func(t *testing.T) {
		dir := filepath.Join(c.dir, "uploader")
		c.mustRun("", withToken(tokPending), "clone", "--quiet", url, dir)
		if err := os.WriteFile(filepath.Join(dir, "data.bin"), append(blob, 1), 0o644); err != nil {
			t.Fatal(err)
		}
		c.mustRun(dir, nil, "commit", "--quiet", "-am", "more data")
		out, err := c.run(dir, withToken(tokPending), "lfs", "push", "origin", "main")
		if err == nil {
			t.Fatalf("git lfs push succeeded:\n%s", out)
		}
		if !strings.Contains(out, pendingMsg) {
			t.Errorf("git-lfs did not print the refusal %q:\n%s", pendingMsg, out)
		}
	})

	t.Run("classic token cannot download from a private repository", func(t *testing.T) {
		resp := g.do(t, "POST", "/octo-org/private.git/info/lfs/objects/batch",
			`{"operation":"download","transfers":["basic"],"objects":[{"oid":"`+strings.Repeat("a", 64)+`","size":1}]}`,
			"Authorization", basic("x-access-token", tokClassic), "Content-Type", "application/vnd.git-lfs+json")
		assertLFSRefusal(t, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body, 403, "personal access token (classic)")
	})
}

func assertLFSRefusal(t *testing.T, status int, ct string, body io.Reader, want int, msg string) {
	t.Helper()
	var e struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
		RequestID        string `json:"request_id"`
	}
	if err := json.NewDecoder(body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if status != want || ct != "application/vnd.git-lfs+json" || !strings.Contains(e.Message, msg) || e.DocumentationURL == "" || e.RequestID == "" {
		t.Errorf("status %d %q %+v, want %d with %q", status, ct, e, want, msg)
	}
}

// TestLFSBatchBody: the operation that decides read or write is in the
// body, so the gateway reads it, bounded, and forwards it intact.
func TestLFSBatchBody(t *testing.T) {
	g, host := newGateway(t, "lfs_batch_limit 64KiB")
	const path = "/octo-org/public.git/info/lfs/objects/batch"
	hdr := []string{"Authorization", basic("x-access-token", tokPending), "Content-Type", "application/vnd.git-lfs+json"}
	download := `{"operation":"download","transfers":["basic"],"objects":[{"oid":"` + strings.Repeat("b", 64) + `","size":3}]}`

	t.Run("download by an unapproved token is forwarded intact", func(t *testing.T) {
		resp := g.do(t, "POST", path, download, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		f, _ := host.Last()
		if f.Path != path || f.Method != "POST" {
			t.Fatalf("forwarded %+v", f)
		}
	})
	cases := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"upload by an unapproved token", `{"operation":"upload","objects":[]}`, 403, "pending"},
		// An attacker hopes the gateway reads the first key and the host
		// the last.
		{"operation given twice", `{"operation":"download","operation":"upload"}`, 400, "twice"},
		{"operation in other case", `{"operation":"download","Operation":"upload"}`, 400, "twice"},
		{"unknown operation", `{"operation":"delete"}`, 400, "unknown operation"},
		{"not JSON", `operation=download`, 400, "not a JSON object"},
		{"trailing data", download + `{"operation":"upload"}`, 400, "after the JSON object"},
		{"larger than the limit", `{"operation":"download","objects":[` + strings.Repeat(`{"oid":"x","size":1},`, 5000) + `{}]}`, 413, "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := host.Count()
			resp := g.do(t, "POST", path, tc.body, hdr...)
			assertLFSRefusal(t, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body, tc.status, tc.msg)
			if host.Count() != before {
				t.Error("a refused batch request reached the host")
			}
		})
	}
}
