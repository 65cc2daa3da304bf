package answerbody

import (
	"net/http"
	"slices"
	"testing"

	"github.com/patgate/patgate/enforce"
)

// TestTally: a checked answer goes out decoded with its own length; one
// that lost nothing keeps its validators; one that lost
// something loses its validators and names each owner once, in order,
// lowercase, and the removals are counted by reason.
func TestTally(t *testing.T) {
	header := func() http.Header {
		return http.Header{"Content-Encoding": {"gzip"}, "Content-Length": {"99"}, "Etag": {`"e"`}, "Last-Modified": {"Tue, 01 Dec 2026 10:00:00 GMT"}, "Link": {`<…?page=2>; rel="next"`}}
	}
	var none Tally
	h := header()
	none.Mark(h, 7)
	if h.Get("ETag") == "" || h.Get("Last-Modified") == "" || h.Get("X-PAT-Policy") != "" || h.Get("Content-Length") != "7" {
		t.Fatalf("an answer that lost nothing: %v", h)
	}

	var tl Tally
	for _, r := range []struct {
		owner  string
		reason enforce.Reason
	}{{"Octo-Org", enforce.ReasonClassicRestricted}, {"acme", enforce.ReasonApprovalPending}, {"octo-org", enforce.ReasonClassicRestricted}, {"", enforce.ReasonUndetermined}} {
		tl.Remove(r.reason)
		tl.Owner(r.owner)
	}
	h = header()
	tl.Mark(h, 7)
	if h.Get("ETag") != "" || h.Get("Last-Modified") != "" || h.Get("Link") == "" || h.Get("Content-Encoding") != "" || h.Get("Content-Length") != "7" {
		t.Errorf("header after removals: %v", h)
	}
	if got := h.Get("X-PAT-Policy"); got != "partial-results; organizations=acme,octo-org" {
		t.Errorf("X-PAT-Policy %q", got)
	}
	n, owners := tl.Removed()
	by := tl.RemovedBy()
	if n != 4 || !slices.Equal(owners, []string{"acme", "octo-org"}) || by[enforce.ReasonClassicRestricted] != 2 || by[enforce.ReasonApprovalPending] != 1 || by[enforce.ReasonUndetermined] != 1 {
		t.Errorf("removed %d %v, by reason %v", n, owners, by)
	}
}
