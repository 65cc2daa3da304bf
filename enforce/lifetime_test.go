package enforce

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

const day = 24 * 3600

// now is the tests' clock: 2026-12-01T00:00:00Z.
const now = int64(1796083200)

// lifetimePolicy: the enterprise acme limits tokens to entDays (alice
// owns it), octo-org to orgDays (bob owns it); either may exempt its
// administrators. Both token classes are allowed and need no approval, so
// only the lifetime decides.
func lifetimePolicy(t testing.TB, class tokenclass.Class, entDays, orgDays int, entExempt, orgExempt bool, recs ...TokenRecord) *Policy {
	t.Helper()
	e := ent(true, AccessAllow, ApprovalDisable, AccessAllow)
	e.Owners, e.ExemptAdministrators = map[string]struct{}{"alice": {}}, entExempt
	o := org(AccessAllow, ApprovalDisable, AccessAllow)
	o.Owners, o.ExemptAdministrators = map[string]struct{}{"bob": {}}, orgExempt
	if class == tokenclass.Classic {
		e.ClassicMaxLifetimeDays, o.ClassicMaxLifetimeDays = entDays, orgDays
	} else {
		e.FineGrained.MaxLifetimeDays, o.FineGrained.MaxLifetimeDays = entDays, orgDays
	}
	p, err := NewPolicy(1, e, []Organization{o}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLifetime: every combination of class, level, exemption, what is
// known of the token's life, and what it reaches.
func TestLifetime(t *testing.T) {
	fp := tokenclass.FingerprintOf("a-token")
	type life struct {
		name string
		rec  *TokenRecord // the feed's record; nil: none
		host *Token       // what GET /user told (OwnerKnown, ExpiresAt, NeverExpires)
	}
	lives := []struct {
		life
		days int64 // the lifetime the gateway must see; -1: never expires
		asks bool  // only the host can tell the expiry
	}{
		{life{"created and expires in the feed: 60 days", &TokenRecord{Fingerprint: fp, Owner: "carol", CreatedAt: now - 10*day, ExpiresAt: now + 50*day, Expiry: ExpiryAt}, nil}, 60, false},
		{life{"created and expires in the feed: 120 days", &TokenRecord{Fingerprint: fp, Owner: "carol", CreatedAt: now - 100*day, ExpiresAt: now + 20*day, Expiry: ExpiryAt}, nil}, 120, false},
		{life{"never expires, in the feed", &TokenRecord{Fingerprint: fp, Owner: "carol", CreatedAt: now - day, Expiry: ExpiryNever}, nil}, -1, false},
		{life{"expires in the feed, no creation: the lower bound", &TokenRecord{Fingerprint: fp, Owner: "carol", ExpiresAt: now + 60*day, Expiry: ExpiryAt}, nil}, 60, false},
		{life{"no expiry in the feed: the host says 30 days from now, created 100 days ago", &TokenRecord{Fingerprint: fp, Owner: "carol", CreatedAt: now - 100*day},
			&Token{OwnerKnown: true, Owner: "carol", ExpiresAt: now + 30*day}}, 130, true},
		{life{"no record: the host says 200 days from now", nil, &Token{OwnerKnown: true, Owner: "carol", ExpiresAt: now + 200*day}}, 200, true},
		{life{"no record: the host sends no expiry, never expires", nil, &Token{OwnerKnown: true, Owner: "carol", NeverExpires: true}}, -1, true},
	}
	exceeds := func(lifeDays int64, limit int) bool { return limit > 0 && (lifeDays < 0 || lifeDays > int64(limit)) }
	for _, class := range []tokenclass.Class{tokenclass.FineGrained, tokenclass.Classic} {
		for _, lim := range []struct{ ent, org int }{{90, 0}, {0, 90}, {90, 30}, {365, 150}, {0, 0}} {
			for _, ex := range []struct{ ent, org bool }{{false, false}, {true, false}, {false, true}} {
				for _, owner := range []string{"carol", "alice", "bob"} {
					for _, l := range lives {
						rec := l.rec
						var recs []TokenRecord
						if rec != nil {
							r := *rec
							r.Owner = owner
							recs = append(recs, r)
						}
						p := lifetimePolicy(t, class, lim.ent, lim.org, ex.ent, ex.org, recs...)
						tok := Token{Class: class, Fingerprint: fp, Now: now, Host: "git.example.com"}
						name := fmt.Sprintf("%s/ent%d-org%d/exempt%v-%v/%s/%s", class, lim.ent, lim.org, ex.ent, ex.org, owner, l.name)
						d := Decide(p, tok, repoWrite, private)
						if d.Outcome == NeedTokenOwner {
							// One question to the host tells the owner and
							// the expiry.
							if l.host == nil {
								t.Fatalf("%s: the host asked although the feed tells all", name)
							}
							tok.OwnerKnown, tok.Owner = true, owner
							if l.host != nil {
								tok.ExpiresAt, tok.NeverExpires = l.host.ExpiresAt, l.host.NeverExpires
							}
							d = Decide(p, tok, repoWrite, private)
						} else if l.asks && l.rec == nil && (lim.ent > 0 || lim.org > 0) {
							t.Fatalf("%s: decided without the expiry only the host knows", name)
						}
						entLimit, orgLimit := lim.ent, lim.org
						if ex.ent && owner == "alice" {
							entLimit = 0
						}
						if ex.org && owner == "bob" {
							orgLimit = 0
						}
						want := Allow
						wantEnt := false
						switch {
						case exceeds(l.days, entLimit):
							want, wantEnt = Deny, true
						case exceeds(l.days, orgLimit):
							want = Deny
						}
						if d.Outcome != want || want == Deny && (d.Reason != ReasonLifetimeExceeded || d.ByEnterprise != wantEnt) {
							t.Fatalf("%s: %v %v (by enterprise %v), want %v (by enterprise %v)", name, d.Outcome, d.Reason, d.ByEnterprise, want, wantEnt)
						}
						// Public reads and user-owned resources stay open.
						if d := Decide(p, tok, repoRead, public); d.Outcome != Allow {
							t.Fatalf("%s: a public read: %v %v", name, d.Outcome, d.Reason)
						}
						if d := Decide(p, tok, repoWrite, userRepo); d.Outcome != Allow {
							t.Fatalf("%s: a user's repository: %v %v", name, d.Outcome, d.Reason)
						}
						// Enterprise endpoints have the enterprise's limit only.
						de := Decide(p, tok, entRead, target.Resource{})
						if wantE := exceeds(l.days, entLimit); (de.Outcome == Deny) != wantE {
							t.Fatalf("%s: the enterprise endpoint: %v %v", name, de.Outcome, de.Reason)
						}
					}
				}
			}
		}
	}
}

// TestLifetimeOrder: a request the class restriction, the IP allow list
// or approval refuses is refused for that reason, not for its lifetime.
func TestLifetimeOrder(t *testing.T) {
	fp := tokenclass.FingerprintOf("a-token")
	never := TokenRecord{Fingerprint: fp, Owner: "carol", Expiry: ExpiryNever}
	list, _ := NewIPList([]string{"10.0.0.0/8"})
	for _, tc := range []struct {
		name   string
		class  tokenclass.Class
		mutate func(*Enterprise, *Organization)
		addr   string
		want   Reason
	}{
		{"classic restricted", tokenclass.Classic, func(e *Enterprise, o *Organization) { o.ClassicAccess = AccessRestrict }, "10.1.1.1", ReasonClassicRestricted},
		{"fine-grained restricted", tokenclass.FineGrained, func(e *Enterprise, o *Organization) { o.FineGrained.Access = AccessRestrict }, "10.1.1.1", ReasonFineGrainedRestricted},
		{"IP before approval", tokenclass.FineGrained, func(e *Enterprise, o *Organization) { o.FineGrained.Approval = ApprovalRequire; o.IPAllowList = list }, "192.0.2.1", ReasonIPNotAllowed},
		{"approval before lifetime", tokenclass.FineGrained, func(e *Enterprise, o *Organization) { o.FineGrained.Approval = ApprovalRequire }, "10.1.1.1", ReasonApprovalMissing},
		{"lifetime last", tokenclass.FineGrained, func(e *Enterprise, o *Organization) {}, "10.1.1.1", ReasonLifetimeExceeded},
		{"lifetime of a classic token", tokenclass.Classic, func(e *Enterprise, o *Organization) {}, "10.1.1.1", ReasonLifetimeExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ent(true, AccessOrganizationChoice, ApprovalOrganizationChoice, AccessOrganizationChoice)
			e.FineGrained.MaxLifetimeDays, e.ClassicMaxLifetimeDays = 30, 30
			o := org(AccessAllow, ApprovalDisable, AccessAllow)
			o.Owners = nil
			tc.mutate(&e, &o)
			p, err := NewPolicy(1, e, []Organization{o}, []TokenRecord{never})
			if err != nil {
				t.Fatal(err)
			}
			d := Decide(p, Token{Class: tc.class, Fingerprint: fp, Now: now, Addr: netip.MustParseAddr(tc.addr)}, repoWrite, private)
			if d.Outcome != Deny || d.Reason != tc.want {
				t.Errorf("%v %v, want deny %v", d.Outcome, d.Reason, tc.want)
			}
		})
	}
}

// TestIPAllowList: the union of the enterprise's and the organization's
// lists, IPv4 and IPv6, single addresses and ranges; enterprise
// endpoints have the enterprise's list only.
func TestIPAllowList(t *testing.T) {
	entList, err := NewIPList([]string{"192.0.2.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	orgList, err := NewIPList([]string{"198.51.100.7", "2001:db8:ffff::1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	policy := func(e, o *IPList) *Policy {
		en := ent(true, AccessAllow, ApprovalDisable, AccessAllow)
		en.IPAllowList = e
		or := org(AccessAllow, ApprovalDisable, AccessAllow)
		or.IPAllowList = o
		p, err := NewPolicy(1, en, []Organization{or}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name             string
		entList, orgList *IPList
		addr             string
		repo, entOK      bool // allowed to the organization's private repository, and to the enterprise
		subject          string
	}{
		{"no lists", nil, nil, "203.0.113.9", true, true, ""},
		{"on the enterprise's list", entList, orgList, "192.0.2.200", true, true, ""},
		{"on the organization's list only", entList, orgList, "198.51.100.7", true, false, ""},
		{"a range of the organization's", entList, orgList, "10.200.3.4", true, false, ""},
		{"IPv6 on the enterprise's", entList, orgList, "2001:db8:1::5", true, true, ""},
		{"IPv6 single address of the organization's", entList, orgList, "2001:db8:ffff::1", true, true, ""},
		{"IPv4 written as IPv6", entList, nil, "::ffff:192.0.2.1", true, true, ""},
		{"on neither: the organization refuses", entList, orgList, "203.0.113.9", false, false, "octo-org"},
		{"on neither, the organization has no list: the enterprise refuses", entList, nil, "203.0.113.9", false, false, "acme"},
		{"only the organization has a list", nil, orgList, "203.0.113.9", false, true, "octo-org"},
		{"no address known", entList, orgList, "", false, false, "octo-org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(tc.entList, tc.orgList)
			var addr netip.Addr
			if tc.addr != "" {
				addr = netip.MustParseAddr(tc.addr)
			}
			for _, class := range []tokenclass.Class{tokenclass.Classic, tokenclass.FineGrained} {
				tok := Token{Class: class, Fingerprint: fpClassic, Addr: addr}
				d := Decide(p, tok, repoWrite, private)
				if (d.Outcome == Allow) != tc.repo {
					t.Errorf("%s, private repository: %v %v", class, d.Outcome, d.Reason)
				}
				if !tc.repo && (d.Reason != ReasonIPNotAllowed || d.Subject != tc.subject) {
					t.Errorf("%s: reason %v subject %q, want ip_not_allowed by %q", class, d.Reason, d.Subject, tc.subject)
				}
				if d := Decide(p, tok, repoRead, public); d.Outcome != Allow {
					t.Errorf("%s: a public read refused: %v", class, d.Reason)
				}
				if d := Decide(p, tok, repoWrite, userRepo); d.Outcome != Allow {
					t.Errorf("%s: a user's repository refused: %v", class, d.Reason)
				}
				if d := Decide(p, tok, entRead, target.Resource{}); (d.Outcome == Allow) != tc.entOK {
					t.Errorf("%s, enterprise endpoint: %v %v", class, d.Outcome, d.Reason)
				}
			}
		})
	}
	if _, err := NewIPList([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad range was accepted")
	}
	if _, err := NewIPList([]string{"fe80::1%eth0"}); err == nil {
		t.Error("an address with a zone was accepted")
	}
}

// TestNewMessages: GitHub's words, as SPEC §8 and §9 give them.
func TestNewMessages(t *testing.T) {
	for _, tc := range []struct {
		d    Decision
		want string
	}{
		{Decision{Reason: ReasonLifetimeExceeded, Class: tokenclass.FineGrained, Subject: "octo-org", LimitDays: 90, Host: "git.example.com"},
			"The 'octo-org' organization forbids access via a fine-grained personal access tokens if the token's lifetime is greater than 90 days. Please adjust your token's lifetime at the following URL: https://git.example.com/settings/personal-access-tokens"},
		{Decision{Reason: ReasonLifetimeExceeded, Class: tokenclass.Classic, Subject: "acme", ByEnterprise: true, LimitDays: 30, Host: "git.example.com", TokenID: "4711"},
			"The 'acme' enterprise forbids access via a personal access tokens (classic) if the token's lifetime is greater than 30 days. Please adjust your token's lifetime at the following URL: https://git.example.com/settings/tokens/4711"},
		{Decision{Reason: ReasonIPNotAllowed, Subject: "octo-org"},
			"Although you appear to have the correct authorization credentials, the `octo-org` organization has an IP allow list enabled, and your IP address is not permitted to access this resource."},
		{Decision{Reason: ReasonIPNotAllowed, Subject: "acme", ByEnterprise: true},
			"Although you appear to have the correct authorization credentials, the `acme` enterprise has an IP allow list enabled, and your IP address is not permitted to access this resource."},
	} {
		if got := tc.d.Message(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// BenchmarkDecideLifetimeIP: a decision with both new policies on (an IP
// allow list of 10,000 ranges and lifetime limits at both levels) for an
// approved fine-grained token within every limit. Goal: 0 allocations.
func BenchmarkDecideLifetimeIP(b *testing.B) {
	list := bigList(b, 10_000)
	e := ent(true, AccessOrganizationChoice, ApprovalOrganizationChoice, AccessOrganizationChoice)
	e.FineGrained.MaxLifetimeDays, e.IPAllowList = 365, list
	o := org(AccessAllow, ApprovalRequire, AccessAllow)
	o.FineGrained.MaxLifetimeDays, o.ExemptAdministrators = 90, true
	recs := testTokens()
	recs[0].CreatedAt, recs[0].ExpiresAt, recs[0].Expiry = now-10*day, now+50*day, ExpiryAt
	p, err := NewPolicy(1, e, []Organization{o}, recs)
	if err != nil {
		b.Fatal(err)
	}
	tok := Token{Class: tokenclass.FineGrained, Fingerprint: fpApproved, Now: now, Addr: netip.MustParseAddr("10.15.39.1")}
	if d := Decide(p, tok, repoWrite, private); d.Outcome != Allow {
		b.Fatalf("%v %v", d.Outcome, d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(p, tok, repoWrite, private)
	}
}

// BenchmarkIPAllowList: one check against a list of 10,000 ranges.
func BenchmarkIPAllowList(b *testing.B) {
	list := bigList(b, 10_000)
	for _, a := range []string{"10.15.39.1", "203.0.113.9", "2001:db8:1234::1"} {
		addr := netip.MustParseAddr(a)
		b.Run(a, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				list.Contains(addr)
			}
		})
	}
}

// bigList is n distinct /24 ranges under 10.0.0.0/8 and 2001:db8::/32.
func bigList(b testing.TB, n int) *IPList {
	entries := make([]string, 0, n)
	for i := range n {
		if i%2 == 0 {
			entries = append(entries, fmt.Sprintf("10.%d.%d.0/24", (i/2)/256%256, (i/2)%256))
		} else {
			entries = append(entries, fmt.Sprintf("2001:db8:%x::/48", i))
		}
	}
	l, err := NewIPList(entries)
	if err != nil {
		b.Fatal(err)
	}
	return l
}
