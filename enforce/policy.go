package enforce

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/patgate/patgate/tokenclass"
)

// AccessSetting is the value of a "restrict access" policy (fine-grained or
// classic PATs) at enterprise or organization level.
type AccessSetting uint8

const (
	// AccessOrganizationChoice lets each organization decide. It is valid at
	// enterprise level only.
	AccessOrganizationChoice AccessSetting = iota
	// AccessRestrict keeps the token class away from non-public resources.
	AccessRestrict
	// AccessAllow lets the token class in.
	AccessAllow
)

var accessNames = [...]string{"organization_choice", "restrict", "allow"}

func (a AccessSetting) String() string {
	if int(a) < len(accessNames) {
		return accessNames[a]
	}
	return "invalid"
}

// ParseAccessSetting parses a feed value; unknown values are an error.
func ParseAccessSetting(s string) (AccessSetting, error) {
	for i, n := range accessNames {
		if s == n {
			return AccessSetting(i), nil
		}
	}
	return 0, fmt.Errorf("unknown access value %q (want organization_choice, restrict or allow)", s)
}

// ApprovalSetting is the value of the "require approval of fine-grained PATs"
// policy.
type ApprovalSetting uint8

const (
	// ApprovalOrganizationChoice lets each organization decide. It is valid
	// at enterprise level only.
	ApprovalOrganizationChoice ApprovalSetting = iota
	// ApprovalRequire makes each fine-grained PAT need an approval.
	ApprovalRequire
	// ApprovalDisable lets fine-grained PATs in without approval.
	ApprovalDisable
)

var approvalNames = [...]string{"organization_choice", "require", "disable"}

func (a ApprovalSetting) String() string {
	if int(a) < len(approvalNames) {
		return approvalNames[a]
	}
	return "invalid"
}

// ParseApprovalSetting parses a feed value; unknown values are an error.
func ParseApprovalSetting(s string) (ApprovalSetting, error) {
	for i, n := range approvalNames {
		if s == n {
			return ApprovalSetting(i), nil
		}
	}
	return 0, fmt.Errorf("unknown approval value %q (want organization_choice, require or disable)", s)
}

// Status is a fine-grained token's approval status for one organization.
type Status uint8

const (
	// StatusNone means the token never asked for approval there.
	StatusNone Status = iota
	StatusPending
	StatusApproved
	StatusDenied
	StatusRevoked
)

var statusNames = [...]string{"none", "pending", "approved", "denied", "revoked"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "invalid"
}

// ParseStatus parses a feed approval status; "none" is not a feed value (an
// absent record means none) and is refused like any unknown value.
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames[1:] {
		if s == n {
			return Status(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown approval status %q (want pending, approved, denied or revoked)", s)
}

// FineGrained holds the fine-grained PAT policies of one level.
type FineGrained struct {
	OptedIn  bool
	Access   AccessSetting
	Approval ApprovalSetting
	// MaxLifetimeDays is the longest lifetime a fine-grained token may
	// have (SPEC §8), 1–366; 0 is no limit.
	MaxLifetimeDays int
}

// MaxLifetimeDays bounds a lifetime limit, as GitHub's setting does.
const MaxLifetimeDays = 366

// Enterprise is the enterprise's own settings.
type Enterprise struct {
	// Slug names the enterprise in messages; it may be empty.
	Slug string
	// AllOrganizations says every organization on the host belongs to the
	// enterprise (as on GitHub Enterprise Server). When false only the
	// organizations the feed lists are governed.
	AllOrganizations bool
	FineGrained      FineGrained
	ClassicAccess    AccessSetting
	// ClassicMaxLifetimeDays is the enterprise's lifetime limit for
	// classic tokens (SPEC §8); 0 is none.
	ClassicMaxLifetimeDays int
	// Owners holds the lowercase logins of the enterprise's owners, whom
	// ExemptAdministrators exempts from the enterprise's lifetime limits.
	Owners               map[string]struct{}
	ExemptAdministrators bool
	// IPAllowList, when it has entries, admits PAT requests to the
	// enterprise's non-public resources only from its addresses (SPEC §9),
	// together with each organization's own list.
	IPAllowList *IPList
}

// DefaultEnterprise is the enterprise when the feed says nothing: every
// organization belongs to it, fine-grained PATs are opted in, and every
// policy is left to the organizations.
func DefaultEnterprise() Enterprise {
	return Enterprise{AllOrganizations: true, FineGrained: FineGrained{OptedIn: true}}
}

// Organization is one organization's settings and owners.
type Organization struct {
	// Login is the organization's login as the feed spells it.
	Login         string
	FineGrained   FineGrained
	ClassicAccess AccessSetting
	// Owners holds the lowercase logins of the organization's owners, whose
	// fine-grained PATs need no approval there.
	Owners map[string]struct{}
	// Report puts the organization in report mode: the gateway logs and
	// counts what its policies would refuse, and forwards it.
	Report bool
	// ClassicMaxLifetimeDays is the organization's lifetime limit for
	// classic tokens; FineGrained.MaxLifetimeDays the fine-grained one.
	ClassicMaxLifetimeDays int
	// ExemptAdministrators exempts the organization's Owners from its own
	// lifetime limits (not from the enterprise's).
	ExemptAdministrators bool
	// IPAllowList is the organization's own list (SPEC §9).
	IPAllowList *IPList
}

// DefaultOrganization is an organization the feed does not describe: not
// opted in by itself, fine-grained PATs allowed but needing approval,
// classic PATs allowed.
func DefaultOrganization(login string) Organization {
	return Organization{
		Login:         login,
		FineGrained:   FineGrained{Access: AccessAllow, Approval: ApprovalRequire},
		ClassicAccess: AccessAllow,
	}
}

// TokenRecord is what the feed says about one token.
type TokenRecord struct {
	Fingerprint tokenclass.Fingerprint
	// Owner is the lowercase login of the token's owner; empty when the feed
	// does not name it.
	Owner string
	// CreatedAt and ExpiresAt (Unix seconds; 0 when not given) and Expiry
	// say how long the token lives (SPEC §8).
	CreatedAt, ExpiresAt int64
	Expiry               Expiry
	// TokenID, when given, ends the settings URL of a lifetime message.
	TokenID string
	// Approvals lists the token's status per organization (lowercase
	// logins, each once). A token asks a handful of organizations, so a
	// slice scanned in order is smaller and faster than a map, which
	// matters at a million records.
	Approvals []Approval
}

// Expiry says what a feed record tells of a token's expiry.
type Expiry uint8

const (
	// ExpiryUnknown: the record does not say; the host is asked.
	ExpiryUnknown Expiry = iota
	// ExpiryAt: the token expires at ExpiresAt.
	ExpiryAt
	// ExpiryNever: "expires_at": null, the token never expires.
	ExpiryNever
)

// Approval is a token's status for one organization.
type Approval struct {
	Org    string // lowercase login
	Status Status
}

// Status returns the token's status for an organization (lowercase login).
func (r *TokenRecord) Status(org string) Status {
	for _, a := range r.Approvals {
		if a.Org == org {
			return a.Status
		}
	}
	return StatusNone
}

// Policy is one immutable, indexed policy snapshot. Build it with
// NewPolicy; never change it afterwards, since requests read it without
// locks.
type Policy struct {
	version    int64
	enterprise Enterprise
	orgs       map[string]*Organization
	tokens     map[tokenclass.Fingerprint]int32 // index into records
	records    []TokenRecord
	// defaultOrg stands for every governed organization the feed omits.
	defaultOrg *Organization

	// restricts[class] is false when no governed resource can refuse that
	// token class, so requests need no lookup at all.
	restrictsClassic     bool
	restrictsFineGrained bool
}

// ErrInvalidPolicy marks a policy that cannot be built.
var ErrInvalidPolicy = errors.New("invalid policy")

// NewPolicy validates and indexes a snapshot; it keeps tokens (do not
// change it afterwards). Organization logins compare case-insensitively and
// must be unique; so must token fingerprints. Organization-level values may
// not be organization_choice.
func NewPolicy(version int64, ent Enterprise, orgs []Organization, tokens []TokenRecord) (*Policy, error) {
	p := &Policy{
		version:    version,
		enterprise: ent,
		orgs:       make(map[string]*Organization, len(orgs)),
		tokens:     make(map[tokenclass.Fingerprint]int32, len(tokens)),
		records:    tokens,
	}
	def := DefaultOrganization("")
	p.defaultOrg = &def
	for i := range orgs {
		o := orgs[i]
		key := strings.ToLower(o.Login)
		if key == "" {
			return nil, fmt.Errorf("%w: organization %d has no login", ErrInvalidPolicy, i)
		}
		if _, dup := p.orgs[key]; dup {
			return nil, fmt.Errorf("%w: organization %q listed twice", ErrInvalidPolicy, o.Login)
		}
		if o.FineGrained.Access == AccessOrganizationChoice || o.ClassicAccess == AccessOrganizationChoice || o.FineGrained.Approval == ApprovalOrganizationChoice {
			return nil, fmt.Errorf("%w: organization %q: organization_choice is an enterprise value only", ErrInvalidPolicy, o.Login)
		}
		p.orgs[key] = &o
	}
	if len(tokens) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: more than %d tokens", ErrInvalidPolicy, math.MaxInt32)
	}
	for i := range tokens {
		fp := tokens[i].Fingerprint
		if j, dup := p.tokens[fp]; dup {
			return nil, fmt.Errorf("%w: tokens[%d].sha256: fingerprint %s… duplicates tokens[%d]", ErrInvalidPolicy, i, fp.Prefix(), j)
		}
		p.tokens[fp] = int32(i)
	}
	p.restrictsClassic = p.couldRestrict(tokenclass.Classic)
	p.restrictsFineGrained = p.couldRestrict(tokenclass.FineGrained)
	return p, nil
}

// Version is the feed version the snapshot came from.
func (p *Policy) Version() int64 { return p.version }

// Enterprise returns the enterprise settings.
func (p *Policy) Enterprise() Enterprise { return p.enterprise }

// Counts returns the numbers of organizations and token records.
func (p *Policy) Counts() (orgs, tokens int) { return len(p.orgs), len(p.tokens) }

// Organization returns the settings that govern an organization: its own
// when the feed lists it, the defaults (with an empty Login) when it does not
// and all_organizations holds, and nil when it is not governed at all.
func (p *Policy) Organization(login string) *Organization {
	if o, ok := p.orgs[strings.ToLower(login)]; ok {
		return o
	}
	if !p.enterprise.AllOrganizations {
		return nil
	}
	return p.defaultOrg
}

// Token returns the feed record of a token, or nil.
func (p *Policy) Token(fp tokenclass.Fingerprint) *TokenRecord {
	i, ok := p.tokens[fp]
	if !ok {
		return nil
	}
	return &p.records[i]
}

// RestrictsClass reports whether any resource the policy governs could
// refuse a token of the class. When it is false, no request with such a token
// needs a lookup.
func (p *Policy) RestrictsClass(c tokenclass.Class) bool {
	switch c {
	case tokenclass.Classic:
		return p.restrictsClassic
	case tokenclass.FineGrained:
		return p.restrictsFineGrained
	}
	return false
}

func (p *Policy) couldRestrict(c tokenclass.Class) bool {
	if p.enterprise.AllOrganizations && p.orgCouldRestrict(c, p.defaultOrg) {
		return true
	}
	for _, o := range p.orgs {
		if p.orgCouldRestrict(c, o) {
			return true
		}
	}
	// The enterprise's own endpoints.
	if p.enterprise.IPAllowList.Len() > 0 || p.maxLifetime(c, nil) > 0 {
		return true
	}
	switch c {
	case tokenclass.Classic:
		return p.enterprise.ClassicAccess == AccessRestrict
	case tokenclass.FineGrained:
		return p.enterprise.FineGrained.OptedIn && p.enterprise.FineGrained.Access == AccessRestrict
	}
	return false
}

func (p *Policy) orgCouldRestrict(c tokenclass.Class, o *Organization) bool {
	if p.enterprise.IPAllowList.Len() > 0 || o.IPAllowList.Len() > 0 || p.maxLifetime(c, nil) > 0 || p.maxLifetime(c, o) > 0 {
		return true
	}
	switch c {
	case tokenclass.Classic:
		return p.classicAccess(o) == AccessRestrict
	case tokenclass.FineGrained:
		return !p.optedIn(o) || p.fineGrainedAccess(o) == AccessRestrict || p.approval(o) == ApprovalRequire
	}
	return false
}

// maxLifetime is the lifetime limit in days of a token class at one level:
// the enterprise's for a nil organization.
func (p *Policy) maxLifetime(c tokenclass.Class, o *Organization) int {
	switch {
	case o == nil && c == tokenclass.Classic:
		return p.enterprise.ClassicMaxLifetimeDays
	case o == nil && c == tokenclass.FineGrained:
		return p.enterprise.FineGrained.MaxLifetimeDays
	case c == tokenclass.Classic:
		return o.ClassicMaxLifetimeDays
	case c == tokenclass.FineGrained:
		return o.FineGrained.MaxLifetimeDays
	}
	return 0
}

// The effective values: an enterprise value other than organization_choice
// wins; otherwise the organization's own applies. An enterprise that has not
// opted in to fine-grained PATs has no fine-grained policy of its own.

func (p *Policy) classicAccess(o *Organization) AccessSetting {
	if v := p.enterprise.ClassicAccess; v != AccessOrganizationChoice {
		return v
	}
	return o.ClassicAccess
}

func (p *Policy) optedIn(o *Organization) bool {
	return p.enterprise.FineGrained.OptedIn || o.FineGrained.OptedIn
}

func (p *Policy) fineGrainedAccess(o *Organization) AccessSetting {
	if p.enterprise.FineGrained.OptedIn {
		if v := p.enterprise.FineGrained.Access; v != AccessOrganizationChoice {
			return v
		}
	}
	return o.FineGrained.Access
}

func (p *Policy) approval(o *Organization) ApprovalSetting {
	if p.enterprise.FineGrained.OptedIn {
		if v := p.enterprise.FineGrained.Approval; v != ApprovalOrganizationChoice {
			return v
		}
	}
	return o.FineGrained.Approval
}
