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

// Interface guards
var _ caddy.AdminRouter = (*adminAPI)(nil)
