package enforce

import (
	"fmt"
	"strings"
	"time"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// Explanation is the chain of facts behind a decision, for an operator
// answering "why was I refused?". It is built only on request, never on the
// request path.
type Explanation struct {
	Decision Decision
	Token    Token
	// TokenOwner is the owner the decision used and where it came from:
	// "feed", "host" or "" (unknown).
	TokenOwner, TokenOwnerFrom string
	Target                     target.Target
	Resource                   target.Resource
	FeedVersion                int64
	// Organization is the organization whose policies applied, if any,
	// and how the feed knows it: "listed", "defaults" (all_organizations)
	// or "not governed".
	Organization, OrganizationFrom string
	Enterprise                     Enterprise
	OrgSettings                    *Organization
	// Effective values for the organization.
	ClassicAccess  AccessSetting
	OptedIn        bool
	FineAccess     AccessSetting
	Approval       ApprovalSetting
	ApprovalStatus Status
	IsOrgOwner     bool
	// LookupError is why a fact could not be looked up, when one could not.
	LookupError string
	// Record is the token's feed record, if any.
	Record *TokenRecord
}

// Explain decides as Decide does and gathers the facts it used. res and tok
// are the facts the handler looked up for the final Decide call.
func Explain(p *Policy, tok Token, tgt target.Target, res target.Resource) Explanation {
	e := Explanation{Decision: Decide(p, tok, tgt, res), Token: tok, Target: tgt, Resource: res}
	if p == nil {
		return e
	}
	e.FeedVersion = p.version
	e.Enterprise = p.enterprise
	rec := p.Token(tok.Fingerprint)
	e.Record = rec
	switch {
	case rec != nil && rec.Owner != "":
		e.TokenOwner, e.TokenOwnerFrom = rec.Owner, "feed"
	case tok.OwnerKnown && tok.Owner != "":
		e.TokenOwner, e.TokenOwnerFrom = tok.Owner, "host"
	}
	login := e.Decision.Subject
	if tgt.Scope == target.Enterprise || login == "" {
		return e
	}
	e.Organization = login
	o := p.Organization(login)
	switch {
	case o == nil:
		e.OrganizationFrom = "not governed"
		return e
	case o == p.defaultOrg:
		e.OrganizationFrom = "defaults"
	default:
		e.OrganizationFrom = "listed"
	}
	e.OrgSettings = o
	e.ClassicAccess = p.classicAccess(o)
	e.OptedIn = p.optedIn(o)
	e.FineAccess = p.fineGrainedAccess(o)
	e.Approval = p.approval(o)
	if rec != nil {
		e.ApprovalStatus = rec.Status(strings.ToLower(login))
	}
	if e.TokenOwner != "" {
		_, e.IsOrgOwner = o.Owners[e.TokenOwner]
	}
	return e
}

// Lines renders the explanation as the lines an operator reads, decision
// first.
func (e Explanation) Lines() []string {
	d := e.Decision
	out := []string{fmt.Sprintf("decision: %s (%s)", d.Outcome, d.Reason)}
	if msg := d.Message(); msg != "" {
		out = append(out, "message: "+msg)
	}
	owner := "unknown"
	if e.TokenOwner != "" {
		owner = e.TokenOwner + " (from the " + e.TokenOwnerFrom + ")"
	}
	out = append(out,
		fmt.Sprintf("token: %s, fingerprint %s…, owner %s", e.Token.Class, e.Token.Fingerprint.Prefix(), owner),
		fmt.Sprintf("target: %s %s%s, %s, surface %s", e.Target.Scope, describeTarget(e.Target), publicNote(e.Target), e.Target.Access, e.Target.Surface))
	if e.LookupError != "" {
		out = append(out, "lookup failed: "+e.LookupError)
	}
	if e.Resource.Known {
		out = append(out, fmt.Sprintf("resource: owner %q (%s), visibility %s", e.Resource.OwnerLogin, e.Resource.OwnerType, e.Resource.Visibility))
	} else {
		out = append(out, "resource: not looked up (the decision did not need it)")
	}
	if e.Resource.AlsoKnown {
		out = append(out, fmt.Sprintf("second resource: owner %q (%s)", e.Resource.AlsoOwner, e.Resource.AlsoOwnerType))
	}
	if e.FeedVersion == 0 {
		return append(out, "feed: none loaded")
	}
	ent := e.Enterprise
	out = append(out,
		fmt.Sprintf("feed: version %d", e.FeedVersion),
		fmt.Sprintf("enterprise %q: all_organizations %v, classic access %s, fine-grained opted_in %v, access %s, approval %s",
			ent.Slug, ent.AllOrganizations, ent.ClassicAccess, ent.FineGrained.OptedIn, ent.FineGrained.Access, ent.FineGrained.Approval),
		fmt.Sprintf("enterprise limits: fine-grained %s, classic %s, administrators exempt %v (%d owners); IP allow list %d entries",
			days(ent.FineGrained.MaxLifetimeDays), days(ent.ClassicMaxLifetimeDays), ent.ExemptAdministrators, len(ent.Owners), ent.IPAllowList.Len()),
		e.lifeLine(), e.addrLine())
	if e.Organization == "" {
		return out
	}
	if e.OrgSettings == nil {
		return append(out, fmt.Sprintf("organization %q: %s", e.Organization, e.OrganizationFrom))
	}
	o := e.OrgSettings
	out = append(out,
		fmt.Sprintf("organization %q (%s): classic access %s, fine-grained opted_in %v, access %s, approval %s, %d owners",
			e.Organization, e.OrganizationFrom, o.ClassicAccess, o.FineGrained.OptedIn, o.FineGrained.Access, o.FineGrained.Approval, len(o.Owners)),
		fmt.Sprintf("effective: classic access %s; fine-grained opted in %v, access %s, approval %s", e.ClassicAccess, e.OptedIn, e.FineAccess, e.Approval),
		fmt.Sprintf("organization limits: fine-grained %s, classic %s, administrators exempt %v; IP allow list %d entries",
			days(o.FineGrained.MaxLifetimeDays), days(o.ClassicMaxLifetimeDays), o.ExemptAdministrators, o.IPAllowList.Len()))
	if e.Token.Class == tokenclass.FineGrained {
		out = append(out, fmt.Sprintf("approval: status %s, token owner is an organization owner: %v", e.ApprovalStatus, e.IsOrgOwner))
	}
	return out
}

func describeTarget(t target.Target) string {
	switch {
	case t.IDKind != target.IDNone:
		return fmt.Sprintf("%s id %d", t.IDKind, t.ID)
	case t.Name != "":
		return t.Owner + "/" + t.Name
	}
	return t.Owner
}

func publicNote(t target.Target) string {
	if t.AnonReadable {
		return " (readable anonymously when public)"
	}
	return ""
}

func days(n int) string {
	if n == 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d days", n)
}

// lifeLine says what the gateway knows of the token's lifetime (SPEC §8).
func (e Explanation) lifeLine() string {
	rec := e.Record
	created, expires := "unknown", "unknown (the host is asked when a limit applies)"
	if rec != nil && rec.CreatedAt != 0 {
		created = time.Unix(rec.CreatedAt, 0).UTC().Format(time.RFC3339) + " (feed)"
	}
	switch {
	case rec != nil && rec.Expiry == ExpiryNever:
		expires = "never (feed)"
	case rec != nil && rec.Expiry == ExpiryAt:
		expires = time.Unix(rec.ExpiresAt, 0).UTC().Format(time.RFC3339) + " (feed)"
	case e.Token.OwnerKnown && (e.Token.NeverExpires || e.Token.ExpiresAt == 0):
		expires = "never (host)"
	case e.Token.OwnerKnown:
		expires = time.Unix(e.Token.ExpiresAt, 0).UTC().Format(time.RFC3339) + " (host)"
	}
	return "token lifetime: created " + created + ", expires " + expires
}

// addrLine says which address the IP allow lists were checked against.
func (e Explanation) addrLine() string {
	if !e.Token.Addr.IsValid() {
		return "client address: none"
	}
	return "client address: " + e.Token.Addr.String()
}
