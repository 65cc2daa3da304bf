package caddymodule

import (
	"bytes"
	"context"
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
	"github.com/patgate/patgate/graphql"
	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// record is what one PAT request's decision record says. It is filled as
// the request is decided and written once, at the handler's single exit.
type record struct {
	start     time.Time
	cred      tokenclass.Credential
	tok       enforce.Token
	tgt       target.Target
	res       target.Resource
	d         enforce.Decision
	lookup    string // none, hit or miss
	lookupErr error
	malformed error // set when the request was refused with 400 or 413
	status    int   // the status of a malformed request's answer
	forwarded bool
	report    bool // the decision was made in report mode
}

// ServeHTTP decides one request. Requests without a PAT pass untouched;
// every request with one leaves exactly one decision record, written by the
// deferred call below whatever way the request leaves.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.WebhookPath != "" && r.URL.Path == h.WebhookPath {
		return h.serveWebhook(w, r)
	}
	cred, err := tokenclass.FromRequest(r)
	if err != nil {
		// No credential can be trusted here, so no decision record: one
		// "malformed" record instead.
		h.logMalformed(r, http.StatusBadRequest, err)
		return writeError(w, r, h.resolver.Surface(r), http.StatusBadRequest, "patgate: "+err.Error())
	}
	if !cred.Class.IsPAT() {
		return next.ServeHTTP(w, r)
	}
	rec := &record{start: time.Now(), cred: cred, lookup: "none"}
	defer h.write(r, rec)

	rec.tgt, err = h.resolver.Resolve(r)
	if err != nil {
		rec.malformed, rec.status = err, http.StatusBadRequest
		return writeError(w, r, h.resolver.Surface(r), http.StatusBadRequest, "patgate: "+err.Error())
	}
	if rec.tgt.BodyDecides {
		if status, err := h.readLFSBatch(r, &rec.tgt); err != nil {
			rec.malformed, rec.status = err, status
			return writeError(w, r, rec.tgt.Surface, status, "patgate: "+err.Error())
		}
	}
	pol := h.store.Load()
	rec.tok = enforce.Token{Class: cred.Class, Fingerprint: cred.Fingerprint()}
	if rec.tgt.Surface == target.GraphQL {
		// Only a token some policy could restrict is worth parsing for.
		targets := []target.Target{{Scope: target.Unscoped, Surface: target.GraphQL, Access: rec.tgt.Access}}
		if pol == nil || pol.RestrictsClass(cred.Class) {
			var status int
			if targets, status, err = h.graphqlTargets(r); err != nil {
				rec.malformed, rec.status = err, status
				return writeError(w, r, target.GraphQL, status, "patgate: "+err.Error())
			}
		}
		h.decideAll(r, pol, cred, rec, targets)
	} else {
		rec.d, rec.res, rec.tok, rec.lookup, rec.lookupErr = h.decide(r.Context(), pol, cred.Token, rec.tok, rec.tgt)
	}
	rec.forwarded, rec.report = h.forwards(pol, rec.d)
	if rec.forwarded {
		return next.ServeHTTP(w, r)
	}
	return writeDenial(w, r, rec.tgt.Surface, rec.d)
}

// inReport says whether a refusal falls under report mode: the handler's
// mode, the organizations its config lists, or an organization the feed
// puts in report mode.
func (h *Handler) inReport(pol *enforce.Policy, d enforce.Decision) bool {
	if h.report {
		return true
	}
	// A second resource of another owner is that owner's business, which
	// the subject's report mode must not decide.
	if d.Subject == "" || d.Reason == enforce.ReasonOwnerMismatch {
		return false
	}
	if h.reportOrgs[strings.ToLower(d.Subject)] {
		return true
	}
	if pol != nil {
		if o := pol.Organization(d.Subject); o != nil && o.Report {
			return true
		}
	}
	return false
}

// write writes the request's decision record and counts it: refusals at
// info, allows at debug (info with log_allowed). It names the token by its
// fingerprint prefix only.
func (h *Handler) write(r *http.Request, rec *record) {
	if rec.malformed != nil {
		h.logMalformed(r, rec.status, rec.malformed)
		countMalformed(rec.cred.Class)
		return
	}
	d := rec.d
	decision, mode := d.Outcome.String(), ModeEnforce
	if rec.report {
		decision, mode = "would_"+decision, ModeReport
	}
	countDecision(decision, d, rec.cred.Class, mode)
	level := zapcore.DebugLevel
	if d.Outcome != enforce.Allow || h.LogAllowed {
		level = zapcore.InfoLevel
	}
	ce := h.logger.Check(level, "pat decision")
	if ce == nil {
		return
	}
	tgt, res, tok := rec.tgt, rec.res, rec.tok
	fields := []zap.Field{
		zap.String("decision", decision),
		zap.String("reason", d.Reason.String()),
		zap.String("mode", mode),
		zap.String("token_class", rec.cred.Class.String()),
		zap.String("token", tok.Fingerprint.Prefix()),
		zap.String("scope", tgt.Scope.String()),
		zap.String("owner", tgt.Owner),
		zap.String("access", tgt.Access.String()),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Int64("feed_version", d.FeedVersion),
		zap.String("lookup", rec.lookup),
		zap.Duration("took", time.Since(rec.start)),
		zap.Bool("forwarded", rec.forwarded),
		zap.String("request_id", requestID(r)),
	}
	if tok.Owner != "" {
		fields = append(fields, zap.String("token_owner", tok.Owner))
	} else if p := h.store.Load(); p != nil {
		if tr := p.Token(tok.Fingerprint); tr != nil && tr.Owner != "" {
			fields = append(fields, zap.String("token_owner", tr.Owner))
		}
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
	if rec.lookupErr != nil {
		// Lookup errors carry URLs and statuses, never credentials.
		fields = append(fields, zap.Error(rec.lookupErr))
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

// readLFSBatch reads a Git LFS batch request's body, bounded, to learn
// whether it downloads or uploads, and puts it back intact for the
// upstream. It returns the status to answer with when it cannot.
func (h *Handler) readLFSBatch(r *http.Request, tgt *target.Target) (int, error) {
	body, status, err := readBody(r, h.lfsBatchLimit(), target.ErrBadLFSBatch)
	if err != nil {
		return status, err
	}
	tgt.Access, err = target.LFSBatchAccess(body)
	if err != nil {
		return http.StatusBadRequest, err
	}
	tgt.BodyDecides, tgt.AnonReadable = false, tgt.Access == target.Read
	return 0, nil
}

// token is the raw token, for learning its owner from the host; explain
// passes "" when it knows only a fingerprint, and the owner stays unknown.
// readBody reads a body the decision depends on, at most limit bytes, and
// puts it back intact for the upstream. An encoded body is refused: the
// gateway and the host could read it differently.
func readBody(r *http.Request, limit int64, kind error) ([]byte, int, error) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, http.StatusBadRequest, fmt.Errorf("%w: a %s-encoded body cannot be checked", kind, ce)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("%w: reading the body: %w", kind, err)
	}
	if int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: larger than the %d bytes the gateway checks", kind, limit)
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, 0, nil
}

// graphqlTargets reads a GraphQL request and returns every target its
// documents name (an unscoped target when they name none).
func (h *Handler) graphqlTargets(r *http.Request) ([]target.Target, int, error) {
	var body []byte
	// A GET or HEAD is read too when it has a body: a host that parses
	// JSON bodies of any method could run that document instead of the
	// URL's, so ParseRequests refuses the pair.
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		var status int
		var err error
		if body, status, err = readBody(r, h.graphqlLimit(), graphql.ErrBadRequest); err != nil {
			return nil, status, err
		}
	}
	reqs, err := graphql.ParseRequests(r.Method, r.URL.RawQuery, body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	var all []target.Target
	for _, q := range reqs {
		ts, access, err := graphql.Targets(r.Context(), q)
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		if len(ts) == 0 {
			ts = []target.Target{{Scope: target.Unscoped, Surface: target.GraphQL, Access: access}}
		}
		all = append(all, ts...)
	}
	return all, 0, nil
}

// forwards says what the handler does with a decision: forward it
// (allowed, a refusal under report mode, or a lookup that failed as an
// outage under fail_open) or answer it. report says a refusal was waived
// by report mode. ServeHTTP and explain both ask here, so an explanation
// says what the handler does.
func (h *Handler) forwards(pol *enforce.Policy, d enforce.Decision) (forward, report bool) {
	if d.Outcome == enforce.Allow {
		return true, false
	}
	if h.inReport(pol, d) {
		return true, true
	}
	return h.FailOpen && d.Reason == enforce.ReasonLookupFailed, false
}

// Ranks of a target's decision within a request: the highest answers.
const (
	rankAllow    = iota
	rankReported // a refusal that report mode waives
	rankFailed   // a lookup that failed, or no feed yet
	rankRefused  // an enforced refusal
)

// rank orders one target's decision. An enforced refusal of any target
// outranks a failed lookup of another: under fail_open, a client must not
// be able to pick a lookup to fail (a name the host answers 502 for) and
// have a restricted target waved through with it.
func (h *Handler) rank(pol *enforce.Policy, d enforce.Decision) int {
	switch {
	case d.Outcome == enforce.Allow:
		return rankAllow
	case h.inReport(pol, d):
		return rankReported
	case d.Outcome == enforce.Unavailable:
		return rankFailed
	}
	return rankRefused
}

// decideAll decides every target of a request (a GraphQL document may name
// several) and keeps, in the record, the decision that answers: the
// highest ranked, the first of its rank. Only an enforced refusal, which
// nothing outranks, ends the loop early.
func (h *Handler) decideAll(r *http.Request, pol *enforce.Policy, cred tokenclass.Credential, rec *record, targets []target.Target) {
	tok, lookups := rec.tok, rec.lookup
	best := -1
	for _, t := range targets {
		d, res, tk, facts, lookupErr := h.decide(r.Context(), pol, cred.Token, tok, t)
		tok = tk
		if facts == "miss" || lookups == "none" {
			lookups = facts
		}
		if rk := h.rank(pol, d); rk > best {
			best = rk
			rec.d, rec.res, rec.tok, rec.tgt, rec.lookupErr = d, res, tk, t, lookupErr
			if rk == rankRefused {
				break
			}
		}
	}
	rec.lookup = lookups
}

// decide runs the decision, looking up the facts it asks for one at a time,
// so that a request the policy settles by itself costs no lookup. facts
// says how the facts came: "none" needed, all from the cache ("hit"), or at
// least one from the host ("miss").
//
// token is the raw token, for learning its owner from the host; explain
// passes "" when it knows only a fingerprint, and the owner stays unknown.
func (h *Handler) decide(ctx context.Context, pol *enforce.Policy, token string, tok enforce.Token, tgt target.Target) (d enforce.Decision, res target.Resource, _ enforce.Token, facts string, err error) {
	facts = "none"
	// Three facts at most: the resource, the token's owner, and the owner
	// of the second resource a route names.
	for range 4 {
		d = enforce.Decide(pol, tok, tgt, res)
		var hit bool
		switch d.Outcome {
		case enforce.NeedResource:
			res, hit, err = h.lookups.Resource(ctx, tgt)
		case enforce.NeedAlso:
			var also target.Resource
			also, hit, err = h.lookups.Resource(ctx, *tgt.Also)
			res.AlsoKnown, res.AlsoOwner, res.AlsoOwnerType = true, also.OwnerLogin, also.OwnerType
		case enforce.NeedTokenOwner:
			tok.OwnerKnown = true
			if token == "" {
				continue // explain by fingerprint: the owner stays unknown
			}
			tok.Owner, hit, err = h.lookups.TokenOwner(ctx, token, tok.Fingerprint)
		default:
			return d, res, tok, facts, nil
		}
		countCache(hit)
		switch {
		case !hit:
			facts = "miss"
		case facts == "none":
			facts = "hit"
		}
		if errors.Is(err, lookup.ErrRefused) {
			// The host refused what the request names (a 4xx other than
			// 404): the request provoked it, so it is no outage, and
			// fail_open does not forward it.
			return enforce.LookupRefused(pol, tok), res, tok, facts, err
		}
		if err != nil {
			return enforce.LookupFailed(pol, tok), res, tok, facts, err
		}
	}
	// A decision still asking for facts after it was given them is a bug;
	// fail closed rather than loop.
	return enforce.LookupFailed(pol, tok), res, tok, facts, errors.New("decision did not settle")
}
