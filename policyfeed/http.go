package policyfeed

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// HTTPSource polls the feed from an HTTP(S) URL. It sends the ETag of the
// last answer as If-None-Match, so an unchanged feed costs a 304 and no
// parse; a 200 with the same bytes is not a change either.
type HTTPSource struct {
	// URL is the feed's address.
	URL string
	// Client makes the requests; NewHTTPClient builds one with timeouts
	// and TLS settings.
	Client *http.Client

	mu   sync.Mutex
	etag string
	sum  [sha256.Size]byte
	read bool
}

// Fetch asks for the feed and reports whether it changed since the last
// successful Fetch.
func (s *HTTPSource) Fetch(ctx context.Context) ([]byte, bool, error) {
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("policy feed %s: reading: %w", s, err)
	}
	if len(data) > maxFeedSize {
		return nil, false, fmt.Errorf("policy feed %s: larger than %d bytes", s, maxFeedSize)
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.etag = resp.Header.Get("ETag")
	if s.read && sum == s.sum {
		return nil, false, nil
	}
	s.sum, s.read = sum, true
	return data, true, nil
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

// NewHTTPClient returns a client for feed sources with a timeout for the
// whole request (a large feed needs more than a connect timeout) and the
// TLS settings.
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
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}
