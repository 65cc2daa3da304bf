package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/patgate/patgate/policyfeed"
)

// feeds holds the running feed watchers, shared by every handler with the
// same feed settings. A config reload provisions the new handlers before it
// cleans up the old ones, so the snapshot and its poller live on instead of
// being fetched again.
var feeds = caddy.NewUsagePool()

// activeFeeds lists the running feeds for the admin API.
var activeFeeds sync.Map // pool key → *feedState

// feedState is one running feed: its store, its watcher and the loop.
type feedState struct {
	key     string
	store   *policyfeed.Store
	watcher *policyfeed.Watcher
	source  string
	cancel  context.CancelFunc
	done    chan struct{}

	// accepted and succeeded are when a feed was last put in force and
	// when the source last answered with a good or unchanged feed (Unix
	// nanoseconds; 0 for never).
	accepted, succeeded atomic.Int64
}

// onResult keeps the feed's timestamps and metrics current.
func (f *feedState) onResult(metrics func(policyfeed.Result)) func(policyfeed.Result) {
	return func(r policyfeed.Result) {
		now := time.Now().UnixNano()
		if r.Accepted {
			f.accepted.Store(now)
		}
		if r.Err == nil {
			f.succeeded.Store(now)
		}
		metrics(r)
	}
}

// Destruct stops the loop when the last handler using the feed is gone.
func (f *feedState) Destruct() error {
	activeFeeds.Delete(f.key)
	f.cancel()
	<-f.done
	return nil
}

// feedSettings are the settings that make a feed; handlers with equal
// settings share one. The key file's contents are part of it, so a rotated
// key takes effect on reload.
type feedSettings struct {
	Source     string        `json:"source"`
	KeySHA     string        `json:"key_sha,omitempty"`
	Cache      string        `json:"cache"`
	Refresh    time.Duration `json:"refresh"`
	Timeout    time.Duration `json:"timeout"`
	CA         string        `json:"ca,omitempty"`
	ClientCert string        `json:"client_cert,omitempty"`
	ClientKey  string        `json:"client_key,omitempty"`
	// MaxSize is omitted at its default, so that the default keeps the
	// pool key it had before the setting existed.
	MaxSize int64 `json:"max_size,omitempty"`
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// feedSettings resolves the handler's feed configuration: placeholders,
// defaults (a file is checked every second, a URL every 30 seconds), and
// the default cache under Caddy's data directory.
func (h *Handler) feedSettings(repl *caddy.Replacer) (feedSettings, []byte, error) {
	s := feedSettings{
		Source:     repl.ReplaceAll(h.Feed, ""),
		Refresh:    time.Duration(h.FeedRefresh),
		Timeout:    time.Duration(h.FeedTimeout),
		CA:         repl.ReplaceAll(h.FeedCA, ""),
		ClientCert: repl.ReplaceAll(h.FeedClientCert, ""),
		ClientKey:  repl.ReplaceAll(h.FeedClientKey, ""),
	}
	if s.Refresh <= 0 {
		// One place for the defaults: the watcher's.
		s.Refresh = policyfeed.DefaultInterval
		if isURL(s.Source) {
			s.Refresh = policyfeed.DefaultURLInterval
		}
	}
	if s.Timeout <= 0 {
		s.Timeout = 60 * time.Second
	}
	switch {
	case h.FeedMaxSize < 0:
		return s, nil, fmt.Errorf("feed_max_size %d: want a positive number of bytes", h.FeedMaxSize)
	case h.FeedMaxSize != policyfeed.DefaultMaxSize:
		s.MaxSize = h.FeedMaxSize
	}
	switch cache := repl.ReplaceAll(h.FeedCache, ""); cache {
	case "off":
	case "":
		sum := sha256.Sum256([]byte(s.Source))
		s.Cache = filepath.Join(caddy.AppDataDir(), "patgate", "feed-"+hex.EncodeToString(sum[:8])+".cache")
	default:
		s.Cache = cache
	}
	var keyPEM []byte
	if h.FeedKey != "" {
		var err error
		path, err := expandSecret(repl, "feed_key", h.FeedKey)
		if err != nil {
			return s, nil, err
		}
		if keyPEM, err = os.ReadFile(path); err != nil {
			return s, nil, fmt.Errorf("feed_key: %w", err)
		}
		if len(bytes.TrimSpace(keyPEM)) == 0 {
			return s, nil, fmt.Errorf("feed_key %s is empty: a feed key must not be empty", path)
		}
		sum := sha256.Sum256(keyPEM)
		s.KeySHA = hex.EncodeToString(sum[:])
	}
	return s, keyPEM, nil
}

// startFeed returns the running feed for the settings, starting it if no
// handler runs it yet. A new feed loads its cache and fetches once before
// the handler serves, so a good feed is in force from the first request
// when one can be had; a missing or bad one is logged and PAT requests to
// enterprise resources get 503 until a good one arrives.
func startFeed(s feedSettings, keyPEM []byte, log *zap.Logger) (*feedState, string, error) {
	keyJSON, err := json.Marshal(s)
	if err != nil {
		return nil, "", err
	}
	key := string(keyJSON)
	val, _, err := feeds.LoadOrNew(key, func() (caddy.Destructor, error) {
		var src policyfeed.Source
		if isURL(s.Source) {
			client, err := policyfeed.NewHTTPClient(s.Timeout, policyfeed.TLSConfig{CAFile: s.CA, CertFile: s.ClientCert, KeyFile: s.ClientKey})
			if err != nil {
				return nil, err
			}
			src = &policyfeed.HTTPSource{URL: s.Source, Client: client}
		} else {
			src = &policyfeed.FileSource{Path: s.Source}
		}
		store := new(policyfeed.Store)
		w := policyfeed.NewWatcher(src, store, s.Refresh, log)
		runCtx, stop := context.WithCancel(context.Background())
		f := &feedState{key: key, store: store, watcher: w, source: src.String(), cancel: stop, done: make(chan struct{})}
		w.OnResult = f.onResult(feedResult(src.String(), store))
		w.CachePath = s.Cache
		w.MaxSize = s.MaxSize
		if keyPEM != nil {
			v, err := policyfeed.NewVerifier(keyPEM)
			if err != nil {
				stop()
				return nil, err
			}
			w.Verifier = v
		}
		if w.LoadCache() == nil && store.Load() != nil {
			f.accepted.Store(time.Now().UnixNano())
		}
		// (A bad cache is logged and must not stop the gateway.)
		ctx, cancel := context.WithTimeout(context.Background(), min(s.Timeout, 10*time.Second))
		if err := w.Refresh(ctx); err != nil {
			log.Error("policy feed not refreshed at start", zap.Stringer("source", src), zap.Error(err))
		}
		cancel()
		if store.Load() == nil {
			log.Error("no policy feed loaded yet; PAT requests to enterprise resources get 503 until one is", zap.Stringer("source", src))
		}
		go func() {
			defer close(f.done)
			w.Run(runCtx)
		}()
		activeFeeds.Store(key, f)
		return f, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*feedState), key, nil
}
