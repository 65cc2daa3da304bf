package policyfeed

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// HTTPSource polls the feed from an HTTP(S) URL. It sends the ETag of the
// last answer as If-None-Match, so an unchanged feed costs a 304 and no
// parse; a 200 with the same bytes is not a change either. A body is read
// against the Expect it is given: a Content-Length over the bound is
// refused before the body is read, and a body is refused at its first
// byte over the bound or as soon as its first bytes show it is the wrong
// kind of feed.
type HTTPSource struct {
	// URL is the feed's address.
	URL string
	// Client makes the requests; NewHTTPClient builds one with timeouts
	// and TLS settings.
	Client *http.Client

	mu   sync.Mutex
	etag string
	// sum is the hash of the last body read, or refusalSum of its refusal.
	sum  [sha256.Size]byte
	read bool
}

// Fetch asks for the feed and reports whether it changed since the last
// successful Fetch.
func (s *HTTPSource) Fetch(ctx context.Context, exp Expect) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, false, fmt.Errorf("policy feed %s: %w", s, err)
	}
	req.Header.Set("Accept", "application/jwt, application/json")
	req.Header.Set("User-Agent", "patgate")
	s.mu.Lock()
	if s.read && s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	s.mu.Unlock()
	resp, err := s.Client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, query included; the source's
		// String is the safe name.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, false, fmt.Errorf("policy feed %s: %w", s, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, false, nil
	case http.StatusOK:
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, false, fmt.Errorf("policy feed %s: status %d", s, resp.StatusCode)
	}
	// On a refusal the deferred Close drops the connection with the rest
	// of the body unread: draining it is what a hostile source wants.
	data, err := readFeed(resp.Body, resp.ContentLength, exp)
	if err != nil && !isRefusal(err) {
		return nil, false, fmt.Errorf("policy feed %s: %w", s, err)
	}
	var sum [sha256.Size]byte
	if err != nil {
		err = fmt.Errorf("policy feed %s: %w", s, err)
		sum = refusalSum(err)
	} else {
		sum = sha256.Sum256(data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The ETag of a refused body is kept too: the server then answers
	// 304 until it has something else, which costs no read at all.
	s.etag = resp.Header.Get("ETag")
	if s.read && sum == s.sum {
		return nil, false, nil
	}
	s.sum, s.read = sum, true
	return data, err == nil, err
}

// String names the source without credentials or query, which may carry
// secrets.
func (s *HTTPSource) String() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// TLSConfig configures how the gateway reaches an HTTPS feed.
type TLSConfig struct {
	// CAFile, when set, replaces the system roots with these (PEM).
	CAFile string
	// CertFile and KeyFile are a client certificate for mTLS.
	CertFile, KeyFile string
}

// maxRedirects bounds the same-origin redirects a feed request follows.
const maxRedirects = 3

// NewHTTPClient returns a client for feed sources with a timeout for the
// whole request (a large feed needs more than a connect timeout), the TLS
// settings, and a redirect policy that stays on the feed's origin.
func NewHTTPClient(timeout time.Duration, t TLSConfig) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("feed CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("feed CA %s: no certificates", t.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("feed client certificate: %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: sameOrigin}, nil
}

// sameOrigin is the feed client's redirect policy: a redirect is followed
// only to the scheme, host and port the feed URL names, at most
// maxRedirects times. Whoever answers the feed URL must not be able to send
// the gateway elsewhere: to an internal address it would then fetch from
// (the body would be refused, but the request is made), or from https to
// http, where the feed travels in clear. The transport presents the mTLS
// client certificate to any server that asks for one during the handshake,
// so this check is also what keeps that certificate for the feed's own
// host: the client never connects to another.
func sameOrigin(req *http.Request, via []*http.Request) error {
	from := via[0].URL
	switch {
	case from.Scheme == "https" && req.URL.Scheme == "http":
		return fmt.Errorf("redirect from https to http (%s) refused", origin(req.URL))
	case origin(req.URL) != origin(from):
		return fmt.Errorf("redirect to another origin (%s) refused", origin(req.URL))
	case len(via) > maxRedirects:
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// origin is a URL's scheme://host:port, the port made explicit and the
// host lowercase, so that https://h and https://H:443 compare equal. It
// carries no path, query or credentials, so it may go into errors and logs.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
