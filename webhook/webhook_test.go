package webhook

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/patgate/patgate/lookup"
)

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"action":"privatized"}`)
	good := Sign(secret, body)
	tests := []struct {
		name, header string
		body         []byte
		want         error
	}{
		{"valid", good, body, nil},
		{"unsigned", "", body, ErrUnsigned},
		{"other body", good, []byte(`{"action":"publicized"}`), ErrBadSignature},
		{"sha1 header value", "sha1=" + good[7:], body, ErrBadSignature},
		{"not hex", "sha256=zz", body, ErrBadSignature},
		{"truncated", good[:20], body, ErrBadSignature},
		{"other secret", Sign([]byte("other"), body), body, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(secret, tc.body, tc.header); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestInvalidation(t *testing.T) {
	tests := []struct {
		name, event, body string
		want              lookup.Invalidation
		err               bool
	}{
		{"privatized", "repository", `{"action":"privatized","repository":{"id":7,"name":"r","full_name":"octo-org/r","owner":{"login":"octo-org"}}}`,
			lookup.Invalidation{Repositories: []string{"octo-org/r"}, RepositoryIDs: []int64{7}}, false},
		{"renamed", "repository", `{"action":"renamed","changes":{"repository":{"name":{"from":"old"}}},"repository":{"id":7,"name":"new","owner":{"login":"octo-org"}}}`,
			lookup.Invalidation{Repositories: []string{"octo-org/new", "octo-org/old"}, RepositoryIDs: []int64{7}}, false},
		{"transferred from a user", "repository", `{"action":"transferred","changes":{"owner":{"from":{"user":{"login":"bob"}}}},"repository":{"id":7,"name":"r","owner":{"login":"octo-org"}}}`,
			lookup.Invalidation{Repositories: []string{"octo-org/r", "bob/r"}, RepositoryIDs: []int64{7}}, false},
		{"transferred from an organization", "repository", `{"action":"transferred","changes":{"owner":{"from":{"organization":{"login":"old-org"}}}},"repository":{"id":7,"name":"r","owner":{"login":"octo-org"}}}`,
			lookup.Invalidation{Repositories: []string{"octo-org/r", "old-org/r"}, RepositoryIDs: []int64{7}}, false},
		{"made public", "public", `{"repository":{"id":7,"name":"r","owner":{"login":"octo-org"}}}`,
			lookup.Invalidation{Repositories: []string{"octo-org/r"}, RepositoryIDs: []int64{7}}, false},
		{"organization renamed", "organization", `{"action":"renamed","changes":{"login":{"from":"old"}},"organization":{"id":9,"login":"new"}}`,
			lookup.Invalidation{All: true}, false},
		{"organization deleted", "organization", `{"action":"deleted","organization":{"id":9,"login":"gone"}}`,
			lookup.Invalidation{All: true}, false},
		{"member added changes no lookup", "organization", `{"action":"member_added","organization":{"id":9,"login":"o"}}`, lookup.Invalidation{}, false},
		{"push changes no lookup", "push", `{"ref":"refs/heads/main"}`, lookup.Invalidation{}, false},
		{"ping", "ping", `{"zen":"Keep it logically awesome."}`, lookup.Invalidation{}, false},
		{"repository event without repository", "repository", `{"action":"privatized"}`, lookup.Invalidation{}, true},
		{"broken JSON", "repository", `{"action":`, lookup.Invalidation{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Invalidation(tc.event, []byte(tc.body))
			if tc.err != (err != nil) {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDeliveries(t *testing.T) {
	var d Deliveries
	now := time.Now()
	if !d.Fresh("a", now) || d.Fresh("a", now.Add(time.Minute)) {
		t.Fatal("a replayed delivery was taken as fresh")
	}
	if !d.Fresh("b", now) {
		t.Fatal("another delivery refused")
	}
	if !d.Fresh("a", now.Add(25*time.Hour)) {
		t.Fatal("an id outside the window is still remembered")
	}
}

// TestDeliveriesBounded: a flood of distinct signed deliveries cannot grow
// the memory past its bound; the oldest ids go first.
func TestDeliveriesBounded(t *testing.T) {
	d := Deliveries{Max: 1000}
	now := time.Now()
	for i := range 50_000 {
		if !d.Fresh(strconv.Itoa(i), now.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("delivery %d refused as a replay", i)
		}
		if d.Len() > 1000 {
			t.Fatalf("%d ids remembered, bound 1000", d.Len())
		}
	}
	if d.Fresh("49999", now.Add(50*time.Second)) {
		t.Fatal("a recent replay was accepted")
	}
	if !d.Fresh("0", now.Add(50*time.Second)) {
		t.Fatal("the oldest id should have been dropped")
	}
	if len(d.order) > 3000 {
		t.Fatalf("the order slice kept %d entries", len(d.order))
	}
}
