package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// curlLine is a README demo line: a curl command followed by "# <status>".
var curlLine = regexp.MustCompile(`^(curl .*\S)\s+#\s*(\d{3})\s*$`)

// TestREADMEDemo starts the gateway exactly as the README's first command
// does (Caddyfile.example, from the repository root) and runs every curl
// line of the README's demo, checking the status each line promises.
func TestREADMEDemo(t *testing.T) {
	needTool(t, "curl") // runs the README's demo lines as written
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	registerTokens(
		"ghp_demoClassicToken00000000000000000000",
		"github_pat_11DEMO0APPROVED_demoApprovedFineGrainedToken",
		"github_pat_11DEMO00PENDING_demoPendingFineGrainedToken",
		"github_pat_11DEMO000OWNER_demoOrgOwnerFineGrainedToken",
	)
	runCaddy(t, root, 8080, filepath.Join(root, "Caddyfile.example"), "")

	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := curlLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		lines++
		cmd, want := m[1], m[2]
		// Named by line, not by command: the command holds a token.
		t.Run(fmt.Sprintf("README.md line %d", n), func(t *testing.T) {
			out, err := exec.Command("sh", "-c", cmd+" -o /dev/null -w '%{http_code}'").Output()
			if err != nil {
				t.Fatalf("curl failed: %v", err)
			}
			if string(out) != want {
				t.Errorf("README line answered %s, the README says %s", out, want)
			}
		})
	}
	if lines < 5 {
		t.Fatalf("found %d curl lines in the README's demo, want at least 5", lines)
	}
}
