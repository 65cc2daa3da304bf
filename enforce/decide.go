// Package enforce is the pure decision: given a policy snapshot, a token, a
// target and the facts looked up about it, it says allow, deny, or which fact
// it still needs. It does no I/O, so the handler decides what to look up and
// the decision itself is a table-testable function.
package enforce

import (
	"net/netip"
	"strings"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// Token is what the decision knows about the request's credential.
type Token struct {
	Class tokenclass.Class
	// OwnerKnown is true once the host was asked about the token, even if
	// it could not tell (Owner ""); NeverExpires is its answer that the
	// token never expires. (The small fields come first: tokens are
	// copied by value all along the decision.)
	OwnerKnown, NeverExpires bool
	Fingerprint              tokenclass.Fingerprint
	// Owner is the lowercase login of the token's owner learned from the
	// host, used when the feed's record does not name it.
	Owner string
	// ExpiresAt (Unix seconds) is the expiry the host gave when asked
	// about the token (GET /user's GitHub-Authentication-Token-Expiration
	// header; none: NeverExpires). It counts once OwnerKnown: one question
	// tells both.
	ExpiresAt int64
	// Now is the decision's clock (Unix seconds), for lifetimes known only
	// by their expiry. The caller sets it, so tests control time.
	Now int64
	// Addr is the client's address as Caddy determines it, for IP allow
	// lists; the zero Addr is no address, which no list admits.
	Addr netip.Addr
	// Host is the host the client addressed, for the settings URL of a
	// lifetime message.
	Host string
}

// Outcome is what the handler does with a request.
type Outcome uint8

const (
	// Allow forwards the request unchanged.
	Allow Outcome = iota
	// Deny answers 403 with the decision's message.
	Deny
	// NeedResource asks the handler to look up the target's owner and
	// visibility and decide again.
	NeedResource
	// NeedTokenOwner asks the handler to ask the host about the token
	// (GET /user with it): its owner's login and its expiry. Then it
	// decides again.
	NeedTokenOwner
	// NeedAlso asks the handler to look up the owner of the target's
	// second resource (Target.Also) and decide again.
	NeedAlso
	// Unavailable answers 503: a fact the policy needs could not be had.
	Unavailable
	numOutcomes
)

// NumOutcomes and NumReasons size tables indexed by Outcome and Reason
// (the metrics' counter cache), so that nobody copies the sizes by hand.
const (
	NumOutcomes = int(numOutcomes)
	NumReasons  = int(numReasons)
)

var outcomeNames = [numOutcomes]string{"allow", "deny", "need_resource", "need_token_owner", "need_also", "unavailable"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// Reason is why a decision came out as it did. The set is closed, so reasons
// can label metrics.
type Reason uint8

const (
	ReasonNone Reason = iota
	// ReasonNotGoverned: the token class or the organization is not governed.
	ReasonNotGoverned
	// ReasonUnscoped: the request names no governed resource.
	ReasonUnscoped
	// ReasonAllowed: the policies let this token class in.
	ReasonAllowed
	// ReasonUserOwned: resources owned by a user are never restricted.
	ReasonUserOwned
	// ReasonPublicRead: a read of a public resource is always allowed.
	ReasonPublicRead
	// ReasonApproved: the fine-grained token is approved by the organization.
	ReasonApproved
	// ReasonOrgOwner: the fine-grained token belongs to an organization owner.
	ReasonOrgOwner
	ReasonClassicRestricted
	ReasonFineGrainedRestricted
	// ReasonFineGrainedNotOptedIn: neither the enterprise nor the
	// organization opted in to fine-grained PATs.
	ReasonFineGrainedNotOptedIn
	ReasonApprovalPending
	ReasonApprovalDenied
	ReasonApprovalRevoked
	// ReasonApprovalMissing: the token never asked for approval.
	ReasonApprovalMissing
	// ReasonUndetermined: the request's targets could not be worked out and
	// a restriction could apply to the token.
	ReasonUndetermined
	// ReasonNoFeed: no policy feed has been loaded yet.
	ReasonNoFeed
	// ReasonLookupFailed: the host could not be asked about the target.
	ReasonLookupFailed
	// ReasonOwnerMismatch: the second resource a route names (a repository
	// id under /orgs/{org}, an organization id under /enterprises/{slug})
	// does not belong to the first.
	ReasonOwnerMismatch
	// ReasonIPNotAllowed: the client's address is not on the IP allow
	// list of the organization or the enterprise (SPEC §9).
	ReasonIPNotAllowed
	// ReasonLifetimeExceeded: the token lives longer than a lifetime limit
	// allows (SPEC §8).
	ReasonLifetimeExceeded
	numReasons
)

var reasonNames = [numReasons]string{
	"none", "not_governed", "unscoped", "allowed", "user_owned", "public_read",
	"approved", "org_owner", "classic_restricted", "fine_grained_restricted",
	"fine_grained_not_opted_in", "approval_pending", "approval_denied",
	"approval_revoked", "approval_missing", "undetermined", "no_feed",
	"lookup_failed", "owner_mismatch", "ip_not_allowed", "lifetime_exceeded",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "invalid"
}

// Reasons lists every reason, for documentation and metric pre-registration.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Decision is the outcome for one request.
type Decision struct {
	Outcome Outcome
	Reason  Reason
	// Class is the token class the decision was about; messages name it.
	Class tokenclass.Class
	// ByEnterprise says the enterprise's rule decided (an IP allow list or
	// a lifetime limit of the enterprise's rather than the organization's).
	ByEnterprise bool
	// LimitDays is the lifetime limit a token exceeded; Host and TokenID
	// make the settings URL its message names. (The small fields come
	// first: decisions are copied by value all along the decision.)
	LimitDays uint16
	// Subject names whose rule decided: an organization login, or the
	// enterprise slug (empty when the feed names none).
	Subject string
	// FeedVersion is the version of the policy that decided, 0 without one.
	FeedVersion int64
	// Detail names what could not be resolved, for an undetermined target.
	Detail  string
	Host    string
	TokenID string
}

// LookupFailed is the decision when a lookup the policy needs failed.
func LookupFailed(p *Policy, tok Token) Decision {
	return Decision{Outcome: Unavailable, Reason: ReasonLookupFailed, Class: tok.Class, FeedVersion: version(p)}
}

// LookupRefused is the decision when the host would not answer a lookup of
// what the request names: a 4xx other than 404 (a name it does not
// accept), or a redirect a lookup must not follow. That is no outage, so
// it is refused as undetermined, never waved through by fail-open.
func LookupRefused(p *Policy, tok Token) Decision {
	d := Decision{Class: tok.Class, FeedVersion: version(p)}
	return undetermined(p, d, "the host would not answer a lookup of what the request names")
}

func version(p *Policy) int64 {
	if p == nil {
		return 0
	}
	return p.version
}

// Decide applies the policies to one target. p may be nil when no feed has
// been loaded. res is the zero Resource until the handler has looked it up
// because an earlier call asked for it with NeedResource (or NeedAlso for
// the second resource of the route).
func Decide(p *Policy, tok Token, tgt target.Target, res target.Resource) Decision {
	d := decide(p, tok, tgt, res)
	if d.Outcome != Allow || tgt.Also == nil || d.Reason == ReasonAllowed && p != nil && !p.RestrictsClass(tok.Class) {
		return d
	}
	// The route names a second resource (a repository id under
	// /orgs/{org}, an organization id under /enterprises/{slug}, a
	// repository under /teams/{id}): it must belong to the first, or the
	// first's policy would open another owner's resource.
	if !res.AlsoKnown {
		return d.with(NeedAlso, ReasonNone, d.Subject)
	}
	if tgt.Scope == target.Enterprise {
		if res.AlsoOwnerType != target.OwnerOrganization || p == nil || p.Organization(res.AlsoOwner) == nil {
			return d.with(Deny, ReasonOwnerMismatch, d.Subject)
		}
		return d
	}
	parent := tgt.Owner
	if tgt.IDKind != target.IDNone {
		parent = res.OwnerLogin
	}
	if parent == "" || !strings.EqualFold(parent, res.AlsoOwner) {
		return d.with(Deny, ReasonOwnerMismatch, parent)
	}
	return d
}

func decide(p *Policy, tok Token, tgt target.Target, res target.Resource) Decision {
	d := Decision{Class: tok.Class, FeedVersion: version(p)}
	if !tok.Class.IsPAT() {
		return d.with(Allow, ReasonNotGoverned, "")
	}
	switch tgt.Scope {
	case target.Unscoped:
		return d.with(Allow, ReasonUnscoped, "")
	case target.Personal:
		return d.with(Allow, ReasonUserOwned, "")
	}
	// A policy that cannot refuse this class anywhere needs no facts.
	if p != nil && !p.RestrictsClass(tok.Class) {
		return d.with(Allow, ReasonAllowed, "")
	}
	switch tgt.Scope {
	case target.Undetermined:
		return undetermined(p, d, tgt.Why)
	case target.Enterprise:
		if p == nil {
			return d.with(Unavailable, ReasonNoFeed, "")
		}
		return p.decideEnterprise(d, tok, tgt)
	case target.Organization:
		login := tgt.Owner
		if tgt.IDKind != target.IDNone {
			if !res.Known {
				return d.with(NeedResource, ReasonNone, "")
			}
			if res.OwnerLogin == "" {
				// The lookup cannot see whose it is (a 404 for the id): the
				// request's own token may well see it.
				return undetermined(p, d, whyNoOwner)
			}
			login = res.OwnerLogin
			if res.OwnerType != target.OwnerOrganization {
				// An id that names a user: no organization's policy.
				return d.with(Allow, ReasonNotGoverned, "")
			}
		}
		// An organization's profile is public; its lists are not, which
		// the route table says through AnonReadable.
		return decideOrg(p, d, tok, login, tgt.Access == target.Read && tgt.AnonReadable)
	case target.Repository, target.User:
		if !res.Known {
			return d.with(NeedResource, ReasonNone, "")
		}
		if res.OwnerType == target.OwnerUser {
			return d.with(Allow, ReasonUserOwned, "")
		}
		// An organization, or an owner the host does not know, which
		// counts as an organization so that nothing unknown passes.
		login := res.OwnerLogin
		if login == "" {
			login = tgt.Owner
		}
		if login == "" {
			// Named by id, and the lookup cannot see whose it is. An owner
			// is never taken to be empty: the empty organization would
			// be ungoverned and let everything through.
			return undetermined(p, d, whyNoOwner)
		}
		public := tgt.Access == target.Read && tgt.AnonReadable &&
			(tgt.Scope == target.User || res.Visibility == target.VisibilityPublic)
		return decideOrg(p, d, tok, login, public)
	}
	// A scope this version does not know: refuse rather than guess.
	return d.with(Deny, ReasonUndetermined, "")
}

// whyNoOwner is the detail of a target whose owner the lookup cannot learn.
const whyNoOwner = "a resource named by id whose owner the lookup cannot see"

// undetermined refuses a target that cannot be worked out; Decide reaches
// it only for a token some restriction could apply to (SPEC §3, §4).
func undetermined(p *Policy, d Decision, why string) Decision {
	if p == nil {
		return d.with(Unavailable, ReasonNoFeed, "")
	}
	d.Detail = why
	return d.with(Deny, ReasonUndetermined, p.enterprise.Slug)
}

func (d Decision) with(o Outcome, r Reason, subject string) Decision {
	d.Outcome, d.Reason, d.Subject = o, r, subject
	return d
}

func (p *Policy) decideEnterprise(d Decision, tok Token, tgt target.Target) Decision {
	subject := p.enterprise.Slug
	if subject == "" {
		subject = tgt.Owner
	}
	switch d.Class {
	case tokenclass.Classic:
		if p.enterprise.ClassicAccess == AccessRestrict {
			return d.with(Deny, ReasonClassicRestricted, subject)
		}
	case tokenclass.FineGrained:
		if p.enterprise.FineGrained.OptedIn && p.enterprise.FineGrained.Access == AccessRestrict {
			return d.with(Deny, ReasonFineGrainedRestricted, subject)
		}
	}
	// Enterprise endpoints have the enterprise's list and limits only.
	if l := p.enterprise.IPAllowList; l.Len() > 0 && !l.Contains(tok.Addr) {
		d.ByEnterprise = true
		return d.with(Deny, ReasonIPNotAllowed, subject)
	}
	return p.lifetime(d.with(Allow, ReasonAllowed, subject), tok, nil)
}

// allowIP checks the IP allow lists for an organization's non-public
// resource: the client must be on the enterprise's list or the
// organization's, when either has entries (SPEC §9).
func (p *Policy) allowIP(d Decision, tok Token, o *Organization, login string) (Decision, bool) {
	ent, org := p.enterprise.IPAllowList, o.IPAllowList
	if ent.Len() == 0 && org.Len() == 0 || ent.Contains(tok.Addr) || org.Contains(tok.Addr) {
		return d, true
	}
	if org.Len() == 0 {
		// Only the enterprise's list applies: the enterprise refuses.
		d.ByEnterprise = true
		return d.with(Deny, ReasonIPNotAllowed, p.enterpriseName(login)), false
	}
	return d.with(Deny, ReasonIPNotAllowed, login), false
}

// enterpriseName is how messages name the enterprise: its slug, or the
// organization when the feed names no enterprise.
func (p *Policy) enterpriseName(fallback string) string {
	if p.enterprise.Slug != "" {
		return p.enterprise.Slug
	}
	return fallback
}

// lifetime checks an allowed decision against the lifetime limits that
// apply (SPEC §8): the enterprise's, and the organization's when o is not
// nil, each on its own with its own exemption. It keeps d when the token
// is within every limit, and asks for the token's facts when it must.
func (p *Policy) lifetime(d Decision, tok Token, o *Organization) Decision {
	entLimit := p.maxLifetime(d.Class, nil)
	orgLimit := 0
	if o != nil {
		orgLimit = p.maxLifetime(d.Class, o)
	}
	if entLimit == 0 && orgLimit == 0 {
		return d
	}
	rec := p.Token(tok.Fingerprint)
	owner, ownerKnown := tok.Owner, tok.OwnerKnown
	if rec != nil && rec.Owner != "" {
		owner, ownerKnown = rec.Owner, true
	}
	exempt := func(admins bool, owners map[string]struct{}) (bool, bool) {
		if !admins || len(owners) == 0 {
			return false, true
		}
		if !ownerKnown {
			return false, false
		}
		_, ok := owners[owner]
		return ok && owner != "", true
	}
	entExempt, ok1 := exempt(p.enterprise.ExemptAdministrators, p.enterprise.Owners)
	orgExempt, ok2 := false, true
	if o != nil {
		orgExempt, ok2 = exempt(o.ExemptAdministrators, o.Owners)
	}
	if !ok1 || !ok2 {
		return d.with(NeedTokenOwner, ReasonNone, d.Subject)
	}
	if entExempt {
		entLimit = 0
	}
	if orgExempt {
		orgLimit = 0
	}
	if entLimit == 0 && orgLimit == 0 {
		return d
	}
	// The lifetime: expires_at − created_at, else the lower bound
	// expires_at − now; a token that never expires exceeds every limit.
	var created, expires int64
	never := false
	if rec != nil {
		created = rec.CreatedAt
		switch rec.Expiry {
		case ExpiryAt:
			expires = rec.ExpiresAt
		case ExpiryNever:
			never = true
		}
	}
	if !never && expires == 0 {
		switch {
		case !tok.OwnerKnown:
			return d.with(NeedTokenOwner, ReasonNone, d.Subject)
		case tok.NeverExpires:
			never = true
		case tok.ExpiresAt != 0:
			expires = tok.ExpiresAt
		default:
			// The host was not asked (an explanation by fingerprint) or
			// did not accept the token: its lifetime is unknown.
			return undetermined(p, d, "a token whose expiry is not known")
		}
	}
	from := created
	if from == 0 {
		from = tok.Now
	}
	over := func(limit int) bool {
		return limit > 0 && (never || expires-from > int64(limit)*24*3600)
	}
	switch {
	case over(entLimit):
		d.ByEnterprise, d.LimitDays = true, uint16(entLimit)
		d = d.with(Deny, ReasonLifetimeExceeded, p.enterpriseName(d.Subject))
	case over(orgLimit):
		d.LimitDays = uint16(orgLimit)
		d = d.with(Deny, ReasonLifetimeExceeded, d.Subject)
	default:
		return d
	}
	d.Host = tok.Host
	if rec != nil {
		d.TokenID = rec.TokenID
	}
	return d
}

func decideOrg(p *Policy, d Decision, tok Token, login string, public bool) Decision {
	if public {
		return d.with(Allow, ReasonPublicRead, login)
	}
	if p == nil {
		return d.with(Unavailable, ReasonNoFeed, login)
	}
	o := p.Organization(login)
	if o == nil {
		return d.with(Allow, ReasonNotGoverned, login)
	}
	if o.Login != "" {
		login = o.Login
	}
	// The order of SPEC §8: the class restriction, the IP allow list,
	// approval, then the lifetime.
	if tok.Class == tokenclass.Classic {
		if p.classicAccess(o) == AccessRestrict {
			return d.with(Deny, ReasonClassicRestricted, login)
		}
		if d, ok := p.allowIP(d, tok, o, login); !ok {
			return d
		}
		return p.lifetime(d.with(Allow, ReasonAllowed, login), tok, o)
	}
	if !p.optedIn(o) {
		return d.with(Deny, ReasonFineGrainedNotOptedIn, login)
	}
	if p.fineGrainedAccess(o) == AccessRestrict {
		return d.with(Deny, ReasonFineGrainedRestricted, login)
	}
	if d, ok := p.allowIP(d, tok, o, login); !ok {
		return d
	}
	if d = approve(p, d, tok, o, login); d.Outcome != Allow {
		return d
	}
	return p.lifetime(d, tok, o)
}

// approve applies the approval policy to a fine-grained token.
func approve(p *Policy, d Decision, tok Token, o *Organization, login string) Decision {
	if p.approval(o) != ApprovalRequire {
		return d.with(Allow, ReasonAllowed, login)
	}
	rec := p.Token(tok.Fingerprint)
	status := StatusNone
	owner, ownerKnown := tok.Owner, tok.OwnerKnown
	if rec != nil {
		status = rec.Status(strings.ToLower(login))
		if rec.Owner != "" {
			owner, ownerKnown = rec.Owner, true
		}
	}
	if status == StatusApproved {
		return d.with(Allow, ReasonApproved, login)
	}
	// Owners' tokens need no approval. Only ask who owns the token when the
	// organization has owners to compare with.
	if len(o.Owners) > 0 {
		if !ownerKnown {
			return d.with(NeedTokenOwner, ReasonNone, login)
		}
		if _, ok := o.Owners[owner]; ok && owner != "" {
			return d.with(Allow, ReasonOrgOwner, login)
		}
	}
	switch status {
	case StatusPending:
		return d.with(Deny, ReasonApprovalPending, login)
	case StatusDenied:
		return d.with(Deny, ReasonApprovalDenied, login)
	case StatusRevoked:
		return d.with(Deny, ReasonApprovalRevoked, login)
	}
	return d.with(Deny, ReasonApprovalMissing, login)
}
