package integration

import (
	"net/http"
	"sync"
	"testing"
)

// TestColdPathOneLookup: 1,000 concurrent requests for one repository the
// gateway has not seen make exactly one call to the host's API. Without
// singleflight every request would ask; without the cache entry being
// visible before the flight ends, the stragglers would ask again.
func TestColdPathOneLookup(t *testing.T) {
	g, host := newGateway(t, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 1000}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	statuses := make(chan int, 1000)
	for range 1000 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", g.URL+"/api/v3/repos/octo-org/private", nil)
			req.Header.Set("Authorization", "token "+tokClassic)
			<-start
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	n := 0
	for s := range statuses {
		n++
		if s != 403 {
			t.Errorf("status %d, want 403", s)
		}
	}
	if n != 1000 {
		t.Fatalf("%d answers, want 1000", n)
	}
	if got := host.Lookups(); got != 1 {
		t.Errorf("%d lookups for one repository under 1,000 concurrent requests, want 1", got)
	}
}
