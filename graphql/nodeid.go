package graphql

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/patgate/patgate/target"
)

// NodeTarget decodes a global node ID into the target that owns it:
//
//   - the new form, PREFIX_ + base64url(msgpack): U_ (user), O_
//     (organization) and R_ (repository) carry [0, database id]; objects
//     that live in a repository (issues, pull requests, comments, …) carry
//     [0, repository database id, object id], so their repository decides;
//   - the legacy form, base64 of "NN:TypeID" (e.g. "04:User3407303"), for
//     users, organizations and repositories.
//
// ok is false, with a reason, when the ID names something whose owner the
// gateway cannot look up.
func NodeTarget(id string, access target.Access) (t target.Target, ok bool, why string) {
	if prefix, rest, found := strings.Cut(id, "_"); found && prefix != "" && isUpperAlnum(prefix) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err != nil {
			return t, false, fmt.Sprintf("node ID %s is not valid base64", short(id))
		}
		var parts []any
		if err := msgpack.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
			return t, false, fmt.Sprintf("node ID %s cannot be decoded", short(id))
		}
		dbID, ok := asInt(parts[1])
		if !ok || dbID <= 0 {
			return t, false, fmt.Sprintf("node ID %s carries no database id", short(id))
		}
		switch {
		case prefix == "U" && len(parts) == 2:
			return idTarget(target.User, target.IDAccount, dbID, access), true, ""
		case prefix == "O" && len(parts) == 2:
			return idTarget(target.Organization, target.IDOrganization, dbID, access), true, ""
		case prefix == "R" && len(parts) == 2:
			return idTarget(target.Repository, target.IDRepository, dbID, access), true, ""
		case len(parts) >= 3 && repositoryOwned[prefix]:
			return idTarget(target.Repository, target.IDRepository, dbID, access), true, ""
		}
		return t, false, fmt.Sprintf("node ID %s (%s_) names an object whose owner cannot be looked up", short(id), prefix)
	}
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return t, false, fmt.Sprintf("node ID %s is neither a legacy nor a new-form ID", short(id))
	}
	n, rest, found := strings.Cut(string(raw), ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size <= 0 || size > len(rest) {
		return t, false, fmt.Sprintf("node ID %s is not a legacy ID", short(id))
	}
	typ, digits := rest[:size], rest[size:]
	dbID, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || dbID <= 0 {
		return t, false, fmt.Sprintf("legacy node ID %s has no database id", short(id))
	}
	switch typ {
	case "User":
		return idTarget(target.User, target.IDAccount, dbID, access), true, ""
	case "Organization":
		return idTarget(target.Organization, target.IDOrganization, dbID, access), true, ""
	case "Repository":
		return idTarget(target.Repository, target.IDRepository, dbID, access), true, ""
	}
	return t, false, fmt.Sprintf("legacy node ID %s names a %s, whose owner cannot be looked up", short(id), typ)
}

// repositoryOwned lists the new-form prefixes of objects that live in a
// repository and carry its database id.
var repositoryOwned = map[string]bool{
	"I": true, "PR": true, "IC": true, "PRR": true, "PRRC": true, "PRRT": true,
	"C": true, "CC": true, "D": true, "DC": true, "DE": true, "DS": true,
	"L": true, "MI": true, "RE": true, "REF": true,
	"CR": true, "CS": true, "BPR": true, "RRS": true, "DK": true, "RA": true,
	"CM": true, "MC": true,
}

func idTarget(s target.Scope, k target.IDKind, id int64, a target.Access) target.Target {
	return target.Target{Scope: s, Surface: target.GraphQL, Access: a, IDKind: k, ID: id}
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > 1<<62 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func isUpperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// short quotes a value the client sent for a reason the gateway gives,
// cut to 64 bytes with a marker: a node ID or URL may be as large as the
// body, and the reason is echoed in the answer and kept in the record.
func short(s string) string {
	const n = 64
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + "…(truncated)"
}
