package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves patgate's routes on Caddy's admin endpoint:
//
//	POST /pat-policy/refresh  fetch every policy feed now
//	GET  /pat-policy/status   feeds, caches and modes
//	POST /pat-policy/explain  the decision for a request, and why
//	GET  /pat-policy/requests the approval inbox [?organization=X]
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.pat_policy",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/pat-policy/refresh", Handler: caddy.AdminHandlerFunc(refreshFeeds)},
		{Pattern: "/pat-policy/status", Handler: caddy.AdminHandlerFunc(status)},
		{Pattern: "/pat-policy/explain", Handler: caddy.AdminHandlerFunc(explainHandler)},
		{Pattern: "/pat-policy/requests", Handler: caddy.AdminHandlerFunc(listRequests)},
	}
}

// feedReport is one feed's state in admin answers.
type feedReport struct {
	Source  string `json:"source"`
	Version int64  `json:"version"`
	Error   string `json:"error,omitempty"`
}

// refreshFeeds fetches every running feed at once, for an operator who has
// just published one and will not wait for the next poll. It answers when
// the fetches are done, with each feed's version in force.
func refreshFeeds(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use POST")}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	var reports []feedReport
	failed := 0
	activeFeeds.Range(func(_, v any) bool {
		f := v.(*feedState)
		rep := feedReport{Source: f.source}
		if err := f.watcher.Refresh(ctx); err != nil {
			rep.Error = err.Error()
			failed++
		}
		if p := f.store.Load(); p != nil {
			rep.Version = p.Version()
		}
		reports = append(reports, rep)
		return true
	})
	sort.Slice(reports, func(i, j int) bool { return reports[i].Source < reports[j].Source })
	if len(reports) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no pat_policy feed is running")}
	}
	if failed > 0 {
		buf, _ := json.Marshal(reports)
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("%d of %d feeds could not be refreshed: %s", failed, len(reports), buf)}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(reports)
}

// feedStatus is a running feed in the status answer.
type feedStatus struct {
	Source        string     `json:"source"`
	Version       int64      `json:"version"`
	Organizations int        `json:"organizations"`
	Tokens        int        `json:"tokens"`
	AcceptedAt    *time.Time `json:"accepted_at,omitempty"`
	AgeSeconds    float64    `json:"age_seconds,omitempty"`
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
	Signed        bool       `json:"signed"`
}

// handlerStatus is a handler in the status answer.
type handlerStatus struct {
	Feed                string   `json:"feed"`
	Mode                string   `json:"mode"`
	ReportOrganizations []string `json:"report_organizations,omitempty"`
	APIPrefix           string   `json:"api_prefix"`
	Lookup              string   `json:"lookup"`
	FailOpen            bool     `json:"fail_open"`
	CacheHits           int64    `json:"cache_hits"`
	CacheMisses         int64    `json:"cache_misses"`
	CacheHitRate        float64  `json:"cache_hit_rate"`
}

func timePtr(nanos int64) *time.Time {
	if nanos == 0 {
		return nil
	}
	t := time.Unix(0, nanos).UTC()
	return &t
}

// status answers what an operator checks first: which feed is in force and
// how old it is, how the lookup caches do, and which mode is on.
func status(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use GET")}
	}
	out := struct {
		Feeds    []feedStatus    `json:"feeds"`
		Handlers []handlerStatus `json:"handlers"`
	}{Feeds: []feedStatus{}, Handlers: []handlerStatus{}}
	activeFeeds.Range(func(_, v any) bool {
		f := v.(*feedState)
		fs := feedStatus{Source: f.source, AcceptedAt: timePtr(f.accepted.Load()), LastSuccessAt: timePtr(f.succeeded.Load()), Signed: f.watcher.Verifier != nil}
		if p := f.store.Load(); p != nil {
			fs.Version = p.Version()
			fs.Organizations, fs.Tokens = p.Counts()
		}
		if fs.AcceptedAt != nil {
			fs.AgeSeconds = time.Since(*fs.AcceptedAt).Seconds()
		}
		out.Feeds = append(out.Feeds, fs)
		return true
	})
	activeHandlers.Range(func(k, _ any) bool {
		h := k.(*Handler)
		st := h.lookups.Stats()
		hs := handlerStatus{Feed: h.feed.source, Mode: ModeEnforce, ReportOrganizations: h.ReportOrganizations,
			APIPrefix: h.resolver.APIPrefix(), Lookup: h.Lookup, FailOpen: h.FailOpen, CacheHits: st.Hits, CacheMisses: st.Misses}
		if h.report {
			hs.Mode = ModeReport
		}
		if n := st.Hits + st.Misses; n > 0 {
			hs.CacheHitRate = float64(st.Hits) / float64(n)
		}
		out.Handlers = append(out.Handlers, hs)
		return true
	})
	sort.Slice(out.Feeds, func(i, j int) bool { return out.Feeds[i].Source < out.Feeds[j].Source })
	sort.Slice(out.Handlers, func(i, j int) bool { return out.Handlers[i].Feed < out.Handlers[j].Feed })
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// explainHandler explains a request with every running handler:
//
//	curl -X POST localhost:2019/pat-policy/explain \
//	  -d '{"method":"GET","url":"https://git.example.com/api/v3/repos/o/r","token_fingerprint":"9f86…"}'
func explainHandler(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use POST")}
	}
	var q explainRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&q); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("explain request: %w", err)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var out []explanation
	activeHandlers.Range(func(k, _ any) bool {
		out = append(out, k.(*Handler).explainJSON(ctx, q))
		return true
	})
	if len(out) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no pat_policy handler is running")}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// Interface guards
var _ caddy.AdminRouter = (*adminAPI)(nil)
