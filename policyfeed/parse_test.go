package policyfeed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/tokenclass"
)

// Fingerprints used by the fixtures: sha256("test") and
// sha256("github_pat_one").
const (
	fpA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	fpB = "c33fa2330f1938bc9abdfd9c474a0205da693b7b7e65454408fb5eaea7b6fc0f"
)

func mustFP(t testing.TB, s string) tokenclass.Fingerprint {
	t.Helper()
	fp, err := tokenclass.ParseFingerprint(s)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, data []byte) *enforce.Policy {
	t.Helper()
	p, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseDefaults(t *testing.T) {
	defaultOrg := enforce.DefaultOrganization("")
	tests := []struct {
		name  string
		feed  string
		check func(t *testing.T, p *enforce.Policy)
	}{
		{
			name: "minimal feed has the default enterprise",
			feed: `{"version":1}`,
			check: func(t *testing.T, p *enforce.Policy) {
				want := enforce.Enterprise{AllOrganizations: true, FineGrained: enforce.FineGrained{
					OptedIn: true, Access: enforce.AccessOrganizationChoice, Approval: enforce.ApprovalOrganizationChoice,
				}, ClassicAccess: enforce.AccessOrganizationChoice}
				if got := p.Enterprise(); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got, enforce.DefaultEnterprise()) {
					t.Errorf("Enterprise() = %+v, want %+v", got, want)
				}
				if p.Version() != 1 {
					t.Errorf("Version() = %d, want 1", p.Version())
				}
				if orgs, tokens := p.Counts(); orgs != 0 || tokens != 0 {
					t.Errorf("Counts() = %d, %d, want 0, 0", orgs, tokens)
				}
			},
		},
		{
			name: "unlisted organization is governed with defaults when all_organizations is omitted",
			feed: `{"version":1}`,
			check: func(t *testing.T, p *enforce.Policy) {
				o := p.Organization("anything")
				if o == nil {
					t.Fatal("Organization(unlisted) = nil, want the defaults")
				}
				checkOrg(t, o, "", defaultOrg.FineGrained, defaultOrg.ClassicAccess)
			},
		},
		{
			name: "unlisted organization is not governed when all_organizations is false",
			feed: `{"version":1,"enterprise":{"all_organizations":false},"organizations":[{"login":"listed"}]}`,
			check: func(t *testing.T, p *enforce.Policy) {
				if o := p.Organization("unlisted"); o != nil {
					t.Errorf("Organization(unlisted) = %+v, want nil", o)
				}
				if o := p.Organization("listed"); o == nil {
					t.Error("Organization(listed) = nil")
				}
			},
		},
		{
			name: "omitted enterprise sub-objects keep their defaults",
			feed: `{"version":1,"enterprise":{"slug":"acme","fine_grained":{},"classic":{}}}`,
			check: func(t *testing.T, p *enforce.Policy) {
				want := enforce.DefaultEnterprise()
				want.Slug = "acme"
				if got := p.Enterprise(); !reflect.DeepEqual(got, want) {
					t.Errorf("Enterprise() = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "listed organization with only a login has the organization defaults",
			feed: `{"version":1,"organizations":[{"login":"octo-org"}]}`,
			check: func(t *testing.T, p *enforce.Policy) {
				o := p.Organization("octo-org")
				checkOrg(t, o, "octo-org", enforce.FineGrained{OptedIn: false, Access: enforce.AccessAllow, Approval: enforce.ApprovalRequire}, enforce.AccessAllow)
				if len(o.Owners) != 0 {
					t.Errorf("Owners = %v, want none", o.Owners)
				}
			},
		},
		{
			name: "organization with empty sub-objects has the organization defaults",
			feed: `{"version":1,"organizations":[{"login":"octo-org","fine_grained":{},"classic":{},"owners":[]}]}`,
			check: func(t *testing.T, p *enforce.Policy) {
				checkOrg(t, p.Organization("octo-org"), "octo-org", defaultOrg.FineGrained, defaultOrg.ClassicAccess)
			},
		},
		{
			name: "token with only a fingerprint has no owner and no approvals",
			feed: `{"version":1,"tokens":[{"sha256":"` + fpA + `"}]}`,
			check: func(t *testing.T, p *enforce.Policy) {
				rec := p.Token(mustFP(t, fpA))
				if rec == nil {
					t.Fatal("Token() = nil")
				}
				if rec.Owner != "" || len(rec.Approvals) != 0 {
					t.Errorf("Token() = %+v, want no owner and no approvals", rec)
				}
				if p.Token(mustFP(t, fpB)) != nil {
					t.Error("Token(unlisted) != nil")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, []byte(tt.feed)))
		})
	}
}

func checkOrg(t *testing.T, o *enforce.Organization, login string, fg enforce.FineGrained, classic enforce.AccessSetting) {
	t.Helper()
	if o == nil {
		t.Fatal("organization is nil")
	}
	if o.Login != login || o.FineGrained != fg || o.ClassicAccess != classic {
		t.Errorf("organization = {Login:%q FineGrained:%+v ClassicAccess:%v}, want {Login:%q FineGrained:%+v ClassicAccess:%v}",
			o.Login, o.FineGrained, o.ClassicAccess, login, fg, classic)
	}
}

func TestParseFull(t *testing.T) {
	p := mustParse(t, readFixture(t, "valid-full.json"))

	if p.Version() != 42 {
		t.Errorf("Version() = %d, want 42", p.Version())
	}
	if orgs, tokens := p.Counts(); orgs != 2 || tokens != 2 {
		t.Errorf("Counts() = %d, %d, want 2, 2", orgs, tokens)
	}
	wantEnt := enforce.Enterprise{
		Slug:             "acme",
		AllOrganizations: false,
		FineGrained:      enforce.FineGrained{OptedIn: false, Access: enforce.AccessRestrict, Approval: enforce.ApprovalRequire},
		ClassicAccess:    enforce.AccessAllow,
	}
	if got := p.Enterprise(); !reflect.DeepEqual(got, wantEnt) {
		t.Errorf("Enterprise() = %+v, want %+v", got, wantEnt)
	}

	t.Run("organization keeps its spelling and is found case-insensitively", func(t *testing.T) {
		for _, login := range []string{"Octo-Org", "octo-org", "OCTO-ORG"} {
			checkOrg(t, p.Organization(login), "Octo-Org",
				enforce.FineGrained{OptedIn: true, Access: enforce.AccessRestrict, Approval: enforce.ApprovalDisable}, enforce.AccessRestrict)
		}
	})
	t.Run("owners are lowercased", func(t *testing.T) {
		o := p.Organization("octo-org")
		if len(o.Owners) != 2 {
			t.Errorf("Owners = %v, want alice and bob", o.Owners)
		}
		for _, owner := range []string{"alice", "bob"} {
			if _, ok := o.Owners[owner]; !ok {
				t.Errorf("Owners = %v, want %q", o.Owners, owner)
			}
		}
	})
	t.Run("second organization has defaults", func(t *testing.T) {
		def := enforce.DefaultOrganization("other-org")
		checkOrg(t, p.Organization("other-org"), "other-org", def.FineGrained, def.ClassicAccess)
	})
	t.Run("unlisted organization is not governed", func(t *testing.T) {
		if o := p.Organization("elsewhere"); o != nil {
			t.Errorf("Organization(elsewhere) = %+v, want nil", o)
		}
	})
	t.Run("token owner and organizations are lowercased", func(t *testing.T) {
		rec := p.Token(mustFP(t, fpA))
		if rec == nil {
			t.Fatal("Token(A) = nil")
		}
		if rec.Owner != "carol" {
			t.Errorf("Owner = %q, want carol", rec.Owner)
		}
		want := map[string]enforce.Status{
			"octo-org": enforce.StatusApproved, "other-org": enforce.StatusPending,
			"third": enforce.StatusDenied, "fourth": enforce.StatusRevoked,
		}
		if len(rec.Approvals) != len(want) {
			t.Errorf("Approvals = %v, want %v", rec.Approvals, want)
		}
		for k, v := range want {
			if rec.Status(k) != v {
				t.Errorf("Status(%q) = %v, want %v", k, rec.Status(k), v)
			}
		}
	})
	t.Run("token without details", func(t *testing.T) {
		rec := p.Token(mustFP(t, fpB))
		if rec == nil || rec.Owner != "" || len(rec.Approvals) != 0 {
			t.Errorf("Token(B) = %+v, want an empty record", rec)
		}
	})
}

// TestParseValues sets each field to each of its values in turn, so that no
// value is mapped to the wrong setting.
func TestParseValues(t *testing.T) {
	type row struct {
		name string
		feed string
		get  func(p *enforce.Policy) any
		want any
	}
	var tests []row
	ent := func(field, value string, get func(enforce.Enterprise) any, want any) {
		tests = append(tests, row{
			name: "enterprise." + field + "=" + value,
			feed: `{"version":1,"enterprise":` + nest(field, value) + `}`,
			get:  func(p *enforce.Policy) any { return get(p.Enterprise()) },
			want: want,
		})
	}
	org := func(field, value string, get func(*enforce.Organization) any, want any) {
		tests = append(tests, row{
			name: "organizations[0]." + field + "=" + value,
			// {"login":"octo-org","a":{"b":value}}
			feed: `{"version":1,"organizations":[{"login":"octo-org",` + strings.TrimPrefix(nest(field, value), "{") + `]}`,
			get:  func(p *enforce.Policy) any { return get(p.Organization("octo-org")) },
			want: want,
		})
	}

	for _, v := range []bool{true, false} {
		s := fmt.Sprint(v)
		ent("all_organizations", s, func(e enforce.Enterprise) any { return e.AllOrganizations }, v)
		ent("fine_grained.opted_in", s, func(e enforce.Enterprise) any { return e.FineGrained.OptedIn }, v)
		org("fine_grained.opted_in", s, func(o *enforce.Organization) any { return o.FineGrained.OptedIn }, v)
	}
	ent("slug", `"acme"`, func(e enforce.Enterprise) any { return e.Slug }, "acme")
	ent("slug", `""`, func(e enforce.Enterprise) any { return e.Slug }, "")

	// Slices, not maps, so that the rows run in a stable order.
	access := []struct {
		s string
		v enforce.AccessSetting
	}{{"organization_choice", enforce.AccessOrganizationChoice}, {"restrict", enforce.AccessRestrict}, {"allow", enforce.AccessAllow}}
	for _, a := range access {
		q, v := `"`+a.s+`"`, a.v
		ent("fine_grained.access", q, func(e enforce.Enterprise) any { return e.FineGrained.Access }, v)
		ent("classic.access", q, func(e enforce.Enterprise) any { return e.ClassicAccess }, v)
		if v != enforce.AccessOrganizationChoice {
			org("fine_grained.access", q, func(o *enforce.Organization) any { return o.FineGrained.Access }, v)
			org("classic.access", q, func(o *enforce.Organization) any { return o.ClassicAccess }, v)
		}
	}
	approval := []struct {
		s string
		v enforce.ApprovalSetting
	}{{"organization_choice", enforce.ApprovalOrganizationChoice}, {"require", enforce.ApprovalRequire}, {"disable", enforce.ApprovalDisable}}
	for _, a := range approval {
		q, v := `"`+a.s+`"`, a.v
		ent("fine_grained.approval", q, func(e enforce.Enterprise) any { return e.FineGrained.Approval }, v)
		if v != enforce.ApprovalOrganizationChoice {
			org("fine_grained.approval", q, func(o *enforce.Organization) any { return o.FineGrained.Approval }, v)
		}
	}
	status := []struct {
		s string
		v enforce.Status
	}{{"pending", enforce.StatusPending}, {"approved", enforce.StatusApproved}, {"denied", enforce.StatusDenied}, {"revoked", enforce.StatusRevoked}}
	for _, st := range status {
		s, v := st.s, st.v
		tests = append(tests, row{
			name: "tokens[0].organizations=" + s,
			feed: `{"version":1,"tokens":[{"sha256":"` + fpA + `","organizations":{"Octo-Org":"` + s + `"}}]}`,
			get:  func(p *enforce.Policy) any { return p.Token(mustFP(t, fpA)).Status("octo-org") },
			want: v,
		})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, []byte(tt.feed))
			if got := tt.get(p); got != tt.want {
				t.Errorf("got %v, want %v (feed %s)", got, tt.want, tt.feed)
			}
		})
	}
}

// nest turns "a.b" and a JSON value into {"a":{"b":value}}.
func nest(path, value string) string {
	parts := strings.Split(path, ".")
	s := value
	for i := len(parts) - 1; i >= 0; i-- {
		s = `{"` + parts[i] + `":` + s + `}`
	}
	return s
}

func TestParseJWTClaimsIgnored(t *testing.T) {
	p := mustParse(t, readFixture(t, "valid-jwt-claims.json"))
	if p.Version() != 7 {
		t.Errorf("Version() = %d, want 7", p.Version())
	}
	// A claim name below the top level is not a claim.
	_, err := Parse([]byte(`{"version":1,"enterprise":{"exp":1}}`))
	if !errors.Is(err, ErrInvalidFeed) {
		t.Errorf("exp inside enterprise: err = %v, want ErrInvalidFeed", err)
	}
}

// invalidFeeds lists every testdata/invalid-*.json fixture with the words
// its error must contain: the path of the offending field and the reason.
var invalidFeeds = []struct {
	file string
	want []string
}{
	{"invalid-empty.json", []string{"empty feed"}},
	{"invalid-not-object.json", []string{"want an object", "array"}},
	{"invalid-syntax.json", []string{"malformed JSON near byte 12"}},
	{"invalid-truncated.json", []string{`organizations[0] "octo-org"`, "unexpected end"}},
	{"invalid-trailing-data.json", []string{"trailing data"}},
	{"invalid-trailing-object.json", []string{"trailing data"}},
	{"invalid-version-missing.json", []string{"version: missing"}},
	{"invalid-version-zero.json", []string{"version: want a positive integer, got 0"}},
	{"invalid-version-negative.json", []string{"version: want a positive integer, got -3"}},
	{"invalid-version-fraction.json", []string{"version: want a positive integer, got 1.5"}},
	{"invalid-version-exponent.json", []string{"version: want a positive integer, got 1e3"}},
	{"invalid-version-string.json", []string{"version: want a positive integer, got a string"}},
	{"invalid-version-null.json", []string{"version: want a positive integer, got null"}},
	{"invalid-version-overflow.json", []string{"version:", "larger than 9223372036854775807"}},
	{"invalid-duplicate-key.json", []string{`duplicate key "version"`}},
	{"invalid-duplicate-nested-key.json", []string{`enterprise.classic: duplicate key "access"`}},
	{"invalid-unknown-field.json", []string{`unknown field "organisations"`}},
	{"invalid-unknown-enterprise-field.json", []string{`enterprise: unknown field "all_orgs"`}},
	{"invalid-unknown-fine-grained-field.json", []string{`enterprise.fine_grained: unknown field "opted-in"`}},
	{"invalid-unknown-classic-field.json", []string{`enterprise.classic: unknown field "approval"`}},
	{"invalid-unknown-organization-field.json", []string{`organizations[0] "octo-org": unknown field "owner"`}},
	{"invalid-unknown-token-field.json", []string{`tokens[0]: unknown field "fingerprint"`}},
	{"invalid-null-field.json", []string{"enterprise.classic.access: want a string, got null"}},
	{"invalid-wrong-type.json", []string{"enterprise.all_organizations: want true or false, got a string"}},
	{"invalid-organizations-not-array.json", []string{"organizations: want an array, got an object"}},
	{"invalid-enterprise-access.json", []string{`enterprise.fine_grained.access: unknown access value "deny"`}},
	{"invalid-enterprise-approval.json", []string{`enterprise.fine_grained.approval: unknown approval value "required"`}},
	{"invalid-enterprise-classic-access.json", []string{`enterprise.classic.access: unknown access value "Restrict"`}},
	{"invalid-organization-access.json", []string{`organizations[0] "octo-org": fine_grained.access: unknown access value "allowed" (want restrict or allow)`}},
	{"invalid-organization-approval.json", []string{`organizations[0] "octo-org": fine_grained.approval: unknown approval value "off" (want require or disable)`}},
	{"invalid-organization-classic-access.json", []string{`organizations[3] "octo-org": classic.access: unknown access value "restricted"`}},
	{"invalid-organization-access-choice.json", []string{`organizations[0] "octo-org": fine_grained.access: "organization_choice" is an enterprise value only`}},
	{"invalid-organization-approval-choice.json", []string{`organizations[0] "octo-org": fine_grained.approval: "organization_choice" is an enterprise value only`}},
	{"invalid-organization-classic-choice.json", []string{`organizations[0] "octo-org": classic.access: "organization_choice" is an enterprise value only`}},
	{"invalid-organization-duplicate.json", []string{`organizations[1] "octo-org": login: duplicate of organizations[0] "octo-org"`}},
	{"invalid-organization-duplicate-case.json", []string{`organizations[1] "Octo-Org": login: duplicate of organizations[0] "octo-org"`}},
	{"invalid-organization-missing-login.json", []string{"organizations[0]: login: missing"}},
	{"invalid-organization-empty-login.json", []string{"organizations[0]: login: empty"}},
	{"invalid-owner-empty.json", []string{`organizations[0] "octo-org": owners[1]: empty login`}},
	{"invalid-owner-duplicate.json", []string{`organizations[0] "octo-org": owners[1]: duplicate owner "Alice"`}},
	{"invalid-owner-not-string.json", []string{`organizations[0] "octo-org": owners[0]: want a string, got the number 42`}},
	{"invalid-token-duplicate.json", []string{"tokens[2].sha256:", "9f86d081884c", "duplicates tokens[0]"}},
	{"invalid-token-fingerprint-uppercase.json", []string{"tokens[0].sha256: bad fingerprint"}},
	{"invalid-token-fingerprint-short.json", []string{"tokens[0].sha256: bad fingerprint", "got 63 characters"}},
	{"invalid-token-fingerprint-missing.json", []string{"tokens[0].sha256: missing"}},
	{"invalid-token-owner-empty.json", []string{"tokens[0].owner: empty login"}},
	{"invalid-token-status.json", []string{`tokens[0].organizations["octo-org"]: unknown approval status "accepted"`}},
	{"invalid-token-status-none.json", []string{`tokens[0].organizations["octo-org"]: unknown approval status "none"`}},
	{"invalid-token-organization-duplicate.json", []string{`tokens[0].organizations: duplicate key "octo-org"`}},
	{"invalid-token-organization-duplicate-case.json", []string{`tokens[0].organizations: "octo-org" duplicates another spelling of "octo-org"`}},
	{"invalid-token-organization-empty.json", []string{"tokens[0].organizations: empty organization login"}},
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidFeeds {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			data := readFixture(t, tt.file)
			p, err := Parse(data)
			if !errors.Is(err, ErrInvalidFeed) {
				t.Fatalf("err = %v, want ErrInvalidFeed", err)
			}
			if p != nil {
				t.Errorf("policy = %p, want nil with an error", p)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid feed: ") {
				t.Errorf("error %q does not start with %q", msg, "invalid feed: ")
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			// A malformed fingerprint may be a token pasted by mistake:
			// it must not be echoed.
			if strings.Contains(tt.file, "fingerprint") {
				if !errors.Is(err, tokenclass.ErrBadFingerprint) && !strings.Contains(tt.file, "missing") {
					t.Errorf("err = %v, want it to wrap tokenclass.ErrBadFingerprint", err)
				}
				for _, s := range []string{fpA[:40], strings.ToUpper(fpA[:40])} {
					if strings.Contains(msg, s) {
						t.Errorf("error %q echoes the fingerprint", msg)
					}
				}
			}
		})
	}
}

// TestParseFixturesCovered keeps the fixtures and the tables in step: every
// invalid fixture has a row in invalidFeeds, and every valid one parses.
func TestParseFixturesCovered(t *testing.T) {
	listed := make(map[string]bool)
	for _, tt := range invalidFeeds {
		listed[tt.file] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		switch {
		case strings.HasPrefix(name, "invalid-"):
			if !listed[name] {
				t.Errorf("%s has no row in invalidFeeds", name)
			}
			delete(listed, name)
		case strings.HasPrefix(name, "valid-"):
			if _, err := Parse(readFixture(t, name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		default:
			t.Errorf("%s is neither valid-* nor invalid-*", name)
		}
	}
	for name := range listed {
		t.Errorf("invalidFeeds lists %s, which does not exist", name)
	}
}

// genFeed builds a feed of the given size whose tokens each carry a few
// approvals, like a large enterprise's.
func genFeed(orgs, tokens int) []byte {
	var b strings.Builder
	b.WriteString(`{"version":1,"enterprise":{"slug":"acme","fine_grained":{"access":"organization_choice"}},"organizations":[`)
	for i := range orgs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"login":"org-%d","fine_grained":{"opted_in":true,"access":"allow","approval":"require"},"classic":{"access":"restrict"},"owners":["owner-%d","admin-%d"]}`, i, i, i)
	}
	b.WriteString(`],"tokens":[`)
	for i := range tokens {
		if i > 0 {
			b.WriteByte(',')
		}
		fp := tokenclass.FingerprintOf(fmt.Sprintf("github_pat_%d", i))
		fmt.Fprintf(&b, `{"sha256":"%s","owner":"User-%d","organizations":{"org-%d":"approved","org-%d":"pending"}}`,
			fp, i, i%orgs, (i+1)%orgs)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := genFeed(100, 10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseOrganizationMode(t *testing.T) {
	p, err := Parse([]byte(`{"version": 1, "organizations": [{"login": "a", "mode": "report"}, {"login": "b", "mode": "enforce"}, {"login": "c"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Organization("a").Report || p.Organization("b").Report || p.Organization("c").Report {
		t.Error("mode not read")
	}
	if _, err := Parse([]byte(`{"version": 1, "organizations": [{"login": "a", "mode": "audit"}]}`)); err == nil || !strings.Contains(err.Error(), `organizations[0] "a": mode: unknown mode "audit"`) {
		t.Errorf("bad mode: %v", err)
	}
}
