package githost

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"sync/atomic"
)

// FeedServer is the enterprise's admin system publishing the policy feed,
// for tests: it serves the current body with an ETag, answers
// If-None-Match with 304, and can be taken down.
type FeedServer struct {
	mu   sync.Mutex
	body []byte
	down bool
	// Requests, OK and NotModified count what was asked and answered.
	Requests, OK, NotModified atomic.Int64
}

// Publish makes body the feed served from now on.
func (s *FeedServer) Publish(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// SetDown makes the server answer 503 (true) or serve again (false).
func (s *FeedServer) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *FeedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	s.mu.Lock()
	body, down := s.body, s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		s.NotModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.OK.Add(1)
	w.Header().Set("ETag", etag)
	_, _ = w.Write(body)
}
