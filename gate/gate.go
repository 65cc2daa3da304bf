// Package gate is one request's journey through the policies, in plain Go:
// read the credential, resolve what the request reaches (REST, Git, an LFS
// batch body, a GraphQL document), gather the facts the decision asks for
// from a Facts source, decide every target with enforce, and say what to do:
// pass it untouched, forward it, refuse it, or reject it as malformed. The
// result is one Record, which the Caddy glue writes to the decision log and
// metrics and maps onto HTTP. Explanations go through the same Decide, so
// an explanation can never differ from a decision.
package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/graphql"
	"github.com/patgate/patgate/graphqlfilter"
	"github.com/patgate/patgate/listfilter"
	"github.com/patgate/patgate/lookup"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// Facts is what a decision may ask the outside world: who owns a target and
// whether it is public, and who owns a token. *lookup.Client satisfies it.
// Errors wrapping lookup.ErrRefused are the request's doing (a name the host
// will not answer for); any other error is an outage.
type Facts interface {
	Resource(ctx context.Context, t target.Target) (target.Resource, bool, error)
	// TokenFacts asks the host about a token (GET /user with it): its
	// owner and its expiry.
	TokenFacts(ctx context.Context, token string, fp tokenclass.Fingerprint) (lookup.TokenFacts, bool, error)
}

// Action is what the handler does with a request.
type Action uint8

const (
	// Pass forwards a request without a PAT untouched; it leaves no record.
	Pass Action = iota
	// Forward forwards a PAT request: allowed, a refusal waived by report
	// mode, or a lookup outage under fail-open.
	Forward
	// Refuse answers the decision: 403, or 503 when a fact could not be had.
	Refuse
	// Reject answers a request the gateway cannot check: Record.Status
	// (400, 413) with Record.Malformed.
	Reject
)

// Gate decides requests. It is immutable once built and safe for
// concurrent use.
type Gate struct {
	// Resolver maps requests to targets.
	Resolver *target.Resolver
	// Facts answers the lookups decisions ask for.
	Facts Facts
	// Policy returns the policy snapshot in force (nil before a first
	// feed). Each request reads it once and keeps it in its record.
	Policy func() *enforce.Policy
	// Report waives every refusal (mode report).
	Report bool
	// ReportOrgs waives refusals whose subject is one of these lowercase
	// logins; the feed may put more organizations in report mode.
	ReportOrgs map[string]bool
	// FailOpen forwards requests whose lookup failed in an outage.
	FailOpen bool
	// GraphQLLimit and LFSBatchLimit bound the bodies read to decide.
	GraphQLLimit, LFSBatchLimit int64
	// ObserveCache, if set, is told whether each fact came from the cache.
	ObserveCache func(hit bool)
	// ClientAddr, if set, returns the client's address as the server
	// determines it (Caddy: trusted_proxies respected); otherwise the
	// connection's peer counts.
	ClientAddr func(r *http.Request) netip.Addr
	// Answers, if set, is asked for every forwarded PAT request whether
	// its answer must be checked before the client sees it, and how
	// (SPEC §10–§11: answers that gather resources of several owners). It
	// returns nil for answers that pass untouched. It gets a copy of the
	// record: a pointer would make every record escape to the heap.
	Answers func(r *http.Request, rec Record) AnswerCheck
}

// AnswerCheck checks an upstream answer before the client sees it. It is
// the pipeline's way of saying "forward, and hand me the answer": the
// handler forwards the request and streams the answer through Check.
type AnswerCheck interface {
	// Check reads the upstream's answer (status, header, body) and writes
	// what the client may see to out. It may change header until its
	// first write to out, which sends the header with status. When it
	// returns an error before writing anything, the client gets 502; an
	// error after its first write cuts the answer short.
	Check(ctx context.Context, status int, header http.Header, body io.Reader, out io.Writer) error
}

// Record is one PAT request's journey: what it carried, what it reached,
// which facts were looked up, the decision and what was done with it.
type Record struct {
	Start time.Time
	Cred  tokenclass.Credential
	// Policy is the snapshot that decided; the record is written with it.
	Policy *enforce.Policy
	Token  enforce.Token
	// Target and Resource are those of the target that decided the
	// answer (for a GraphQL document, the one that answered).
	Target   target.Target
	Resource target.Resource
	Decision enforce.Decision
	// Lookup says how the facts came: "none" needed, all from the cache
	// ("hit"), or at least one from the host ("miss").
	Lookup    string
	LookupErr error
	// Malformed and Status are set when the request was rejected;
	// NoCredential when its credential could not be read at all.
	Malformed    error
	Status       int
	NoCredential bool
	Action       Action
	// Waived says a refusal was forwarded under report mode.
	Waived bool
	// Surface is the kind of client, for the shape of an answer.
	Surface target.Surface
	// Answer, for a forwarded request, checks the upstream's answer
	// before the client sees it; nil forwards the answer untouched.
	Answer AnswerCheck
}

// Check runs one request through the gate and fills rec (which the caller
// owns, so that the common path allocates nothing). It may read and
// restore the request body (an LFS batch, a GraphQL document).
func (g *Gate) Check(r *http.Request, rec *Record) {
	cred, err := tokenclass.FromRequest(r)
	if err != nil {
		*rec = Record{Start: time.Now(), NoCredential: true}
		g.reject(r, rec, http.StatusBadRequest, err, g.Resolver.Surface(r))
		return
	}
	if !cred.Class.IsPAT() {
		rec.Action = Pass
		return
	}
	now := time.Now()
	*rec = Record{Start: now, Cred: cred, Lookup: "none",
		Token: enforce.Token{Class: cred.Class, Fingerprint: cred.Fingerprint(), Now: now.Unix(), Addr: g.clientAddr(r), Host: r.Host}}
	tgt, err := g.Resolver.Resolve(r)
	if err != nil {
		g.reject(r, rec, http.StatusBadRequest, err, g.Resolver.Surface(r))
		return
	}
	rec.Target, rec.Surface = tgt, tgt.Surface
	if tgt.BodyDecides {
		if status, err := g.readLFSBatch(r, &rec.Target); err != nil {
			g.reject(r, rec, status, err, tgt.Surface)
			return
		}
	}
	rec.Policy = g.Policy()
	if tgt.Surface != target.GraphQL {
		g.Decide(r.Context(), rec, cred.Token, rec.Target)
		g.answer(r, rec)
		return
	}
	// Only a token some policy could restrict is worth parsing for.
	if rec.Policy != nil && !rec.Policy.RestrictsClass(cred.Class) {
		g.Decide(r.Context(), rec, cred.Token, target.Target{Scope: target.Unscoped, Surface: target.GraphQL, Access: tgt.Access})
		g.answer(r, rec)
		return
	}
	targets, reqs, body, status, err := g.graphqlTargets(r)
	if err != nil {
		g.reject(r, rec, status, err, target.GraphQL)
		return
	}
	g.Decide(r.Context(), rec, cred.Token, targets...)
	if rec.Action == Forward && rec.Policy != nil {
		if err := g.graphqlAnswers(r, rec, reqs, body); err != nil {
			g.reject(r, rec, http.StatusBadRequest, err, target.GraphQL)
		}
	}
}

// clientAddr is the address IP allow lists check (SPEC §9).
func (g *Gate) clientAddr(r *http.Request) netip.Addr {
	if g.ClientAddr != nil {
		return g.ClientAddr(r)
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// answer asks, for a forwarded request, whether its answer must be
// checked.
func (g *Gate) answer(r *http.Request, rec *Record) {
	if rec.Action == Forward && g.Answers != nil {
		rec.Answer = g.Answers(r, *rec)
	}
}

func (g *Gate) reject(r *http.Request, rec *Record, status int, err error, s target.Surface) {
	rec.Action, rec.Status, rec.Malformed, rec.Surface = Reject, status, err, s
}

// Decide decides every target for rec's token under rec's policy, keeps in
// rec the decision that answers, and sets the action. token is the raw
// token, for learning its owner from the host; explain passes "" when it
// knows only a fingerprint, and the owner stays unknown.
//
// Each target's decision is ranked (an enforced refusal over a failed
// lookup, over a refusal that report mode waives, over an allow) and the
// highest answers, the first of its rank. So a refusal of one target wins
// over a failed lookup of another: under fail-open, a client cannot pick a
// lookup to fail and have a restricted target waved through with it. Only
// an enforced refusal, which nothing outranks, ends the loop early.
func (g *Gate) Decide(ctx context.Context, rec *Record, token string, targets ...target.Target) {
	tok, lookups, best := rec.Token, rec.Lookup, -1
	if lookups == "" {
		lookups = "none"
	}
	for _, t := range targets {
		d, res, tk, facts, lookupErr := g.decide(ctx, rec.Policy, token, tok, t)
		tok = tk
		if facts == "miss" || lookups == "none" {
			lookups = facts
		}
		if rk := g.rank(rec.Policy, d); rk > best {
			best = rk
			rec.Decision, rec.Resource, rec.Token, rec.Target, rec.LookupErr = d, res, tk, t, lookupErr
			if rk == rankRefused {
				break
			}
		}
	}
	rec.Lookup = lookups
	forward, waived := g.Forwards(rec.Policy, rec.Decision)
	rec.Action, rec.Waived = Refuse, waived
	if forward {
		rec.Action = Forward
	}
}

// Ranks of a target's decision within a request: the highest answers.
const (
	rankAllow    = iota
	rankReported // a refusal that report mode waives
	rankFailed   // a lookup that failed, or no feed yet
	rankRefused  // an enforced refusal
)

func (g *Gate) rank(pol *enforce.Policy, d enforce.Decision) int {
	switch {
	case d.Outcome == enforce.Allow:
		return rankAllow
	case g.InReport(pol, d):
		return rankReported
	case d.Outcome == enforce.Unavailable:
		return rankFailed
	}
	return rankRefused
}

// Forwards says what is done with a decision: forward it (allowed, a
// refusal under report mode, or a lookup that failed in an outage under
// fail-open) or answer it. waived says report mode forwarded a refusal.
func (g *Gate) Forwards(pol *enforce.Policy, d enforce.Decision) (forward, waived bool) {
	if d.Outcome == enforce.Allow {
		return true, false
	}
	if g.InReport(pol, d) {
		return true, true
	}
	return g.FailOpen && d.Reason == enforce.ReasonLookupFailed, false
}

// InReport says whether a refusal falls under report mode: the gate's
// mode, the organizations its config lists, or an organization the feed
// puts in report mode.
func (g *Gate) InReport(pol *enforce.Policy, d enforce.Decision) bool {
	if g.Report {
		return true
	}
	// A second resource of another owner is that owner's business, which
	// the subject's report mode must not decide.
	if d.Subject == "" || d.Reason == enforce.ReasonOwnerMismatch {
		return false
	}
	if g.ReportOrgs[strings.ToLower(d.Subject)] {
		return true
	}
	if pol != nil {
		if o := pol.Organization(d.Subject); o != nil && o.Report {
			return true
		}
	}
	return false
}

// decide runs the decision for one target, looking up the facts it asks
// for one at a time, so that a request the policy settles by itself costs
// no lookup. facts says how the facts came: "none", "hit" or "miss".
func (g *Gate) decide(ctx context.Context, pol *enforce.Policy, token string, tok enforce.Token, tgt target.Target) (d enforce.Decision, res target.Resource, _ enforce.Token, facts string, err error) {
	return g.decideFrom(ctx, pol, token, tok, tgt, target.Resource{})
}

// decideFrom is decide with the facts already known about the target (an
// answer's element may carry its repository's owner and visibility).
func (g *Gate) decideFrom(ctx context.Context, pol *enforce.Policy, token string, tok enforce.Token, tgt target.Target, res target.Resource) (d enforce.Decision, _ target.Resource, _ enforce.Token, facts string, err error) {
	facts = "none"
	// Three facts at most: the resource, the token's owner, and the owner
	// of the second resource a route names.
	for range 4 {
		d = enforce.Decide(pol, tok, tgt, res)
		var hit bool
		switch d.Outcome {
		case enforce.NeedResource:
			res, hit, err = g.Facts.Resource(ctx, tgt)
		case enforce.NeedAlso:
			var also target.Resource
			also, hit, err = g.Facts.Resource(ctx, *tgt.Also)
			res.AlsoKnown, res.AlsoOwner, res.AlsoOwnerType = true, also.OwnerLogin, also.OwnerType
		case enforce.NeedTokenOwner:
			tok.OwnerKnown = true
			if token == "" {
				continue // explain by fingerprint: the owner stays unknown
			}
			var f lookup.TokenFacts
			f, hit, err = g.Facts.TokenFacts(ctx, token, tok.Fingerprint)
			tok.Owner, tok.ExpiresAt, tok.NeverExpires = f.Owner, f.ExpiresAt, f.NeverExpires
		default:
			return d, res, tok, facts, nil
		}
		if g.ObserveCache != nil {
			g.ObserveCache(hit)
		}
		switch {
		case !hit:
			facts = "miss"
		case facts == "none":
			facts = "hit"
		}
		if errors.Is(err, lookup.ErrRefused) {
			// The host would not answer for what the request names: the
			// request provoked it, so it is no outage, and fail-open does
			// not forward it.
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

// Lists is an Answers hook that checks the answers of SPEC §10's routes
// (answers that list resources of several owners) for the PAT classes
// some policy restricts: each element stays only if the token could read
// what it names on its own, decided as a request for it would be.
func (g *Gate) Lists(r *http.Request, rec Record) AnswerCheck {
	// The cheap questions first: this runs for every forwarded request.
	// A POST with X-HTTP-Method-Override: GET (or _method=GET) is a GET
	// to a host that honours overrides: its answer is the list too.
	if !target.ReadsAs(r, http.MethodGet) || rec.Policy != nil && !rec.Policy.RestrictsClass(rec.Token.Class) {
		return nil
	}
	rest, ok := g.Resolver.RESTPath(r.URL.Path)
	if !ok {
		return nil
	}
	route := listfilter.Match(http.MethodGet, rest)
	if route == nil {
		return nil
	}
	// The filter reads gzip and deflate, but need not: ask for the plain
	// answer (SPEC §10 allows it). A range of the list would be its
	// unfiltered bytes a piece at a time: ask for the whole.
	r.Header.Set("Accept-Encoding", "identity")
	r.Header.Del("Range")
	r.Header.Del("If-Range")
	// The decider keeps what it needs of the record, not the record: a
	// closure over rec would move every request's copy to the heap.
	pol, token, tok := rec.Policy, rec.Cred.Token, rec.Token
	return &listfilter.Filter{Route: route, Decide: func(ctx context.Context, t target.Target, res target.Resource) listfilter.Verdict {
		d, _, _, _, _ := g.decideFrom(ctx, pol, token, tok, t, res)
		keep, _ := g.Forwards(pol, d)
		return listfilter.Verdict{Keep: keep, Reason: d.Reason}
	}}
}

// readLFSBatch reads a Git LFS batch request's body, bounded, to learn
// whether it downloads or uploads, and puts it back intact for the
// upstream. It returns the status to answer with when it cannot.
func (g *Gate) readLFSBatch(r *http.Request, tgt *target.Target) (int, error) {
	body, status, err := readBody(r, g.LFSBatchLimit, target.ErrBadLFSBatch)
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

// graphqlTargets reads a GraphQL request and returns every target its
// documents name (an unscoped target when they name none), the requests,
// and the body they came in (nil for a GET).
func (g *Gate) graphqlTargets(r *http.Request) ([]target.Target, []graphql.Request, []byte, int, error) {
	var body []byte
	// A GET or HEAD is read too when it has a body: a host that parses
	// JSON bodies of any method could run that document instead of the
	// URL's, so ParseRequests refuses the pair.
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		var status int
		var err error
		if body, status, err = readBody(r, g.GraphQLLimit, graphql.ErrBadRequest); err != nil {
			return nil, nil, nil, status, err
		}
	}
	reqs, err := graphql.ParseRequests(r.Method, r.URL.RawQuery, body)
	if err != nil {
		return nil, nil, nil, http.StatusBadRequest, err
	}
	var all []target.Target
	for _, q := range reqs {
		ts, access, err := graphql.Targets(r.Context(), q)
		if err != nil {
			return nil, nil, nil, http.StatusBadRequest, err
		}
		if len(ts) == 0 {
			ts = []target.Target{{Scope: target.Unscoped, Surface: target.GraphQL, Access: access}}
		}
		all = append(all, ts...)
	}
	return all, reqs, body, 0, nil
}

// graphqlAnswers sets up the check of a forwarded GraphQL request's answer
// (SPEC §11), for a token some policy restricts: each document gets the
// fields that tell who owns each object of its answer, and the record
// carries the check that nulls what the token may not read. A document
// that needs no such field goes as it came; if none does, the answer is
// not even parsed.
func (g *Gate) graphqlAnswers(r *http.Request, rec *Record, reqs []graphql.Request, body []byte) error {
	if !rec.Policy.RestrictsClass(rec.Token.Class) {
		return nil
	}
	plans := make([]*graphqlfilter.Plan, len(reqs))
	queries := make([]string, len(reqs))
	needed := false
	for i, q := range reqs {
		doc, plan, err := graphqlfilter.Prepare(q.Query, q.OperationName)
		if err != nil {
			return err
		}
		plans[i], queries[i], needed = plan, doc, needed || plan != nil
	}
	if !needed {
		return nil
	}
	if body == nil {
		// A GET: the document is in the URL.
		q := r.URL.Query()
		q.Set("query", queries[0])
		r.URL.RawQuery = q.Encode()
	} else {
		nb, err := graphql.ReplaceQueries(body, queries)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(nb))
		r.ContentLength = int64(len(nb))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nb)), nil }
	}
	// The check reads the answer whole: ask for it plain.
	r.Header.Set("Accept-Encoding", "identity")
	pol, token, tok := rec.Policy, rec.Cred.Token, rec.Token
	rec.Answer = &graphqlfilter.Filter{Plans: plans, Batch: firstByte(body) == '[', Decide: func(ctx context.Context, t target.Target, res target.Resource) graphqlfilter.Verdict {
		d, _, _, _, _ := g.decideFrom(ctx, pol, token, tok, t, res)
		keep, _ := g.Forwards(pol, d)
		v := graphqlfilter.Verdict{Keep: keep, Reason: d.Reason}
		if !keep {
			v.Message = d.Message()
		}
		return v
	}}
	return nil
}

// firstByte is the first byte of a JSON text that is not white space.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// Removals is what an answer check that removes parts of answers
// reports, for the decision record and the metrics.
type Removals interface {
	// Removed is how many elements or objects were removed, and the
	// lowercase logins of their owners.
	Removed() (int, []string)
	// RemovedBy counts them by the decision's reason.
	RemovedBy() [enforce.NumReasons]int
}

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
