package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// ServeHTTP decides one request. Requests without a PAT pass untouched;
// every request with one leaves exactly one decision record.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cred, err := tokenclass.FromRequest(r)
	if err != nil {
		return h.badRequest(w, r, err)
	}
	if !cred.Class.IsPAT() {
		return next.ServeHTTP(w, r)
	}
	start := time.Now()
	tgt, err := h.resolver.Resolve(r)
	if err != nil {
		return h.badRequest(w, r, err)
	}
	if tgt.BodyDecides {
		if status, err := h.readLFSBatch(r, &tgt); err != nil {
			h.logger.Info("pat request refused: lfs batch body", zap.String("path", r.URL.Path), zap.Error(err))
			return writeError(w, r, tgt.Surface, status, "patgate: "+err.Error())
		}
	}
	pol := h.store.Load()
	tok := enforce.Token{Class: cred.Class, Fingerprint: cred.Fingerprint()}
	d, res, tok, lookup, lookupErr := h.decide(r, pol, cred, tok, tgt)
	forward := d.Outcome == enforce.Allow || h.report ||
		(h.FailOpen && d.Reason == enforce.ReasonLookupFailed)
	h.record(r, cred, tok, tgt, res, d, lookup, lookupErr, time.Since(start), forward)
	if forward {
		return next.ServeHTTP(w, r)
	}
	return writeDenial(w, r, tgt.Surface, d)
}

// readLFSBatch reads a Git LFS batch request's body, bounded, to learn
// whether it downloads or uploads, and puts the body back intact for the
// upstream. It returns the status to answer with when it cannot.
func (h *Handler) readLFSBatch(r *http.Request, tgt *target.Target) (int, error) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return http.StatusBadRequest, fmt.Errorf("%w: a %s-encoded body cannot be checked", target.ErrBadLFSBatch, ce)
	}
	limit := h.lfsBatchLimit()
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("%w: reading the body: %w", target.ErrBadLFSBatch, err)
	}
	if int64(len(body)) > limit {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: larger than the %d bytes the gateway checks", target.ErrBadLFSBatch, limit)
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	tgt.Access, err = target.LFSBatchAccess(body)
	if err != nil {
		return http.StatusBadRequest, err
	}
	tgt.BodyDecides = false
	return 0, nil
}

// decide runs the decision, looking up the facts it asks for one at a time,
// so that a request the policy settles by itself costs no lookup. lookup
// says how the facts came: "none" needed, all from the cache ("hit"), or at
// least one from the host ("miss").
func (h *Handler) decide(r *http.Request, pol *enforce.Policy, cred tokenclass.Credential, tok enforce.Token, tgt target.Target) (d enforce.Decision, res target.Resource, _ enforce.Token, lookup string, err error) {
	lookup = "none"
	// Three facts at most: the resource, the token's owner, and the owner
	// of the second resource a route names.
	for range 4 {
		d = enforce.Decide(pol, tok, tgt, res)
		var hit bool
		switch d.Outcome {
		case enforce.NeedResource:
			res, hit, err = h.lookups.Resource(r.Context(), tgt)
		case enforce.NeedAlso:
			var also target.Resource
			also, hit, err = h.lookups.Resource(r.Context(), *tgt.Also)
			res.AlsoKnown, res.AlsoOwner, res.AlsoOwnerType = true, also.OwnerLogin, also.OwnerType
		case enforce.NeedTokenOwner:
			tok.Owner, hit, err = h.lookups.TokenOwner(r.Context(), cred.Token, tok.Fingerprint)
			tok.OwnerKnown = true
		default:
			return d, res, tok, lookup, nil
		}
		switch {
		case !hit:
			lookup = "miss"
		case lookup == "none":
			lookup = "hit"
		}
		if err != nil {
			return enforce.LookupFailed(pol, tok), res, tok, lookup, err
		}
	}
	// A decision still asking for facts after it was given them is a bug;
	// fail closed rather than loop.
	return enforce.LookupFailed(pol, tok), res, tok, lookup, errors.New("decision did not settle")
}

// record writes the request's one decision record: denials at info, allows
// at debug. It names the token by its fingerprint prefix only.
func (h *Handler) record(r *http.Request, cred tokenclass.Credential, tok enforce.Token, tgt target.Target, res target.Resource, d enforce.Decision, lookup string, lookupErr error, took time.Duration, forwarded bool) {
	level := zapcore.DebugLevel
	if d.Outcome != enforce.Allow {
		level = zapcore.InfoLevel
	}
	ce := h.logger.Check(level, "pat decision")
	if ce == nil {
		return
	}
	decision := d.Outcome.String()
	if d.Outcome != enforce.Allow && h.report {
		decision = "would_" + decision
	}
	mode := ModeEnforce
	if h.report {
		mode = ModeReport
	}
	fields := []zap.Field{
		zap.String("decision", decision),
		zap.String("reason", d.Reason.String()),
		zap.String("mode", mode),
		zap.String("token_class", cred.Class.String()),
		zap.String("token", tok.Fingerprint.Prefix()),
		zap.String("scope", tgt.Scope.String()),
		zap.String("owner", tgt.Owner),
		zap.String("access", tgt.Access.String()),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Int64("feed_version", d.FeedVersion),
		zap.String("lookup", lookup),
		zap.Duration("took", took),
		zap.Bool("forwarded", forwarded),
	}
	if tok.Owner != "" {
		fields = append(fields, zap.String("token_owner", tok.Owner))
	}
	if tgt.Name != "" {
		fields = append(fields, zap.String("repository", tgt.Name))
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
	if lookupErr != nil {
		// Lookup errors carry URLs and statuses, never credentials.
		fields = append(fields, zap.Error(lookupErr))
	}
	ce.Write(fields...)
}
