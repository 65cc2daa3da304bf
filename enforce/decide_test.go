package enforce

import (
	"strings"
	"testing"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// Fingerprints of the fine-grained test tokens, named by their feed record.
var (
	fpApproved = tokenclass.FingerprintOf("github_pat_approved")
	fpPending  = tokenclass.FingerprintOf("github_pat_pending")
	fpDenied   = tokenclass.FingerprintOf("github_pat_denied")
	fpRevoked  = tokenclass.FingerprintOf("github_pat_revoked")
	fpNone     = tokenclass.FingerprintOf("github_pat_norecord")
	fpAlice    = tokenclass.FingerprintOf("github_pat_alice")   // record names owner alice, no approvals
	fpNoOwner  = tokenclass.FingerprintOf("github_pat_noowner") // record without owner, no approvals
	fpClassic  = tokenclass.FingerprintOf("ghp_classic")
)

func testTokens() []TokenRecord {
	return []TokenRecord{
		{Fingerprint: fpApproved, Owner: "carol", Approvals: []Approval{{"octo-org", StatusApproved}, {"other-org", StatusPending}}},
		{Fingerprint: fpPending, Owner: "dave", Approvals: []Approval{{"octo-org", StatusPending}}},
		{Fingerprint: fpDenied, Owner: "erin", Approvals: []Approval{{"octo-org", StatusDenied}}},
		{Fingerprint: fpRevoked, Owner: "frank", Approvals: []Approval{{"octo-org", StatusRevoked}}},
		{Fingerprint: fpAlice, Owner: "alice"},
		{Fingerprint: fpNoOwner},
	}
}

// org returns octo-org with the given settings and alice as its owner.
func org(fgAccess AccessSetting, approval ApprovalSetting, classic AccessSetting) Organization {
	o := DefaultOrganization("octo-org")
	o.FineGrained.Access, o.FineGrained.Approval, o.ClassicAccess = fgAccess, approval, classic
	o.Owners = map[string]struct{}{"alice": {}}
	return o
}

func ent(fgOptIn bool, fgAccess AccessSetting, approval ApprovalSetting, classic AccessSetting) Enterprise {
	e := DefaultEnterprise()
	e.Slug = "acme"
	e.FineGrained = FineGrained{OptedIn: fgOptIn, Access: fgAccess, Approval: approval}
	e.ClassicAccess = classic
	return e
}

var (
	classic = Token{Class: tokenclass.Classic, Fingerprint: fpClassic}
	oauth   = Token{Class: tokenclass.OAuth}

	repoRead  = target.Target{Scope: target.Repository, Access: target.Read, Owner: "octo-org", Name: "r", AnonReadable: true}
	repoWrite = target.Target{Scope: target.Repository, Access: target.Write, Owner: "octo-org", Name: "r"}
	hooksRead = target.Target{Scope: target.Repository, Access: target.Read, Owner: "octo-org", Name: "r"}
	orgRead   = target.Target{Scope: target.Organization, Access: target.Read, Owner: "octo-org", AnonReadable: true}
	orgList   = target.Target{Scope: target.Organization, Access: target.Read, Owner: "octo-org"}
	entRead   = target.Target{Scope: target.Enterprise, Access: target.Read, Owner: "acme"}
	unscoped  = target.Target{Scope: target.Unscoped, Access: target.Write}
	graphql   = target.Target{Scope: target.Undetermined, Surface: target.GraphQL, Access: target.Write}

	private  = target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}
	public   = target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPublic}
	internal = target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityInternal}
	unknownV = target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization}
	userRepo = target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPrivate}
	noOwner  = target.Resource{Known: true}
)

var (
	alsoRepo = target.Target{Scope: target.Organization, Owner: "octo-org", Access: target.Write,
		Also: &target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 9}}
	alsoTeam = target.Target{Scope: target.Organization, IDKind: target.IDTeam, ID: 5, Access: target.Write,
		Also: &target.Target{Scope: target.Repository, Owner: "octo-org", Name: "r"}}
	alsoEnt = target.Target{Scope: target.Enterprise, Owner: "acme", Access: target.Write,
		Also: &target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 9}}
)

func withAlso(r target.Resource, owner string) target.Resource {
	r.AlsoKnown, r.AlsoOwner, r.AlsoOwnerType = true, owner, target.OwnerOrganization
	return r
}

func fg(fp tokenclass.Fingerprint) Token {
	return Token{Class: tokenclass.FineGrained, Fingerprint: fp}
}

const (
	oc       = AccessOrganizationChoice
	restrict = AccessRestrict
	allow    = AccessAllow
	aoc      = ApprovalOrganizationChoice
	require  = ApprovalRequire
	disable  = ApprovalDisable
)

func TestDecide(t *testing.T) {
	defaultEnt := ent(true, oc, aoc, oc)
	tests := []struct {
		name   string
		ent    Enterprise
		orgs   []Organization
		noFeed bool
		tok    Token
		tgt    target.Target
		res    target.Resource
		want   Outcome
		reason Reason
		// subject is checked when set.
		subject string
	}{
		// Tokens the policies do not govern.
		{name: "oauth token is not governed", ent: ent(true, restrict, require, restrict), tok: oauth, tgt: repoWrite, res: private, want: Allow, reason: ReasonNotGoverned},
		{name: "unscoped route", ent: ent(true, restrict, require, restrict), tok: classic, tgt: unscoped, want: Allow, reason: ReasonUnscoped},

		// Classic PAT access: every enterprise and organization value.
		{name: "classic: defaults allow without any lookup", ent: defaultEnt, tok: classic, tgt: repoWrite, want: Allow, reason: ReasonAllowed},
		{name: "classic: org restrict needs the resource", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoWrite, want: NeedResource},
		{name: "classic: org restrict denies private write", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoWrite, res: private, want: Deny, reason: ReasonClassicRestricted, subject: "octo-org"},
		{name: "classic: org restrict denies private read", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoRead, res: private, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: org restrict denies internal read", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoRead, res: internal, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: unknown visibility is not public", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoRead, res: unknownV, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: org restrict allows public read", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoRead, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "classic: writes are never public", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoWrite, res: public, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: admin sub-resource of public repo is not public", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: hooksRead, res: public, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: enterprise restrict beats org allow", ent: ent(true, oc, aoc, restrict), orgs: []Organization{org(allow, require, allow)}, tok: classic, tgt: repoWrite, res: private, want: Deny, reason: ReasonClassicRestricted, subject: "octo-org"},
		{name: "classic: enterprise allow beats org restrict", ent: ent(true, oc, aoc, allow), orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "classic: enterprise restrict applies to unlisted orgs", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: repoWrite, res: private, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: never needs approval", ent: ent(true, oc, require, oc), tok: classic, tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "classic: user-owned repository is never restricted", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: repoWrite, res: userRepo, want: Allow, reason: ReasonUserOwned},
		{name: "classic: missing owner counts as an organization", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: repoWrite, res: noOwner, want: Deny, reason: ReasonClassicRestricted, subject: "octo-org"},
		{name: "classic: org profile is public", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: orgRead, want: Allow, reason: ReasonPublicRead},
		{name: "classic: org lists are not public", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: orgList, want: Deny, reason: ReasonClassicRestricted},
		{name: "classic: org login compares case-insensitively", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: target.Target{Scope: target.Organization, Owner: "OCTO-ORG", Access: target.Write}, want: Deny, reason: ReasonClassicRestricted, subject: "octo-org"},

		// Enterprise endpoints.
		{name: "enterprise: classic restrict closes enterprise endpoints", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: entRead, want: Deny, reason: ReasonClassicRestricted, subject: "acme"},
		{name: "enterprise: org-level classic restrict leaves them open", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: entRead, want: Allow, reason: ReasonAllowed},
		{name: "enterprise: fine-grained restrict closes them", ent: ent(true, restrict, aoc, oc), tok: fg(fpApproved), tgt: entRead, want: Deny, reason: ReasonFineGrainedRestricted, subject: "acme"},
		{name: "enterprise: fine-grained restrict without opt-in counts as organization_choice", ent: ent(false, restrict, aoc, oc), orgs: []Organization{func() Organization { o := org(allow, require, allow); o.FineGrained.OptedIn = true; return o }()}, tok: fg(fpNone), tgt: entRead, want: Allow, reason: ReasonAllowed},
		{name: "enterprise: approval does not apply to enterprise endpoints", ent: ent(true, oc, require, oc), tok: fg(fpNone), tgt: entRead, want: Allow, reason: ReasonAllowed},

		// Organizations outside the enterprise.
		{name: "not governed: unlisted org when all_organizations is false", ent: func() Enterprise { e := ent(true, oc, aoc, restrict); e.AllOrganizations = false; return e }(), tok: classic, tgt: repoWrite, res: private, want: Allow, reason: ReasonNotGoverned},
		{name: "governed: listed org when all_organizations is false", ent: func() Enterprise { e := ent(true, oc, aoc, oc); e.AllOrganizations = false; return e }(), orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: repoWrite, res: private, want: Deny, reason: ReasonClassicRestricted},

		// Fine-grained access.
		{name: "fine-grained: enterprise restrict beats org allow and approval", ent: ent(true, restrict, aoc, oc), orgs: []Organization{org(allow, require, allow)}, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Deny, reason: ReasonFineGrainedRestricted, subject: "octo-org"},
		{name: "fine-grained: enterprise allow beats org restrict", ent: ent(true, allow, aoc, oc), orgs: []Organization{org(restrict, require, allow)}, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Allow, reason: ReasonApproved},
		{name: "fine-grained: org restrict under organization_choice", ent: defaultEnt, orgs: []Organization{org(restrict, disable, allow)}, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Deny, reason: ReasonFineGrainedRestricted},
		{name: "fine-grained: restricted org still serves public reads", ent: defaultEnt, orgs: []Organization{org(restrict, require, allow)}, tok: fg(fpNone), tgt: repoRead, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "fine-grained: everything allowed needs no lookup", ent: ent(true, allow, disable, oc), tok: fg(fpNone), tgt: repoWrite, want: Allow, reason: ReasonAllowed},

		// Opt-in (the beta rule).
		{name: "opt-in: neither enterprise nor org opted in counts as restrict", ent: ent(false, oc, aoc, oc), orgs: []Organization{org(allow, disable, allow)}, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Deny, reason: ReasonFineGrainedNotOptedIn},
		{name: "opt-in: unlisted org of a non-opted-in enterprise", ent: ent(false, oc, aoc, oc), tok: fg(fpApproved), tgt: repoWrite, res: private, want: Deny, reason: ReasonFineGrainedNotOptedIn},
		{name: "opt-in: org opted in by itself uses its own values", ent: ent(false, restrict, require, oc), orgs: []Organization{func() Organization { o := org(allow, disable, allow); o.FineGrained.OptedIn = true; return o }()}, tok: fg(fpNone), tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "opt-in: enterprise opt-in opts its orgs in", ent: ent(true, oc, aoc, oc), orgs: []Organization{org(allow, disable, allow)}, tok: fg(fpNone), tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "opt-in: public reads stay open", ent: ent(false, oc, aoc, oc), tok: fg(fpNone), tgt: repoRead, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "opt-in: user-owned repos stay open", ent: ent(false, oc, aoc, oc), tok: fg(fpNone), tgt: repoWrite, res: userRepo, want: Allow, reason: ReasonUserOwned},

		// Approval.
		{name: "approval: default requires approval", ent: defaultEnt, tok: fg(fpNone), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalMissing},
		{name: "approval: approved", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Allow, reason: ReasonApproved},
		{name: "approval: approved for an unlisted org", ent: defaultEnt, tok: fg(fpApproved), tgt: repoWrite, res: private, want: Allow, reason: ReasonApproved},
		{name: "approval: approval for one org does not carry to another", ent: defaultEnt, tok: fg(fpApproved), tgt: repoWrite, res: target.Resource{Known: true, OwnerLogin: "other-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, want: Deny, reason: ReasonApprovalPending, subject: "other-org"},
		{name: "approval: pending", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpPending), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalPending},
		{name: "approval: denied", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpDenied), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalDenied},
		{name: "approval: revoked", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpRevoked), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalRevoked},
		{name: "approval: no record", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpNone), tgt: repoRead, res: private, want: NeedTokenOwner},
		{name: "approval: no record, owner learned, not an owner", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: Token{Class: tokenclass.FineGrained, Fingerprint: fpNone, Owner: "bob", OwnerKnown: true}, tgt: repoRead, res: private, want: Deny, reason: ReasonApprovalMissing},
		{name: "approval: no record, host did not know the token", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: Token{Class: tokenclass.FineGrained, Fingerprint: fpNone, OwnerKnown: true}, tgt: repoRead, res: private, want: Deny, reason: ReasonApprovalMissing},
		{name: "approval: org owner named by the feed needs none", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpAlice), tgt: repoWrite, res: private, want: Allow, reason: ReasonOrgOwner},
		{name: "approval: record without owner asks who owns the token", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpNoOwner), tgt: repoWrite, res: private, want: NeedTokenOwner},
		{name: "approval: owner learned from the host", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: Token{Class: tokenclass.FineGrained, Fingerprint: fpNoOwner, Owner: "alice", OwnerKnown: true}, tgt: repoWrite, res: private, want: Allow, reason: ReasonOrgOwner},
		{name: "approval: org without owners never asks", ent: defaultEnt, tok: fg(fpNoOwner), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalMissing},
		{name: "approval: owner of another org only", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: fg(fpAlice), tgt: repoWrite, res: target.Resource{Known: true, OwnerLogin: "elsewhere", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, want: Deny, reason: ReasonApprovalMissing},
		{name: "approval: enterprise disable beats org require", ent: ent(true, oc, disable, oc), orgs: []Organization{org(allow, require, allow)}, tok: fg(fpNone), tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "approval: enterprise require beats org disable", ent: ent(true, oc, require, oc), orgs: []Organization{org(allow, disable, allow)}, tok: fg(fpPending), tgt: repoWrite, res: private, want: Deny, reason: ReasonApprovalPending},
		{name: "approval: org disable under organization_choice", ent: defaultEnt, orgs: []Organization{org(allow, disable, allow)}, tok: fg(fpPending), tgt: repoWrite, res: private, want: Allow, reason: ReasonAllowed},
		{name: "approval: unapproved token reads public repo", ent: defaultEnt, tok: fg(fpPending), tgt: repoRead, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "approval: unapproved token cannot write public repo", ent: defaultEnt, tok: fg(fpPending), tgt: repoWrite, res: public, want: Deny, reason: ReasonApprovalPending},
		{name: "approval: approvals compare case-insensitively", ent: defaultEnt, orgs: []Organization{func() Organization { o := org(allow, require, allow); o.Login = "Octo-Org"; return o }()}, tok: fg(fpApproved), tgt: repoWrite, res: target.Resource{Known: true, OwnerLogin: "OCTO-ORG", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, want: Allow, reason: ReasonApproved, subject: "Octo-Org"},

		// User scope and organizations by id.
		{name: "user scope: a user account is never restricted", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.User, Owner: "bob", Access: target.Write}, res: userRepo, want: Allow, reason: ReasonUserOwned},
		{name: "user scope: an organization's public profile", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.User, Owner: "octo-org", Access: target.Read, AnonReadable: true}, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "user scope: an organization's non-public route", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.User, Owner: "octo-org", Access: target.Read}, res: public, want: Deny, reason: ReasonClassicRestricted},
		{name: "org by id needs the resource", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 7, Access: target.Write}, want: NeedResource},
		{name: "org by id resolved", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 7, Access: target.Write}, res: private, want: Deny, reason: ReasonClassicRestricted},
		// A lookup that cannot see an id's owner (a 404 for the service
		// credential) must not open it: the owner is never "".
		{name: "org by id whose owner the lookup cannot see", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 7, Access: target.Write}, res: noOwner, want: Deny, reason: ReasonUndetermined},
		{name: "org by id naming a user", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.Organization, IDKind: target.IDOrganization, ID: 7, Access: target.Write}, res: userRepo, want: Allow, reason: ReasonNotGoverned},
		{name: "repository by id whose owner the lookup cannot see", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 1, Access: target.Read, AnonReadable: true}, res: noOwner, want: Deny, reason: ReasonUndetermined},
		{name: "repository by id, no owner, write", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 1, Access: target.Write}, res: noOwner, want: Deny, reason: ReasonUndetermined},
		{name: "account by id, no owner", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: target.Target{Scope: target.User, IDKind: target.IDAccount, ID: 1}, res: noOwner, want: Deny, reason: ReasonUndetermined},
		{name: "repository by id, no owner, nothing restricts the class", ent: defaultEnt, orgs: []Organization{org(allow, require, allow)}, tok: classic, tgt: target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: 1, Access: target.Write}, res: noOwner, want: Allow, reason: ReasonAllowed},

		{name: "team id resolved to its organization", ent: ent(true, oc, aoc, restrict), tok: classic, tgt: target.Target{Scope: target.Organization, IDKind: target.IDTeam, ID: 5, Access: target.Read}, res: public, want: Deny, reason: ReasonClassicRestricted, subject: "octo-org"},
		{name: "personal resources are never restricted", ent: ent(true, restrict, require, restrict), tok: classic, tgt: target.Target{Scope: target.Personal, Access: target.Write}, want: Allow, reason: ReasonUserOwned},

		// Routes that name a second resource, which must belong to the first.
		{name: "also: needs the second owner", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: fg(fpApproved), tgt: alsoRepo, res: private, want: NeedAlso},
		{name: "also: repository of the same organization", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: fg(fpApproved), tgt: alsoRepo, res: withAlso(private, "Octo-Org"), want: Allow, reason: ReasonApproved},
		{name: "also: repository of another organization", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: fg(fpApproved), tgt: alsoRepo, res: withAlso(private, "other-org"), want: Deny, reason: ReasonOwnerMismatch, subject: "octo-org"},
		{name: "also: a refusal needs no second lookup", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: alsoRepo, res: private, want: Deny, reason: ReasonClassicRestricted},
		{name: "also: nothing restricted needs no second lookup", ent: ent(true, allow, disable, allow), tok: fg(fpNone), tgt: alsoRepo, want: Allow, reason: ReasonAllowed},
		{name: "also: team's repository in the team's organization", ent: defaultEnt, tok: fg(fpApproved), tgt: alsoTeam, res: withAlso(private, "octo-org"), want: Allow, reason: ReasonApproved},
		{name: "also: team's repository elsewhere", ent: defaultEnt, tok: fg(fpApproved), tgt: alsoTeam, res: withAlso(private, "other-org"), want: Deny, reason: ReasonOwnerMismatch},
		{name: "also: organization of the enterprise", ent: ent(true, oc, aoc, oc), tok: classic, tgt: alsoEnt, res: withAlso(target.Resource{}, "octo-org"), want: Allow, reason: ReasonAllowed},
		{name: "also: organization outside the enterprise", ent: func() Enterprise { e := ent(true, oc, aoc, oc); e.AllOrganizations = false; return e }(), orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: alsoEnt, res: withAlso(target.Resource{}, "stranger"), want: Deny, reason: ReasonOwnerMismatch},

		// GraphQL until it is resolved.
		{name: "undetermined: refused when a restriction could apply", ent: defaultEnt, orgs: []Organization{org(allow, require, restrict)}, tok: classic, tgt: graphql, want: Deny, reason: ReasonUndetermined, subject: "acme"},
		{name: "undetermined: allowed when nothing can restrict the class", ent: defaultEnt, tok: classic, tgt: graphql, want: Allow, reason: ReasonAllowed},

		// No feed yet.
		{name: "no feed: private org repo is unavailable", noFeed: true, tok: classic, tgt: repoWrite, res: private, want: Unavailable, reason: ReasonNoFeed},
		{name: "no feed: needs the resource first", noFeed: true, tok: classic, tgt: repoWrite, want: NeedResource},
		{name: "no feed: public read still works", noFeed: true, tok: classic, tgt: repoRead, res: public, want: Allow, reason: ReasonPublicRead},
		{name: "no feed: user-owned still works", noFeed: true, tok: fg(fpNone), tgt: repoWrite, res: userRepo, want: Allow, reason: ReasonUserOwned},
		{name: "no feed: enterprise endpoints unavailable", noFeed: true, tok: classic, tgt: entRead, want: Unavailable, reason: ReasonNoFeed},
		{name: "no feed: unscoped still works", noFeed: true, tok: classic, tgt: unscoped, want: Allow, reason: ReasonUnscoped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p *Policy
			if !tc.noFeed {
				var err error
				p, err = NewPolicy(7, tc.ent, tc.orgs, testTokens())
				if err != nil {
					t.Fatal(err)
				}
			}
			d := Decide(p, tc.tok, tc.tgt, tc.res)
			if d.Outcome != tc.want || (tc.reason != ReasonNone && d.Reason != tc.reason) {
				t.Fatalf("got %s/%s, want %s/%s", d.Outcome, d.Reason, tc.want, tc.reason)
			}
			if tc.subject != "" && d.Subject != tc.subject {
				t.Errorf("subject %q, want %q", d.Subject, tc.subject)
			}
			if !tc.noFeed && d.FeedVersion != 7 {
				t.Errorf("feed version %d, want 7", d.FeedVersion)
			}
			if d.Outcome == Deny || d.Outcome == Unavailable {
				if d.Message() == "" {
					t.Errorf("a refusal without a message")
				}
			}
		})
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"classic restricted", Decision{Outcome: Deny, Reason: ReasonClassicRestricted, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."},
		{"fine-grained restricted", Decision{Outcome: Deny, Reason: ReasonFineGrainedRestricted, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions. Please use a GitHub App, or an OAuth App."},
		{"not opted in reads as restricted", Decision{Outcome: Deny, Reason: ReasonFineGrainedNotOptedIn, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions. Please use a GitHub App, or an OAuth App."},
		{"pending", Decision{Outcome: Deny, Reason: ReasonApprovalPending, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token's request for approval is pending."},
		{"denied", Decision{Outcome: Deny, Reason: ReasonApprovalDenied, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token's request for approval was denied."},
		{"revoked", Decision{Outcome: Deny, Reason: ReasonApprovalRevoked, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token's approval was revoked."},
		{"never requested", Decision{Outcome: Deny, Reason: ReasonApprovalMissing, Subject: "octo-org"},
			"`octo-org` forbids access via a personal access token with fine-grained permissions that it has not approved. This token has not requested approval."},
		{"enterprise without slug", Decision{Outcome: Deny, Reason: ReasonClassicRestricted},
			"This enterprise forbids access via a personal access token (classic). Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.Message(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if tc.d.HTTPStatus() != 403 {
				t.Errorf("status %d", tc.d.HTTPStatus())
			}
		})
	}
	for _, r := range Reasons() {
		if strings.Contains(r.String(), "invalid") || r.String() == "" {
			t.Errorf("reason %d has no name", r)
		}
	}
}

func TestNewPolicyRejects(t *testing.T) {
	tests := []struct {
		name string
		orgs []Organization
	}{
		{"duplicate login, other case", []Organization{DefaultOrganization("octo-org"), DefaultOrganization("Octo-Org")}},
		{"empty login", []Organization{DefaultOrganization("")}},
		{"organization_choice at org level", []Organization{org(oc, require, allow)}},
		{"organization_choice approval at org level", []Organization{org(allow, aoc, allow)}},
	}
	t.Run("duplicate fingerprint", func(t *testing.T) {
		if _, err := NewPolicy(1, DefaultEnterprise(), nil, []TokenRecord{{Fingerprint: fpAlice}, {Fingerprint: fpAlice}}); err == nil {
			t.Fatal("accepted")
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPolicy(1, DefaultEnterprise(), tc.orgs, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestDecideAllocs(t *testing.T) {
	p, err := NewPolicy(1, ent(true, oc, aoc, oc), []Organization{org(allow, require, restrict)}, testTokens())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(){
		"classic deny":  func() { Decide(p, classic, repoWrite, private) },
		"fine approved": func() { Decide(p, fg(fpApproved), repoWrite, private) },
		"fine missing": func() {
			Decide(p, Token{Class: tokenclass.FineGrained, Fingerprint: fpNone, OwnerKnown: true}, repoWrite, private)
		},
		"public read":   func() { Decide(p, classic, repoRead, public) },
		"need resource": func() { Decide(p, classic, repoRead, target.Resource{}) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p, err := NewPolicy(1, ent(true, oc, aoc, oc), []Organization{org(allow, require, restrict)}, testTokens())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		tok  Token
		tgt  target.Target
		res  target.Resource
	}{
		{"classic-denied", classic, repoWrite, private},
		{"classic-public-read", classic, repoRead, public},
		{"fine-grained-approved", fg(fpApproved), repoWrite, private},
		{"fine-grained-pending", fg(fpPending), repoWrite, private},
		{"user-owned", classic, repoWrite, userRepo},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(p, c.tok, c.tgt, c.res)
			}
		})
	}
}
