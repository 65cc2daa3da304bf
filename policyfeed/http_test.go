package policyfeed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

func newFeedServer(body []byte) *githost.FeedServer {
	fs := &githost.FeedServer{}
	fs.Publish(body)
	return fs
}

func newHTTPSource(t *testing.T, url string) *HTTPSource {
	t.Helper()
	c, err := NewHTTPClient(5*time.Second, TLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &HTTPSource{URL: url, Client: c}
}

func TestHTTPSourceETag(t *testing.T) {
	fs := newFeedServer([]byte(`{"version": 1}`))
	srv := httptest.NewServer(fs)
	defer srv.Close()
	src := newHTTPSource(t, srv.URL+"/feed?token=secret")
	ctx := context.Background()
	if _, changed, err := src.Fetch(ctx); err != nil || !changed {
		t.Fatalf("first fetch: changed=%v err=%v", changed, err)
	}
	for range 3 {
		if _, changed, err := src.Fetch(ctx); err != nil || changed {
			t.Fatalf("unchanged feed: changed=%v err=%v", changed, err)
		}
	}
	if fs.OK.Load() != 1 || fs.NotModified.Load() != 3 {
		t.Errorf("200s %d, 304s %d; want 1 and 3", fs.OK.Load(), fs.NotModified.Load())
	}
	fs.Publish([]byte(`{"version": 2}`))
	if data, changed, err := src.Fetch(ctx); err != nil || !changed || string(data) != `{"version": 2}` {
		t.Fatalf("changed feed: %q changed=%v err=%v", data, changed, err)
	}
	if got := src.String(); got != srv.URL+"/feed" {
		t.Errorf("String() = %q: the query may hold a secret", got)
	}
	fs.SetDown(true)
	if _, _, err := src.Fetch(ctx); err == nil {
		t.Fatal("fetch from a failing server succeeded")
	}
}

// tlsFiles writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
func tlsFiles(t *testing.T) (dir string, serverCert tls.Certificate, caPool *x509.CertPool) {
	t.Helper()
	dir = t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	caPool = x509.NewCertPool()
	caPool.AddCert(ca)
	write := func(name string, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	sDER, sKey := leaf(2, x509.ExtKeyUsageServerAuth)
	serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, x509.ExtKeyUsageClientAuth)
	write("client.pem", "CERTIFICATE", cDER)
	keyDER, _ := x509.MarshalECPrivateKey(cKey)
	write("client-key.pem", "EC PRIVATE KEY", keyDER)
	return dir, serverCert, caPool
}

func TestHTTPSourceMutualTLS(t *testing.T) {
	dir, serverCert, caPool := tlsFiles(t)
	srv := httptest.NewUnstartedServer(newFeedServer([]byte(`{"version": 1}`)))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: caPool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	fetch := func(cfg TLSConfig) error {
		c, err := NewHTTPClient(5*time.Second, cfg)
		if err != nil {
			return err
		}
		_, _, err = (&HTTPSource{URL: srv.URL, Client: c}).Fetch(context.Background())
		return err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := fetch(TLSConfig{CAFile: ca, CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if err := fetch(TLSConfig{CAFile: ca}); err == nil {
		t.Error("without a client certificate: accepted")
	}
	if err := fetch(TLSConfig{CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}); err == nil {
		t.Error("without the CA: the server's certificate was trusted")
	}
	if _, err := NewHTTPClient(time.Second, TLSConfig{CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("a missing CA file accepted")
	}
}

// TestWatcherCacheAndRestart: the gateway keeps the last good signed feed;
// after a restart with the feed server down it starts from it, verified
// again; a tampered cache is refused, and so is a server feed older than
// the cached one.
func TestWatcherCacheAndRestart(t *testing.T) {
	k := keysOnce(t)
	v, err := NewVerifier(pubPEM(t, &k.ec.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v5 := mustSign(t, `{"version": 5}`, k.ec, false)
	fs := newFeedServer(v5)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "feeds", "last-good.jws")
	start := func() (*Watcher, *Store) {
		store := new(Store)
		w := NewWatcher(newHTTPSource(t, srv.URL), store, time.Hour, zap.NewNop())
		w.Verifier, w.CachePath = v, cache
		return w, store
	}
	w, store := start()
	if err := w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cached, err := os.ReadFile(cache); err != nil || string(cached) != string(v5) {
		t.Fatalf("cache holds %q (%v), want the signed feed as fetched", cached, err)
	}
	if store.Load().Version() != 5 {
		t.Fatal("feed not in force")
	}

	t.Run("restart with the source down", func(t *testing.T) {
		fs.SetDown(true)
		defer fs.SetDown(false)
		w, store := start()
		if err := w.LoadCache(); err != nil {
			t.Fatal(err)
		}
		if err := w.Refresh(context.Background()); err == nil {
			t.Fatal("refresh from a down server succeeded")
		}
		if p := store.Load(); p == nil || p.Version() != 5 {
			t.Fatalf("after restart: %v, want version 5 from the cache", p)
		}
	})
	t.Run("rollback below the cached version", func(t *testing.T) {
		w, store := start()
		if err := w.LoadCache(); err != nil {
			t.Fatal(err)
		}
		fs.Publish(mustSign(t, `{"version": 3}`, k.ec, false))
		if err := w.Refresh(context.Background()); !errors.Is(err, ErrRollback) {
			t.Fatalf("got %v, want ErrRollback", err)
		}
		if store.Load().Version() != 5 {
			t.Fatal("rollback took effect")
		}
	})
	t.Run("tampered cache", func(t *testing.T) {
		data, _ := os.ReadFile(cache)
		tampered := []byte(string(data[:len(data)-4]) + "AAAA")
		if err := os.WriteFile(cache, tampered, 0o600); err != nil {
			t.Fatal(err)
		}
		w, store := start()
		if err := w.LoadCache(); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("got %v, want ErrBadSignature", err)
		}
		if store.Load() != nil {
			t.Fatal("a tampered cache was loaded")
		}
	})
	t.Run("no cache yet", func(t *testing.T) {
		store := new(Store)
		w := NewWatcher(newHTTPSource(t, srv.URL), store, time.Hour, zap.NewNop())
		w.CachePath = filepath.Join(t.TempDir(), "none.jws")
		if err := w.LoadCache(); err != nil || store.Load() != nil {
			t.Fatalf("%v %v", err, store.Load())
		}
	})
}

// TestWatcherServerDownThenBack: polling backs off while the server is
// down and picks the feed up once it is back.
func TestWatcherServerDownThenBack(t *testing.T) {
	fs := newFeedServer([]byte(`{"version": 1}`))
	fs.SetDown(true)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	store := new(Store)
	w := NewWatcher(newHTTPSource(t, srv.URL), store, 20*time.Millisecond, zap.NewNop())
	w.MaxBackoff = 80 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	time.Sleep(300 * time.Millisecond)
	// Backing off: without it, 300 ms at 20 ms would be 15 requests.
	if n := fs.Requests.Load(); n > 10 {
		t.Errorf("%d requests to a down server in 300 ms with a 80 ms backoff cap", n)
	}
	if store.Load() != nil {
		t.Fatal("a feed from a down server")
	}
	fs.SetDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for store.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("feed not picked up after the server came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestWatcherTrigger(t *testing.T) {
	fs := newFeedServer([]byte(`{"version": 1}`))
	srv := httptest.NewServer(fs)
	defer srv.Close()
	store := new(Store)
	w := NewWatcher(newHTTPSource(t, srv.URL), store, time.Hour, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitVersion(t, store, 1)
	fs.Publish([]byte(`{"version": 2}`))
	w.Trigger()
	waitVersion(t, store, 2)
}

func waitVersion(t *testing.T, s *Store, v int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p := s.Load(); p != nil && p.Version() == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("version %d not in force", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBackoffDelays(t *testing.T) {
	w := NewWatcher(&FileSource{}, new(Store), time.Second, nil)
	w.MaxBackoff = 10 * time.Second
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
	}{
		{0, time.Second, time.Second},
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{10, 5 * time.Second, 10 * time.Second},
	} {
		for range 50 {
			if d := w.delay(tc.failures); d < tc.lo || d > tc.hi {
				t.Fatalf("after %d failures: %v, want within [%v, %v]", tc.failures, d, tc.lo, tc.hi)
			}
		}
	}
}

// TestSwapUnderConcurrentDecisions: requests decide while feeds are
// swapped; each sees a whole snapshot (a version's policy, never a mix) and
// versions never go backwards for a reader.
func TestSwapUnderConcurrentDecisions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.json")
	// Odd versions restrict classic PATs in octo-org, even ones allow them.
	feed := func(v int) []byte {
		access := "allow"
		if v%2 == 1 {
			access = "restrict"
		}
		return []byte(fmt.Sprintf(`{"version": %d, "organizations": [{"login": "octo-org", "classic": {"access": %q}}]}`, v, access))
	}
	if err := os.WriteFile(path, feed(1), 0o600); err != nil {
		t.Fatal(err)
	}
	store := new(Store)
	w := NewWatcher(&FileSource{Path: path}, store, time.Millisecond, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitVersion(t, store, 1)
	tok := enforce.Token{Class: tokenclass.Classic}
	tgt := target.Target{Scope: target.Repository, Owner: "octo-org", Name: "r", Access: target.Write}
	res := target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var decisions atomic.Int64
	for range 4 {
		wg.Go(func() {
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := store.Load()
				d := enforce.Decide(p, tok, tgt, res)
				decisions.Add(1)
				if p.Version() < last {
					t.Errorf("version went back from %d to %d", last, p.Version())
					return
				}
				last = p.Version()
				if wantDeny := p.Version()%2 == 1; (d.Outcome == enforce.Deny) != wantDeny {
					t.Errorf("version %d decided %s", p.Version(), d.Outcome)
					return
				}
			}
		})
	}
	for v := 2; v <= 30; v++ {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, feed(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		waitVersion(t, store, int64(v))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d decisions across 30 swaps", decisions.Load())
}
