// Package policyfeed loads the policy feed (SPEC §5), validates it, and
// publishes it as an immutable enforce.Policy snapshot that requests read
// without locks.
//
// A feed is accepted whole or not at all: any invalid part rejects the feed,
// and the last good snapshot stays in force.
package policyfeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

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
func Parse(data []byte) (*enforce.Policy, error) {
	p, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFeed, err)
	}
	return p, nil
}

// jwtClaims are the registered JWT claim names (RFC 7519 §4.1) a signed
// feed's payload may carry beside the policy. Checking them is the job of the
// signature layer, not of Parse.
var jwtClaims = map[string]bool{"exp": true, "nbf": true, "iat": true, "iss": true, "sub": true, "aud": true, "jti": true}

func parse(data []byte) (*enforce.Policy, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty feed")
	}
	d := decoder{dec: json.NewDecoder(bytes.NewReader(data))}
	// Numbers stay text so that version can be checked exactly: a float64
	// would accept 1.5 and round large integers.
	d.dec.UseNumber()

	var (
		version    int64
		hasVersion bool
		ent        = enforce.DefaultEnterprise()
		orgs       []enforce.Organization
		tokens     map[tokenclass.Fingerprint]enforce.TokenRecord
	)
	err := d.object(func(key string) error {
		switch key {
		case "version":
			hasVersion = true
			return at(key, d.version(&version))
		case "enterprise":
			return at(key, d.enterprise(&ent))
		case "organizations":
			var err error
			orgs, err = d.organizations()
			return err
		case "tokens":
			var err error
			tokens, err = d.tokens()
			return err
		default:
			if jwtClaims[key] {
				var skip json.RawMessage
				return at(key, d.malformed(d.dec.Decode(&skip)))
			}
			return unknownField(key)
		}
	})
	if err != nil {
		return nil, err
	}
	// The decoder reads a stream of values; anything after the object means
	// the file is not the single document the producer meant to write.
	end := d.dec.InputOffset()
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the feed object, which ends at byte %d", end)
	}
	if !hasVersion {
		return nil, at("version", errors.New("missing (a positive integer is required)"))
	}
	p, err := enforce.NewPolicy(version, ent, orgs, tokens)
	if err != nil {
		// Parse checks everything NewPolicy does, with better messages;
		// this is a backstop.
		return nil, err
	}
	return p, nil
}

func (d *decoder) version(v *int64) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	n, ok := t.(json.Number)
	if !ok {
		return fmt.Errorf("want a positive integer, got %s", kind(t))
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if errors.Is(err, strconv.ErrRange) && n.String()[0] != '-' {
		return fmt.Errorf("want a positive integer, got %s, which is larger than %d", n, int64(math.MaxInt64))
	}
	if err != nil || i <= 0 {
		return fmt.Errorf("want a positive integer, got %s", n)
	}
	*v = i
	return nil
}

func (d *decoder) enterprise(e *enforce.Enterprise) error {
	return d.object(func(key string) error {
		switch key {
		case "slug":
			return at(key, d.str(&e.Slug))
		case "all_organizations":
			return at(key, d.boolean(&e.AllOrganizations))
		case "fine_grained":
			return at(key, d.fineGrained(&e.FineGrained, true))
		case "classic":
			return at(key, d.classic(&e.ClassicAccess, true))
		}
		return unknownField(key)
	})
}

// fineGrained decodes a fine_grained object into fg, keeping the defaults
// already in fg for omitted fields. organization_choice is refused below the
// enterprise, where there is no one left to choose.
func (d *decoder) fineGrained(fg *enforce.FineGrained, enterprise bool) error {
	return d.object(func(key string) error {
		switch key {
		case "opted_in":
			return at(key, d.boolean(&fg.OptedIn))
		case "access":
			return at(key, d.access(&fg.Access, enterprise))
		case "approval":
			return at(key, d.approval(&fg.Approval, enterprise))
		}
		return unknownField(key)
	})
}

func (d *decoder) classic(access *enforce.AccessSetting, enterprise bool) error {
	return d.object(func(key string) error {
		if key == "access" {
			return at(key, d.access(access, enterprise))
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
	err := d.object(func(key string) error {
		switch key {
		case "login":
			hasLogin = true
			if err := d.str(&o.Login); err != nil {
				return at(key, err)
			}
			if o.Login == "" {
				return at(key, errors.New("empty"))
			}
			return nil
		case "fine_grained":
			return at(key, d.fineGrained(&o.FineGrained, false))
		case "classic":
			return at(key, d.classic(&o.ClassicAccess, false))
		case "owners":
			var err error
			o.Owners, err = d.owners()
			return at(key, err)
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

func (d *decoder) tokens() (map[tokenclass.Fingerprint]enforce.TokenRecord, error) {
	tokens := make(map[tokenclass.Fingerprint]enforce.TokenRecord)
	// seen remembers where each fingerprint appeared, to name both entries
	// of a duplicate.
	seen := make(map[tokenclass.Fingerprint]int)
	err := d.array(func(i int) error {
		fp, rec, err := d.token()
		if err == nil {
			if j, dup := seen[fp]; dup {
				err = at("sha256", fmt.Errorf("fingerprint %s… duplicates tokens[%d]", fp.Prefix(), j))
			}
		}
		if err != nil {
			return at(index(i), err)
		}
		seen[fp] = i
		tokens[fp] = rec
		return nil
	})
	return tokens, at("tokens", err)
}

func (d *decoder) token() (tokenclass.Fingerprint, enforce.TokenRecord, error) {
	var (
		fp    tokenclass.Fingerprint
		hasFP bool
		rec   enforce.TokenRecord
	)
	err := d.object(func(key string) error {
		switch key {
		case "sha256":
			var s string
			if err := d.str(&s); err != nil {
				return at(key, err)
			}
			// ParseFingerprint never echoes its input, in case an operator
			// pasted a token there; neither do we.
			var err error
			fp, err = tokenclass.ParseFingerprint(s)
			hasFP = true
			return at(key, err)
		case "owner":
			var owner string
			if err := d.str(&owner); err != nil {
				return at(key, err)
			}
			if owner == "" {
				return at(key, errors.New("empty login (omit the field when the owner is unknown)"))
			}
			rec.Owner = strings.ToLower(owner)
			return nil
		case "organizations":
			var err error
			rec.Approvals, err = d.approvals()
			return at(key, err)
		}
		return unknownField(key)
	})
	if err == nil && !hasFP {
		err = at("sha256", errors.New("missing"))
	}
	return fp, rec, err
}

// approvals decodes a token's organization → status map, keyed by lowercase
// login. "Octo-Org" and "octo-org" name one organization, so both in one map
// would leave the token's status to whichever came last: refused.
func (d *decoder) approvals() (map[string]enforce.Status, error) {
	approvals := make(map[string]enforce.Status)
	// spelled keeps the feed's spelling of logins that were not lowercase,
	// only to name both spellings of a duplicate; most feeds never need it.
	var spelled map[string]string
	err := d.object(func(login string) error {
		var s string
		if err := d.str(&s); err != nil {
			return at("["+strconv.Quote(login)+"]", err)
		}
		if login == "" {
			return errors.New("empty organization login")
		}
		key := strings.ToLower(login)
		if _, dup := approvals[key]; dup {
			prev, ok := spelled[key]
			if !ok {
				prev = key
			}
			return fmt.Errorf("%q duplicates %q (logins compare case-insensitively)", login, prev)
		}
		st, err := enforce.ParseStatus(s)
		if err != nil {
			return at("["+strconv.Quote(login)+"]", err)
		}
		if key != login {
			if spelled == nil {
				spelled = make(map[string]string)
			}
			spelled[key] = login
		}
		approvals[key] = st
		return nil
	})
	return approvals, err
}
