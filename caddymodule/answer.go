package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/target"
)

// retryAfter is the Retry-After, in seconds, of a 503: lookups and feeds
// usually come back within seconds.
const retryAfter = "5"

// writeDenial answers a refused request in the shape its client shows to
// its user.
func writeDenial(w http.ResponseWriter, r *http.Request, s target.Surface, d enforce.Decision) error {
	status := d.HTTPStatus()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	return writeError(w, r, s, status, d.Message())
}

// writeError writes a GitHub-style error.
//   - REST: {"message", "documentation_url", "status"} as GitHub's API does.
//   - GraphQL: the same plus "errors", which GraphQL clients print.
//   - LFS: application/vnd.git-lfs+json with a request_id.
//   - Git and web: text/plain, which git prints as "remote:" lines when
//     ref discovery fails.
func writeError(w http.ResponseWriter, r *http.Request, s target.Surface, status int, msg string) error {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	var body any
	switch s {
	case target.Git, target.Web:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, err := w.Write([]byte(msg + "\n"))
		return err
	case target.LFS:
		h.Set("Content-Type", "application/vnd.git-lfs+json")
		body = lfsError{Message: msg, DocumentationURL: enforce.DocumentationURL, RequestID: requestID(r)}
	case target.GraphQL:
		h.Set("Content-Type", "application/json; charset=utf-8")
		body = graphqlError{
			restError: restError{Message: msg, DocumentationURL: enforce.DocumentationURL, Status: strconv.Itoa(status)},
			Errors:    []graphqlErrorItem{{Type: graphqlType(status), Message: msg}},
		}
	default:
		h.Set("Content-Type", "application/json; charset=utf-8")
		body = restError{Message: msg, DocumentationURL: enforce.DocumentationURL, Status: strconv.Itoa(status)}
	}
	buf, err := json.Marshal(body)
	if err != nil {
		return err
	}
	w.WriteHeader(status)
	_, err = w.Write(buf)
	return err
}

type restError struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

type graphqlError struct {
	restError
	Errors []graphqlErrorItem `json:"errors"`
}

type graphqlErrorItem struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type lfsError struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	RequestID        string `json:"request_id"`
}

func graphqlType(status int) string {
	switch status {
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusBadRequest:
		return "BAD_REQUEST"
	}
	return "SERVICE_UNAVAILABLE"
}

// requestID is Caddy's per-request UUID, so a user's report can be matched
// with the access log.
func requestID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if v, ok := repl.GetString("http.request.uuid"); ok {
			return v
		}
	}
	return ""
}
