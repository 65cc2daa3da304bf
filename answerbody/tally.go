package answerbody

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/patgate/patgate/enforce"
)

// Tally counts what an answer check removed from an answer: for the
// header that tells the client so, the decision record and the metrics.
// A check embeds it, and so reports its removals (gate.Removals).
type Tally struct {
	n        int
	owners   []string
	byReason [enforce.NumReasons]int
}

// Remove counts one removed element or object, refused for reason r.
func (t *Tally) Remove(r enforce.Reason) {
	t.n++
	if int(r) < len(t.byReason) {
		t.byReason[r]++
	}
}

// Owner notes the owner of something removed ("" for none known).
func (t *Tally) Owner(login string) {
	if login != "" {
		t.owners = append(t.owners, strings.ToLower(login))
	}
}

// Removed reports how many elements or objects were removed and whose
// they were (lowercase logins; sorted and without repeats once Mark ran).
func (t *Tally) Removed() (int, []string) { return t.n, t.owners }

// RemovedBy reports how many were removed for each reason.
func (t *Tally) RemovedBy() [enforce.NumReasons]int { return t.byReason }

// Mark sets the header of a checked answer of n bytes, which goes out
// decoded. When it lost something (SPEC §10) the validators go, since the
// answer is not the upstream's any more and a cache revalidating with them
// would be handed the upstream's to someone else, and X-PAT-Policy names
// the owners; an answer that lost nothing keeps them.
func (t *Tally) Mark(h http.Header, n int64) {
	h.Del("Content-Encoding")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if t.n == 0 {
		return
	}
	h.Del("ETag")
	h.Del("Last-Modified")
	slices.Sort(t.owners)
	t.owners = slices.Compact(t.owners)
	h.Set("X-PAT-Policy", "partial-results; organizations="+strings.Join(t.owners, ","))
}
