package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/target"
)

// ServeHTTP decides one request with the gate. Requests without a PAT pass
// untouched; every request with one leaves exactly one record, written by
// the deferred call below whatever way the request leaves.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	var rec gate.Record
	h.gate.Check(r, &rec)
	if rec.Action == gate.Pass {
		return next.ServeHTTP(w, r)
	}
	defer h.write(w, r, &rec)
	switch rec.Action {
	case gate.Reject:
		return writeError(w, r, rec.Surface, rec.Status, "patgate: "+rec.Malformed.Error())
	case gate.Refuse:
		return writeDenial(w, r, rec.Surface, rec.Decision)
	}
	if rec.Answer != nil {
		return serveChecked(w, r, next, rec.Answer, rec.Surface)
	}
	return next.ServeHTTP(w, r)
}

// write writes the request's decision record and counts it: refusals at
// info, allows at debug (info with log_allowed). It names the token by its
// fingerprint prefix only, and reads the token's owner from the policy
// snapshot that decided, not from the one in force by now.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, rec *gate.Record) {
	if rec.Malformed != nil {
		h.logMalformed(r, rec.Status, rec.Malformed)
		if !rec.NoCredential {
			countMalformed(rec.Cred.Class)
		}
		return
	}
	d := rec.Decision
	if rm, ok := rec.Answer.(gate.Removals); ok {
		countRemoved(rm.RemovedBy())
	}
	decision, mode := d.Outcome.String(), ModeEnforce
	if rec.Waived {
		decision, mode = "would_"+decision, ModeReport
	}
	countDecision(decision, d, rec.Cred.Class, mode)
	if d.Outcome == enforce.Deny {
		h.noteRefusal(rec, tokenOwner(rec))
	}
	level := zapcore.DebugLevel
	if d.Outcome != enforce.Allow || h.LogAllowed {
		level = zapcore.InfoLevel
	}
	ce := h.logger.Check(level, "pat decision")
	if ce == nil {
		return
	}
	tgt, res, tok := rec.Target, rec.Resource, rec.Token
	fields := []zap.Field{
		zap.String("decision", decision),
		zap.String("reason", d.Reason.String()),
		zap.String("mode", mode),
		zap.String("token_class", rec.Cred.Class.String()),
		zap.String("token", tok.Fingerprint.Prefix()),
		zap.String("scope", tgt.Scope.String()),
		zap.String("owner", tgt.Owner),
		zap.String("access", tgt.Access.String()),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Int64("feed_version", d.FeedVersion),
		zap.String("lookup", rec.Lookup),
		zap.Duration("took", time.Since(rec.Start)),
		zap.Bool("forwarded", rec.Action == gate.Forward),
		// The ID the user sees: the host's X-GitHub-Request-Id on a
		// forwarded request (SPEC §12), which joins this record to the
		// host's own; on a refusal, Caddy's, which the refusal names.
		zap.String("request_id", recordRequestID(w, r, rec)),
		zap.String("uuid", requestID(r)),
		// GitHub's audit log names a token by this (SPEC §12).
		zap.String("hashed_token", tok.Fingerprint.AuditForm()),
	}
	if owner := tokenOwner(rec); owner != "" {
		fields = append(fields, zap.String("token_owner", owner))
	}
	if tgt.Name != "" {
		fields = append(fields, zap.String("repository", tgt.Name))
	}
	if tgt.IDKind != target.IDNone {
		fields = append(fields, zap.String("id_kind", tgt.IDKind.String()), zap.Int64("id", tgt.ID))
	}
	if res.Known {
		fields = append(fields,
			zap.String("resource_owner", res.OwnerLogin),
			zap.String("owner_type", res.OwnerType.String()),
			zap.String("visibility", res.Visibility.String()))
	}
	if d.Subject != "" {
		fields = append(fields, zap.String("subject", d.Subject))
	}
	if rm, ok := rec.Answer.(gate.Removals); ok {
		if n, owners := rm.Removed(); n > 0 {
			fields = append(fields, zap.Int("removed", n), zap.Strings("removed_owners", owners))
		}
	}
	if rec.LookupErr != nil {
		// Lookup errors carry URLs and statuses, never credentials.
		fields = append(fields, zap.Error(rec.LookupErr))
	}
	ce.Write(fields...)
}

// logMalformed records a request refused because the gateway cannot check
// it. The error texts never carry a token.
func (h *Handler) logMalformed(r *http.Request, status int, err error) {
	h.logger.Info("pat request refused as malformed",
		zap.Int("status", status), zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.String("request_id", requestID(r)), zap.Error(err))
}

// recordRequestID is the request_id of a decision record: for a forwarded
// request, the upstream's X-GitHub-Request-Id when it sent one; otherwise
// Caddy's request UUID.
func recordRequestID(w http.ResponseWriter, r *http.Request, rec *gate.Record) string {
	if rec.Action == gate.Forward {
		if id := w.Header().Get("X-GitHub-Request-Id"); id != "" {
			return id
		}
	}
	return requestID(r)
}

// tokenOwner is the token's owner as the record knows it: from the host,
// else from the policy snapshot that decided.
func tokenOwner(rec *gate.Record) string {
	if rec.Token.Owner != "" {
		return rec.Token.Owner
	}
	if p := rec.Policy; p != nil {
		if tr := p.Token(rec.Token.Fingerprint); tr != nil {
			return tr.Owner
		}
	}
	return ""
}
