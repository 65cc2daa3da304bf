// Package policyfeed loads the policy feed (SPEC §5), validates it, and
// publishes it as an immutable enforce.Policy snapshot that requests read
// without locks.
//
// A feed is accepted whole or not at all: any invalid part rejects the feed,
// and the last good snapshot stays in force.
package policyfeed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/tokenclass"
)

// ErrInvalidFeed is wrapped by every error Parse returns, so callers can tell
// a bad feed from a source that could not be read.
var ErrInvalidFeed = errors.New("invalid feed")

// Parse decodes and validates a feed and builds its policy snapshot.
//
// It is strict because a typo in a security policy must never quietly become
// a default: unknown fields, repeated keys, null values, unknown enum values,
// duplicate logins or fingerprints and malformed fingerprints are all errors.
// Only the JWT claim names (exp, nbf, iat, iss, sub, aud, jti) are accepted
// and ignored at the top level, since a signed feed's payload may carry them.
// Errors wrap ErrInvalidFeed and name the place of the problem, e.g.
//
//	invalid feed: organizations[3] "octo-org": classic.access: unknown access value "restricted" (…)
//
// A feed whose exp (seconds since the epoch) has passed, or whose nbf has
// not come, is refused with ErrExpired, signed or not.
func Parse(data []byte) (*enforce.Policy, error) {
	p, c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFeed, err)
	}
	t := now()
	if c.hasExp && t.After(time.Unix(c.exp, 0).Add(clockSkew)) {
		return nil, fmt.Errorf("%w: it expired at %s", ErrExpired, time.Unix(c.exp, 0).UTC().Format(time.RFC3339))
	}
	if c.hasNbf && t.Before(time.Unix(c.nbf, 0).Add(-clockSkew)) {
		return nil, fmt.Errorf("%w: it is not valid before %s", ErrExpired, time.Unix(c.nbf, 0).UTC().Format(time.RFC3339))
	}
	return p, nil
}

// Load turns what a source fetched into a policy: it verifies the JWS with
// v when a key is configured (and refuses an unsigned feed then), refuses a
// signed feed when none is (it could not be verified), and parses.
func Load(data []byte, v *Verifier) (*enforce.Policy, error) {
	if v != nil {
		payload, err := v.Open(data)
		if err != nil {
			return nil, err
		}
		data = payload
	} else if looksLikeJWS(data) {
		return nil, ErrUnexpectedSignature
	}
	return Parse(data)
}

// looksLikeJWS reports whether data starts like a compact JWS: base64url
// text with dots, where a JSON feed starts with "{".
func looksLikeJWS(data []byte) bool {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] == '{' {
		return false
	}
	dots := 0
	for _, c := range t[:min(len(t), jwsSniff)] {
		switch {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots > 0
}

// claims are the JWT validity claims a feed's payload may carry.
type claims struct {
	exp, nbf       int64
	hasExp, hasNbf bool
}

// jwtClaims are the registered JWT claim names (RFC 7519 §4.1) a signed
// feed's payload may carry beside the policy. Checking them is the job of the
// signature layer, not of Parse.
var jwtClaims = map[string]bool{"exp": true, "nbf": true, "iat": true, "iss": true, "sub": true, "aud": true, "jti": true}

func parse(data []byte) (*enforce.Policy, claims, error) {
	var c claims
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, c, errors.New("empty feed")
	}
	d := newDecoder(data)

	var (
		version    int64
		hasVersion bool
		ent        = enforce.DefaultEnterprise()
		orgs       []enforce.Organization
		tokens     []enforce.TokenRecord
	)
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "version":
			hasVersion = true
			return at("version", d.version(&version))
		case "enterprise":
			return at("enterprise", d.enterprise(&ent))
		case "organizations":
			var err error
			orgs, err = d.organizations()
			return err
		case "tokens":
			var err error
			tokens, err = d.tokens()
			return err
		case "exp":
			c.hasExp = true
			return at("exp", d.seconds(&c.exp))
		case "nbf":
			c.hasNbf = true
			return at("nbf", d.seconds(&c.nbf))
		default:
			if jwtClaims[string(key)] {
				return at(string(key), d.skip())
			}
			return unknownField(key)
		}
	})
	if err != nil {
		return nil, c, err
	}
	// The decoder reads a stream of values; anything after the object means
	// the file is not the single document the producer meant to write.
	end := d.dec.InputOffset()
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return nil, c, fmt.Errorf("trailing data after the feed object, which ends at byte %d", end)
	}
	if !hasVersion {
		return nil, c, at("version", errors.New("missing (a positive integer is required)"))
	}
	p, err := enforce.NewPolicy(version, ent, orgs, tokens)
	if err != nil {
		return nil, c, err
	}
	return p, c, nil
}

// seconds reads a NumericDate claim: seconds since the epoch. Fractions
// are accepted (RFC 7519) and cut.
func (d *decoder) seconds(v *int64) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.Kind() != '0' {
		return fmt.Errorf("want seconds since the epoch, got %s", kind(t))
	}
	f, err := t.Float()
	if err != nil || f < 0 || f > math.MaxInt64/2 {
		return fmt.Errorf("want seconds since the epoch, got %s", t.String())
	}
	*v = int64(f)
	return nil
}

func (d *decoder) version(v *int64) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.Kind() != '0' {
		return fmt.Errorf("want a positive integer, got %s", kind(t))
	}
	// The number's text, parsed exactly: a float64 would accept 1.5 and
	// round large integers.
	n := t.String()
	i, err := strconv.ParseInt(n, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n[0] != '-' {
		return fmt.Errorf("want a positive integer, got %s, which is larger than %d", n, int64(math.MaxInt64))
	}
	if err != nil || i <= 0 {
		return fmt.Errorf("want a positive integer, got %s", n)
	}
	*v = i
	return nil
}

func (d *decoder) enterprise(e *enforce.Enterprise) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "slug":
			return at("slug", d.str(&e.Slug))
		case "all_organizations":
			return at("all_organizations", d.boolean(&e.AllOrganizations))
		case "fine_grained":
			return at("fine_grained", d.fineGrained(&e.FineGrained, true))
		case "classic":
			return at("classic", d.classic(&e.ClassicAccess, &e.ClassicMaxLifetimeDays, true))
		case "owners":
			var err error
			e.Owners, err = d.owners()
			return at("owners", err)
		case "exempt_administrators":
			return at("exempt_administrators", d.boolean(&e.ExemptAdministrators))
		case "ip_allow_list":
			var err error
			e.IPAllowList, err = d.ipAllowList()
			return at("ip_allow_list", err)
		}
		return unknownField(key)
	})
}

// lifetimeDays reads a max_lifetime_days value: an integer 1–366.
func (d *decoder) lifetimeDays(v *int) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.Kind() != '0' {
		return fmt.Errorf("want an integer from 1 to %d, got %s", enforce.MaxLifetimeDays, kind(t))
	}
	n, err := strconv.Atoi(t.String())
	if err != nil || n < 1 || n > enforce.MaxLifetimeDays {
		return fmt.Errorf("want an integer from 1 to %d, got %s", enforce.MaxLifetimeDays, t.String())
	}
	*v = n
	return nil
}

// ipAllowList reads a list of addresses and CIDR ranges.
func (d *decoder) ipAllowList() (*enforce.IPList, error) {
	var entries []string
	err := d.array(func(i int) error {
		var s string
		if err := d.str(&s); err != nil {
			return at(index(i), err)
		}
		if _, err := enforce.ParseIPEntry(s); err != nil {
			return at(index(i), err)
		}
		entries = append(entries, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return enforce.NewIPList(entries)
}

// fineGrained decodes a fine_grained object into fg, keeping the defaults
// already in fg for omitted fields. organization_choice is refused below the
// enterprise, where there is no one left to choose.
func (d *decoder) fineGrained(fg *enforce.FineGrained, enterprise bool) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "opted_in":
			return at("opted_in", d.boolean(&fg.OptedIn))
		case "access":
			return at("access", d.access(&fg.Access, enterprise))
		case "approval":
			return at("approval", d.approval(&fg.Approval, enterprise))
		case "max_lifetime_days":
			return at("max_lifetime_days", d.lifetimeDays(&fg.MaxLifetimeDays))
		}
		return unknownField(key)
	})
}

func (d *decoder) classic(access *enforce.AccessSetting, days *int, enterprise bool) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "access":
			return at("access", d.access(access, enterprise))
		case "max_lifetime_days":
			return at("max_lifetime_days", d.lifetimeDays(days))
		}
		return unknownField(key)
	})
}

func (d *decoder) access(a *enforce.AccessSetting, enterprise bool) error {
	var s string
	if err := d.str(&s); err != nil {
		return err
	}
	v, err := enforce.ParseAccessSetting(s)
	if enterprise {
		*a = v
		return err
	}
	switch {
	case err != nil:
		return fmt.Errorf("unknown access value %q (want restrict or allow)", s)
	case v == enforce.AccessOrganizationChoice:
		return errors.New(`"organization_choice" is an enterprise value only (want restrict or allow)`)
	}
	*a = v
	return nil
}

func (d *decoder) approval(a *enforce.ApprovalSetting, enterprise bool) error {
	var s string
	if err := d.str(&s); err != nil {
		return err
	}
	v, err := enforce.ParseApprovalSetting(s)
	if enterprise {
		*a = v
		return err
	}
	switch {
	case err != nil:
		return fmt.Errorf("unknown approval value %q (want require or disable)", s)
	case v == enforce.ApprovalOrganizationChoice:
		return errors.New(`"organization_choice" is an enterprise value only (want require or disable)`)
	}
	*a = v
	return nil
}

func (d *decoder) organizations() ([]enforce.Organization, error) {
	var orgs []enforce.Organization
	// seen maps a lowercase login to its position, to name both entries of
	// a duplicate.
	seen := make(map[string]int)
	err := d.array(func(i int) error {
		o, err := d.organization()
		if err == nil {
			key := strings.ToLower(o.Login)
			if j, dup := seen[key]; dup {
				err = at("login", fmt.Errorf("duplicate of organizations[%d] %q (logins compare case-insensitively)", j, orgs[j].Login))
			}
			seen[key] = i
		}
		if err != nil {
			// Name the organization as well as its index: the operator
			// thinks in logins. The inner path keeps its own ": " so the
			// message reads organizations[3] "octo-org": classic.access: ….
			if o.Login == "" {
				return &fieldError{path: index(i), err: err}
			}
			return &fieldError{path: index(i) + " " + strconv.Quote(o.Login), err: err}
		}
		orgs = append(orgs, o)
		return nil
	})
	return orgs, at("organizations", err)
}

// organization decodes one organization. On error it still returns the login
// if it was read, so the caller can name the organization.
func (d *decoder) organization() (enforce.Organization, error) {
	o := enforce.DefaultOrganization("")
	hasLogin := false
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "login":
			hasLogin = true
			if err := d.str(&o.Login); err != nil {
				return at("login", err)
			}
			if o.Login == "" {
				return at("login", errors.New("empty"))
			}
			return nil
		case "fine_grained":
			return at("fine_grained", d.fineGrained(&o.FineGrained, false))
		case "classic":
			return at("classic", d.classic(&o.ClassicAccess, &o.ClassicMaxLifetimeDays, false))
		case "exempt_administrators":
			return at("exempt_administrators", d.boolean(&o.ExemptAdministrators))
		case "ip_allow_list":
			var err error
			o.IPAllowList, err = d.ipAllowList()
			return at("ip_allow_list", err)
		case "owners":
			var err error
			o.Owners, err = d.owners()
			return at("owners", err)
		case "mode":
			var mode string
			if err := d.str(&mode); err != nil {
				return at("mode", err)
			}
			switch mode {
			case "enforce":
			case "report":
				o.Report = true
			default:
				return at("mode", fmt.Errorf("unknown mode %q (want enforce or report)", mode))
			}
			return nil
		}
		return unknownField(key)
	})
	if err == nil && !hasLogin {
		err = at("login", errors.New("missing"))
	}
	return o, err
}

// owners decodes the owner logins, lowercased because enforce compares them
// lowercase, and refuses duplicates, which would hint at a broken producer.
func (d *decoder) owners() (map[string]struct{}, error) {
	owners := make(map[string]struct{})
	err := d.array(func(i int) error {
		var s string
		if err := d.str(&s); err != nil {
			return at(index(i), err)
		}
		if s == "" {
			return at(index(i), errors.New("empty login"))
		}
		key := strings.ToLower(s)
		if _, dup := owners[key]; dup {
			return at(index(i), fmt.Errorf("duplicate owner %q (logins compare case-insensitively)", s))
		}
		owners[key] = struct{}{}
		return nil
	})
	return owners, err
}

// tokens decodes the token records. Duplicate fingerprints are refused by
// enforce.NewPolicy, which indexes them anyway; a second map of a million
// entries here would only double the work.
func (d *decoder) tokens() ([]enforce.TokenRecord, error) {
	var recs []enforce.TokenRecord
	// Approvals of all records share large backing arrays instead of one
	// small allocation each.
	var arena []enforce.Approval
	err := d.array(func(i int) error {
		rec, err := d.token(&arena)
		if err != nil {
			return at(index(i), err)
		}
		recs = append(recs, rec)
		return nil
	})
	return recs, at("tokens", err)
}

const arenaChunk = 1 << 16

func (d *decoder) token(arena *[]enforce.Approval) (enforce.TokenRecord, error) {
	var (
		rec   enforce.TokenRecord
		hasFP bool
	)
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "sha256":
			b, err := d.rawString("a string")
			if err != nil {
				return at("sha256", err)
			}
			// ParseFingerprintBytes never echoes its input, in case an
			// operator pasted a token there; neither do we.
			rec.Fingerprint, err = tokenclass.ParseFingerprintBytes(b)
			hasFP = true
			return at("sha256", err)
		case "owner":
			b, err := d.rawString("a string")
			if err != nil {
				return at("owner", err)
			}
			if len(b) == 0 {
				return at("owner", errors.New("empty login (omit the field when the owner is unknown)"))
			}
			rec.Owner = d.lowerLogin(b)
			return nil
		case "organizations":
			var err error
			rec.Approvals, err = d.approvals(arena)
			return at("organizations", err)
		case "created_at":
			t, err := d.timestamp(false)
			rec.CreatedAt = t
			return at("created_at", err)
		case "expires_at":
			t, err := d.timestamp(true)
			rec.ExpiresAt, rec.Expiry = t, enforce.ExpiryAt
			if t == 0 && err == nil {
				rec.Expiry = enforce.ExpiryNever
			}
			return at("expires_at", err)
		case "token_id":
			t, err := d.next()
			if err != nil {
				return at("token_id", err)
			}
			if t.Kind() != '0' {
				return at("token_id", wrongType("a positive integer", t))
			}
			if n, err := strconv.ParseInt(t.String(), 10, 64); err != nil || n <= 0 {
				return at("token_id", fmt.Errorf("want a positive integer, got %s", t.String()))
			}
			rec.TokenID = t.String()
			return nil
		}
		return unknownField(key)
	})
	if err == nil && !hasFP {
		err = at("sha256", errors.New("missing"))
	}
	if err == nil && rec.Expiry == enforce.ExpiryAt && rec.CreatedAt != 0 && rec.ExpiresAt < rec.CreatedAt {
		err = at("expires_at", errors.New("before created_at"))
	}
	return rec, err
}

// timestamp reads an RFC 3339 time as Unix seconds; with nullable, null
// reads as 0 (for expires_at: the token never expires).
func (d *decoder) timestamp(nullable bool) (int64, error) {
	want := "an RFC 3339 time"
	if nullable {
		if d.dec.PeekKind() == 'n' {
			_, err := d.next()
			return 0, err
		}
		want = "an RFC 3339 time or null"
	}
	b, err := d.rawString(want)
	if err != nil {
		return 0, err
	}
	if sec, ok := utcSeconds(b); ok {
		return sec, nil
	}
	ts, err := time.Parse(time.RFC3339, string(b))
	if err != nil || ts.Unix() <= 0 {
		return 0, fmt.Errorf("want an RFC 3339 time such as 2026-03-01T12:00:00Z, got %q", b)
	}
	return ts.Unix(), nil
}

// utcSeconds reads the form producers write, 2026-03-01T12:00:00Z, without
// time.Parse's general machinery: a feed of a million records carries two
// million of them. Anything else goes to time.Parse.
func utcSeconds(s []byte) (int64, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 || y < 1970 {
		return 0, false
	}
	ts := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if ts.Day() != d {
		return 0, false // 31 February: let time.Parse refuse it
	}
	return ts.Unix(), true
}

// digits reads a run of ASCII digits.
func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// approvals decodes a token's organization → status map, keyed by lowercase
// login, into the arena. "Octo-Org" and "octo-org" name one organization,
// so both in one map would leave the token's status to whichever came last:
// refused.
func (d *decoder) approvals(arena *[]enforce.Approval) ([]enforce.Approval, error) {
	if cap(*arena)-len(*arena) < 64 {
		*arena = make([]enforce.Approval, 0, arenaChunk)
	}
	start := len(*arena)
	err := d.object(func(raw []byte) error {
		if len(raw) == 0 {
			return errors.New("empty organization login")
		}
		login := d.lowerLogin(raw)
		for _, a := range (*arena)[start:] {
			if a.Org == login {
				return fmt.Errorf("%q duplicates another spelling of %q (logins compare case-insensitively)", raw, login)
			}
		}
		b, err := d.rawString("a string")
		if err != nil {
			return at("["+strconv.Quote(login)+"]", err)
		}
		st, err := parseStatus(b)
		if err != nil {
			return at("["+strconv.Quote(login)+"]", err)
		}
		*arena = append(*arena, enforce.Approval{Org: login, Status: st})
		return nil
	})
	if err != nil {
		return nil, err
	}
	a := (*arena)[start:len(*arena):len(*arena)]
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

// parseStatus is enforce.ParseStatus without a string per record.
func parseStatus(b []byte) (enforce.Status, error) {
	switch string(b) {
	case "approved":
		return enforce.StatusApproved, nil
	case "pending":
		return enforce.StatusPending, nil
	case "denied":
		return enforce.StatusDenied, nil
	case "revoked":
		return enforce.StatusRevoked, nil
	}
	return enforce.ParseStatus(string(b))
}
