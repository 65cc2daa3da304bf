package policyfeed

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/tokenclass"
)

// TestParseLifetimesAndLists: SPEC §8 and §9's fields, at both levels and
// on token records of both classes.
func TestParseLifetimesAndLists(t *testing.T) {
	fpFine, fpClassic := tokenclass.FingerprintOf("github_pat_x"), tokenclass.FingerprintOf("ghp_x")
	p, err := Parse([]byte(`{"version": 3,
		"enterprise": {"slug": "acme", "owners": ["Alice"], "exempt_administrators": true,
			"fine_grained": {"max_lifetime_days": 366}, "classic": {"access": "organization_choice", "max_lifetime_days": 30},
			"ip_allow_list": ["192.0.2.0/24", "2001:db8::1"]},
		"organizations": [{"login": "octo-org", "fine_grained": {"max_lifetime_days": 90}, "classic": {"max_lifetime_days": 7},
			"exempt_administrators": true, "owners": ["bob"], "ip_allow_list": ["10.0.0.0/8"]}],
		"tokens": [
			{"sha256": "` + fpFine.String() + `", "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-03-02T00:00:00+00:00", "token_id": 4711},
			{"sha256": "` + fpClassic.String() + `", "owner": "carol", "expires_at": null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := p.Enterprise()
	if e.FineGrained.MaxLifetimeDays != 366 || e.ClassicMaxLifetimeDays != 30 || !e.ExemptAdministrators || len(e.Owners) != 1 || e.IPAllowList.Len() != 2 ||
		!e.IPAllowList.Contains(netip.MustParseAddr("192.0.2.7")) || e.IPAllowList.Contains(netip.MustParseAddr("192.0.3.7")) {
		t.Errorf("enterprise %+v", e)
	}
	if _, ok := e.Owners["alice"]; !ok {
		t.Error("the enterprise's owners are not lowercased")
	}
	o := p.Organization("octo-org")
	if o.FineGrained.MaxLifetimeDays != 90 || o.ClassicMaxLifetimeDays != 7 || !o.ExemptAdministrators || !o.IPAllowList.Contains(netip.MustParseAddr("10.9.8.7")) {
		t.Errorf("organization %+v", o)
	}
	r := p.Token(fpFine)
	if r == nil || r.Expiry != enforce.ExpiryAt || r.ExpiresAt-r.CreatedAt != 60*24*3600 || r.TokenID != "4711" ||
		time.Unix(r.CreatedAt, 0).UTC().Format(time.RFC3339) != "2026-01-01T00:00:00Z" {
		t.Errorf("fine-grained record %+v", r)
	}
	if r := p.Token(fpClassic); r == nil || r.Expiry != enforce.ExpiryNever || r.Owner != "carol" || r.CreatedAt != 0 {
		t.Errorf("classic record %+v", r)
	}
}

// TestParseLifetimeErrors: a bad value rejects the feed with an error that
// names the field and the organization (the previous feed stays: Store's
// tests show that for any invalid feed).
func TestParseLifetimeErrors(t *testing.T) {
	fp := tokenclass.FingerprintOf("github_pat_x").String()
	for _, tc := range []struct{ feed, want string }{
		{`{"version":1,"organizations":[{"login":"octo-org","fine_grained":{"max_lifetime_days":0}}]}`, `organizations[0] "octo-org": fine_grained.max_lifetime_days: want an integer from 1 to 366, got 0`},
		{`{"version":1,"organizations":[{"login":"octo-org","classic":{"max_lifetime_days":367}}]}`, `organizations[0] "octo-org": classic.max_lifetime_days: want an integer from 1 to 366, got 367`},
		{`{"version":1,"organizations":[{"login":"octo-org","classic":{"max_lifetime_days":30.5}}]}`, `classic.max_lifetime_days: want an integer from 1 to 366, got 30.5`},
		{`{"version":1,"enterprise":{"fine_grained":{"max_lifetime_days":"90"}}}`, `enterprise.fine_grained.max_lifetime_days: want an integer from 1 to 366, got a string`},
		{`{"version":1,"organizations":[{"login":"octo-org","ip_allow_list":["10.0.0.0/8","10.0.0.300"]}]}`, `organizations[0] "octo-org": ip_allow_list[1]: "10.0.0.300" is not an address or a CIDR range`},
		{`{"version":1,"enterprise":{"ip_allow_list":["2001:db8::/129"]}}`, `enterprise.ip_allow_list[0]: "2001:db8::/129" is not an address or a CIDR range`},
		{`{"version":1,"enterprise":{"exempt_administrators":"yes"}}`, `enterprise.exempt_administrators: want true or false`},
		{`{"version":1,"enterprise":{"owners":["a","A"]}}`, `enterprise.owners[1]: duplicate owner "A"`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","created_at":"yesterday"}]}`, `tokens[0].created_at: want an RFC 3339 time such as 2026-03-01T12:00:00Z, got "yesterday"`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","created_at":null}]}`, `tokens[0].created_at: want an RFC 3339 time`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","expires_at":1767225600}]}`, `tokens[0].expires_at: want an RFC 3339 time or null`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","created_at":"2026-03-01T00:00:00Z","expires_at":"2026-02-01T00:00:00Z"}]}`, `tokens[0].expires_at: before created_at`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","token_id":-4}]}`, `tokens[0].token_id: want a positive integer, got -4`},
		{`{"version":1,"tokens":[{"sha256":"` + fp + `","token_id":"4711"}]}`, `tokens[0].token_id: want a positive integer`},
	} {
		p, err := Parse([]byte(tc.feed))
		if p != nil || !errors.Is(err, ErrInvalidFeed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant …%s…", tc.feed, err, tc.want)
		}
	}
}

// TestUTCSeconds: the fast reading of timestamps agrees with time.Parse,
// and leaves every other form to it.
func TestUTCSeconds(t *testing.T) {
	for _, s := range []string{"2026-03-01T12:00:00Z", "1970-01-01T00:00:01Z", "2028-02-29T23:59:59Z", "2026-12-31T00:00:00Z"} {
		want, err := time.Parse(time.RFC3339, s)
		got, ok := utcSeconds([]byte(s))
		if err != nil || !ok || got != want.Unix() {
			t.Errorf("%s: %d %v, want %d", s, got, ok, want.Unix())
		}
	}
	for _, s := range []string{"2026-02-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-01T12:00:00+01:00", "2026-03-01 12:00:00Z", "2026-03-01T12:00:60Z", "２026-03-01T12:00:00Z"} {
		if _, ok := utcSeconds([]byte(s)); ok {
			t.Errorf("%s read", s)
		}
	}
}
