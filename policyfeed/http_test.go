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
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/internal/githost"
	"github.com/patgate/patgate/internal/heappeak"
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
	if _, changed, err := src.Fetch(ctx, Expect{}); err != nil || !changed {
		t.Fatalf("first fetch: changed=%v err=%v", changed, err)
	}
	for range 3 {
		if _, changed, err := src.Fetch(ctx, Expect{}); err != nil || changed {
			t.Fatalf("unchanged feed: changed=%v err=%v", changed, err)
		}
	}
	if fs.OK.Load() != 1 || fs.NotModified.Load() != 3 {
		t.Errorf("200s %d, 304s %d; want 1 and 3", fs.OK.Load(), fs.NotModified.Load())
	}
	fs.Publish([]byte(`{"version": 2}`))
	if data, changed, err := src.Fetch(ctx, Expect{}); err != nil || !changed || string(data) != `{"version": 2}` {
		t.Fatalf("changed feed: %q changed=%v err=%v", data, changed, err)
	}
	if got := src.String(); got != srv.URL+"/feed" {
		t.Errorf("String() = %q: the query may hold a secret", got)
	}
	fs.SetDown(true)
	if _, _, err := src.Fetch(ctx, Expect{}); err == nil {
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
		_, _, err = (&HTTPSource{URL: srv.URL, Client: c}).Fetch(context.Background(), Expect{})
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

// TestWatcherServerDownThenBack: polling goes on while the server is down
// and picks the feed up once it is back.
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
	// Wait for a few failed attempts (TestDelay checks how far apart
	// they are).
	for deadline := time.Now().Add(5 * time.Second); fs.Requests.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the watcher stopped asking a down server")
		}
		time.Sleep(5 * time.Millisecond)
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

// countingTransport counts the response body bytes the client reads: what a
// source took from the network, whatever the kernel buffered beyond it.
type countingTransport struct {
	rt   http.RoundTripper
	read *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if resp != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// streamFeed answers with prefix, then fill repeated, n bytes in all,
// generated as it goes so the test holds none of it. It stops when the
// client hangs up, and counts what it wrote. With announce it sends a
// Content-Length of n, flushes the headers and writes nothing until the
// client hangs up: a client that read the body would wait for it.
func streamFeed(prefix, fill string, n int64, announce bool, wrote *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if announce {
			w.Header().Set("Content-Length", fmt.Sprint(n))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		src := &repeatReader{prefix: []byte(prefix), fill: []byte(fill), n: n}
		buf := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			k, err := src.Read(buf)
			if err != nil {
				return
			}
			k, err = w.Write(buf[:k])
			wrote.Add(int64(k))
			if err != nil {
				return
			}
		}
	}
}

// TestHTTPSourceBoundsMemory is issue 13's story: a feed URL serving 900 MB
// of junk, with feed_key set, used to be read whole before its signature
// was looked at, taking the gateway to 2.2 GB every 30 seconds. A source
// that is hostile or broken must not be able to exhaust memory: junk is
// refused after its first bytes, a JWS whose header is good but whose body
// is junk where the junk starts, a feed that is too large at the bound,
// and one whose Content-Length is too large before its body is read.
func TestHTTPSourceBoundsMemory(t *testing.T) {
	v := ecVerifier(t)
	es256 := b64(`{"alg":"ES256","typ":"JWT"}`)
	// Junk: bytes of a fixed random block, as a broken proxy or a wrong
	// file would serve.
	junk := make([]byte, 1<<20)
	_, _ = mrand.NewChaCha8([32]byte{13}).Read(junk)
	junk[0] = 0xff // not "{" nor base64url, whatever the seed
	const junkSize = 900_000_000
	tests := []struct {
		name     string
		prefix   string
		fill     string
		announce bool // send Content-Length and no body
		exp      Expect
		wantErr  error
		wantMsg  string
		maxRead  int64
	}{
		{name: "900 MB of junk with a key", fill: string(junk), exp: Expect{Verifier: v},
			wantErr: ErrBadSignature, wantMsg: "neither JSON nor a compact JWS", maxRead: firstRead},
		{name: "900 MB of junk without a key", fill: string(junk),
			wantErr: ErrInvalidFeed, wantMsg: "neither JSON nor a compact JWS", maxRead: firstRead},
		{name: "a good JWS header, then endless junk", prefix: es256 + ".", fill: string(junk), exp: Expect{Verifier: v},
			wantErr: ErrBadSignature, wantMsg: "is not base64url", maxRead: firstRead},
		{name: "a good JWS header, then endless base64url", prefix: es256 + ".", fill: "QUFB", exp: Expect{Verifier: v, MaxSize: 8 << 20},
			wantErr: ErrTooLarge, wantMsg: "larger than 8388608 bytes", maxRead: 8<<20 + 1},
		{name: "an unsigned feed of 900 MB with a key", prefix: `{"version": 1, "tokens": [`, fill: `{"sha256": "x"},`, exp: Expect{Verifier: v},
			wantErr: ErrUnsigned, maxRead: firstRead},
		{name: "a JSON feed of 900 MB without a key, 8 MiB bound", prefix: `{"version": 1, "tokens": [`, fill: `{"sha256": "x"},`, exp: Expect{MaxSize: 8 << 20},
			wantErr: ErrTooLarge, wantMsg: "larger than 8388608 bytes", maxRead: 8<<20 + 1},
		{name: "Content-Length of 900 MB", announce: true, exp: Expect{Verifier: v},
			wantErr: ErrTooLarge, wantMsg: "900000000 bytes, larger than 268435456 bytes", maxRead: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wrote, read atomic.Int64
			srv := httptest.NewServer(streamFeed(tc.prefix, tc.fill, junkSize, tc.announce, &wrote))
			defer srv.Close()
			src := newHTTPSource(t, srv.URL)
			src.Client.Transport = countingTransport{rt: src.Client.Transport, read: &read}
			var err error
			use := heappeak.Measure(func() { _, _, err = src.Fetch(context.Background(), tc.exp) })
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Fetch = %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
			}
			t.Logf("refused after reading %d bytes (server wrote %d) in %v; heap peak +%.1f MiB, allocated %.1f MiB",
				read.Load(), wrote.Load(), use.Took.Round(time.Millisecond), float64(use.Peak)/(1<<20), float64(use.Total)/(1<<20))
			if read.Load() > tc.maxRead {
				t.Errorf("read %d bytes before refusing, want at most %d", read.Load(), tc.maxRead)
			}
			if tc.announce && wrote.Load() != 0 {
				t.Errorf("the server wrote %d bytes of body, want none", wrote.Load())
			}
			if use.Peak > 32<<20 {
				t.Errorf("the heap grew by %d bytes, want less than 32 MiB", use.Peak)
			}
		})
	}
}

// TestHTTPSourceRefusalReportedOnce: a refused feed that stays on the server
// is reported once, like an unchanged feed, not at every poll; a good one
// then goes through.
func TestHTTPSourceRefusalReportedOnce(t *testing.T) {
	k := keysOnce(t)
	v := ecVerifier(t)
	fs := newFeedServer([]byte(`{"version": 1}`))
	srv := httptest.NewServer(fs)
	defer srv.Close()
	src := newHTTPSource(t, srv.URL)
	exp := Expect{Verifier: v}
	steps := []struct {
		name        string
		publish     []byte
		wantErr     error
		wantChanged bool
	}{
		{name: "unsigned feed with a key", wantErr: ErrUnsigned},
		{name: "the same again: a 304"},
		{name: "signed", publish: mustSign(t, `{"version": 2}`, k.ec, false), wantChanged: true},
		{name: "too large", publish: mustSign(t, `{"version": 3, "enterprise": {"slug": "a very long slug"}}`, k.ec, false), wantErr: ErrTooLarge},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.publish != nil {
				fs.Publish(st.publish)
			}
			if st.wantErr == ErrTooLarge {
				exp.MaxSize = 100
			}
			_, changed, err := src.Fetch(context.Background(), exp)
			if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) || changed != st.wantChanged {
				t.Fatalf("Fetch = changed %v, %v; want changed %v, %v", changed, err, st.wantChanged, st.wantErr)
			}
		})
	}
	if n := fs.NotModified.Load(); n != 1 {
		t.Errorf("%d answers 304, want 1: the refused feed's ETag is sent back", n)
	}
}

// TestHTTPClientRedirects: whoever answers the feed URL may move it on its
// own origin, and nowhere else. A redirect to another host or port could
// point the gateway at an internal service, one from https to http would
// fetch the feed in clear, and with mTLS either would present the client
// certificate to a server that has no business seeing it; the other origin
// must not even be connected to.
func TestHTTPClientRedirects(t *testing.T) {
	dir, serverCert, caPool := tlsFiles(t)
	feed := []byte(`{"version": 1}`)
	// other is the origin a redirect must not reach; it counts the
	// connections made to it.
	type other struct {
		srv   *httptest.Server
		conns atomic.Int64
	}
	newOther := func(t *testing.T, tlsOn bool) *other {
		o := &other{}
		o.srv = httptest.NewUnstartedServer(newFeedServer(feed))
		o.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				o.conns.Add(1)
			}
		}
		if tlsOn {
			// It asks for a client certificate, as a server that
			// collects them would.
			o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequestClientCert}
			o.srv.StartTLS()
		} else {
			o.srv.Start()
		}
		t.Cleanup(o.srv.Close)
		return o
	}
	// feedServer serves the feed at /feed and redirects /start to where
	// to(o) says.
	feedServer := func(t *testing.T, tlsOn bool, to func(self string) string) string {
		mux := http.NewServeMux()
		var self string
		mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to(self), http.StatusFound)
		})
		mux.Handle("/feed", newFeedServer(feed))
		srv := httptest.NewUnstartedServer(mux)
		if tlsOn {
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: caPool, ClientAuth: tls.RequireAndVerifyClientCert}
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		self = srv.URL
		return srv.URL + "/start"
	}
	mtls := TLSConfig{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	tests := []struct {
		name    string
		tls     bool
		other   bool // whether the redirect goes to another server, over TLS when tls
		otherTo func(o *other) func(self string) string
		to      func(self string) string
		wantMsg string // "" for a feed fetched
	}{
		{name: "same origin, relative", to: func(string) string { return "/feed" }},
		{name: "same origin, absolute", to: func(self string) string { return self + "/feed?x=1" }},
		{name: "same origin over mTLS", tls: true, to: func(self string) string { return self + "/feed" }},
		{name: "loop", to: func(string) string { return "/start" }, wantMsg: "stopped after 3 redirects"},
		{name: "another port", other: true,
			otherTo: func(o *other) func(string) string {
				return func(string) string { return o.srv.URL + "/feed?token=secret" }
			},
			wantMsg: "redirect to another origin (http://127.0.0.1:"},
		{name: "another host name, same port",
			to:      func(self string) string { return strings.Replace(self, "127.0.0.1", "localhost", 1) + "/feed" },
			wantMsg: "redirect to another origin (http://localhost:"},
		{name: "https to http", tls: true, other: true,
			otherTo: func(o *other) func(string) string {
				return func(string) string { return strings.Replace(o.srv.URL, "https://", "http://", 1) + "/feed" }
			},
			wantMsg: "redirect from https to http (http://127.0.0.1:"},
		{name: "https to http on the same port", tls: true,
			to:      func(self string) string { return strings.Replace(self, "https://", "http://", 1) + "/feed" },
			wantMsg: "redirect from https to http"},
		{name: "mTLS to another host that asks for certificates", tls: true, other: true,
			otherTo: func(o *other) func(string) string { return func(string) string { return o.srv.URL + "/feed" } },
			wantMsg: "redirect to another origin (https://127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o *other
			to := tc.to
			if tc.other {
				o = newOther(t, tc.tls)
				to = tc.otherTo(o)
			}
			start := feedServer(t, tc.tls, to)
			cfg := TLSConfig{}
			if tc.tls {
				cfg = mtls
			}
			c, err := NewHTTPClient(5*time.Second, cfg)
			if err != nil {
				t.Fatal(err)
			}
			data, _, err := (&HTTPSource{URL: start, Client: c}).Fetch(context.Background(), Expect{})
			if tc.wantMsg == "" {
				if err != nil || string(data) != string(feed) {
					t.Fatalf("Fetch = %q, %v; want the feed", data, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Fetch = %v, want an error with %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q repeats the query", err)
			}
			if o != nil && o.conns.Load() != 0 {
				t.Errorf("%d connections to the other origin, want none", o.conns.Load())
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"https://feed.example", "https://FEED.example:443/x"},
		{"http://feed.example/feed", "http://feed.example:80"},
		{"https://[::1]:8443/a", "https://[::1]:8443/b?q"},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if origin(a) != origin(b) {
			t.Errorf("origin(%s) = %s, origin(%s) = %s: want them equal", tc.a, origin(a), tc.b, origin(b))
		}
	}
	a, _ := url.Parse("https://feed.example")
	b, _ := url.Parse("http://feed.example:443")
	if origin(a) == origin(b) {
		t.Error("https and http on one port have one origin")
	}
}

// TestDelay: after failures the wait doubles from the interval up to
// MaxBackoff, with jitter over its upper half only, so it is never below
// half the backed-off delay; without failures it is the interval.
func TestDelay(t *testing.T) {
	w := &Watcher{interval: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
	}{
		{0, 20 * time.Millisecond, 20 * time.Millisecond},
		{1, 10 * time.Millisecond, 20 * time.Millisecond},
		{2, 20 * time.Millisecond, 40 * time.Millisecond},
		{3, 40 * time.Millisecond, 80 * time.Millisecond},
		{10, 40 * time.Millisecond, 80 * time.Millisecond},
	} {
		for range 200 {
			if d := w.delay(tc.failures); d < tc.lo || d > tc.hi {
				t.Fatalf("after %d failures: %v, want %v to %v", tc.failures, d, tc.lo, tc.hi)
			}
		}
	}
	// Without MaxBackoff the ceiling is five minutes.
	w.MaxBackoff = 0
	if d := w.delay(30); d < 150*time.Second || d > 5*time.Minute {
		t.Fatalf("default ceiling: %v", d)
	}
}
