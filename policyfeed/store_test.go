package policyfeed

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/patgate/patgate/enforce"
)

func policyAt(t testing.TB, version int64) *enforce.Policy {
	t.Helper()
	p, err := enforce.NewPolicy(version, enforce.DefaultEnterprise(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStoreOffer(t *testing.T) {
	tests := []struct {
		name    string
		current int64 // 0: empty store
		offered int64
		wantErr error
		want    int64 // version in force afterwards
	}{
		{name: "first feed", current: 0, offered: 5, want: 5},
		{name: "newer swaps", current: 5, offered: 6, want: 6},
		{name: "much newer swaps", current: 5, offered: 500, want: 500},
		{name: "same version is a no-op", current: 5, offered: 5, wantErr: ErrSameVersion, want: 5},
		{name: "older is a rollback", current: 5, offered: 4, wantErr: ErrRollback, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Store
			var cur *enforce.Policy
			if tt.current != 0 {
				cur = policyAt(t, tt.current)
				if err := s.Offer(cur); err != nil {
					t.Fatal(err)
				}
			}
			offered := policyAt(t, tt.offered)
			err := s.Offer(offered)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Offer = %v, want %v", err, tt.wantErr)
			}
			got := s.Load()
			if got.Version() != tt.want {
				t.Errorf("Load().Version() = %d, want %d", got.Version(), tt.want)
			}
			// A rejected offer keeps the very snapshot that was in force,
			// not an equal-looking one.
			if tt.wantErr != nil && got != cur {
				t.Errorf("Load() = %p, want the snapshot in force %p", got, cur)
			}
			if tt.wantErr == nil && got != offered {
				t.Errorf("Load() = %p, want the offered snapshot %p", got, offered)
			}
		})
	}
}

func TestStoreRollbackMessage(t *testing.T) {
	var s Store
	if err := s.Offer(policyAt(t, 9)); err != nil {
		t.Fatal(err)
	}
	err := s.Offer(policyAt(t, 3))
	if err == nil || err.Error() != "feed version rollback: version 3 is older than version 9 in force" {
		t.Errorf("Offer = %v, want a rollback naming both versions", err)
	}
}

func TestStoreEmpty(t *testing.T) {
	var s Store
	if p := s.Load(); p != nil {
		t.Errorf("Load() on an empty store = %v, want nil", p)
	}
	if err := s.Offer(nil); err == nil {
		t.Error("Offer(nil) = nil, want an error")
	}
	if p := s.Load(); p != nil {
		t.Errorf("Load() after Offer(nil) = %v, want nil", p)
	}
}

// TestStoreConcurrent offers versions in random order from many goroutines
// while others read: the version in force must end at the maximum, and no
// reader may ever see it go down. Run with -race.
func TestStoreConcurrent(t *testing.T) {
	const (
		writers  = 8
		perWrite = 200
		readers  = 4
	)
	policies := make([]*enforce.Policy, writers*perWrite)
	for i := range policies {
		policies[i] = policyAt(t, int64(i+1))
	}
	rand.Shuffle(len(policies), func(i, j int) { policies[i], policies[j] = policies[j], policies[i] })

	var s Store
	done := make(chan struct{})
	var readWG sync.WaitGroup
	for range readers {
		readWG.Go(func() {
			var last int64
			for {
				if p := s.Load(); p != nil {
					if v := p.Version(); v < last {
						t.Errorf("Load went from version %d to %d", last, v)
						return
					} else {
						last = v
					}
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}

	var writeWG sync.WaitGroup
	for w := range writers {
		mine := policies[w*perWrite : (w+1)*perWrite]
		writeWG.Go(func() {
			for _, p := range mine {
				if err := s.Offer(p); err != nil && !errors.Is(err, ErrRollback) && !errors.Is(err, ErrSameVersion) {
					t.Errorf("Offer(%d) = %v", p.Version(), err)
				}
			}
		})
	}
	writeWG.Wait()
	close(done)
	readWG.Wait()

	if got, want := s.Load().Version(), int64(len(policies)); got != want {
		t.Errorf("final version = %d, want the maximum offered %d", got, want)
	}
}

func BenchmarkStoreLoad(b *testing.B) {
	var s Store
	if err := s.Offer(policyAt(b, 1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.Load() == nil {
				b.Fatal("nil policy")
			}
		}
	})
}
