package target

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrBadPath marks a path the gateway cannot canonicalise the way the
// upstream will: it is answered with 400 rather than checked as one thing
// and acted on as another.
var ErrBadPath = errors.New("path cannot be checked")

// Resolver maps requests to targets. It is immutable after NewResolver and
// safe for concurrent use.
type Resolver struct {
	table *table
	// apiPrefix is where the REST API lives ("/api/v3" on GitHub
	// Enterprise Server, "" on an api.github.com-style host).
	apiPrefix   string
	graphqlPath string
	uploadsPath string
	// apiBase is the folder the API, GraphQL and uploads share ("/api"
	// on GitHub Enterprise Server): any other path under it is refused
	// to restricted tokens rather than taken for the web UI.
	apiBase string
}

// NewResolver returns a resolver for a host whose REST API lives under
// apiPrefix. An empty prefix means an api.github.com-style host: the whole
// host is the API and it serves no Git.
func NewResolver(apiPrefix string) (*Resolver, error) {
	apiPrefix = strings.TrimSuffix(apiPrefix, "/")
	if apiPrefix != "" && (!strings.HasPrefix(apiPrefix, "/") || strings.Contains(apiPrefix, "//")) {
		return nil, fmt.Errorf("api prefix %q: must be empty or start with one slash", apiPrefix)
	}
	tbl, err := sharedTable()
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	r := &Resolver{table: tbl, apiPrefix: apiPrefix, graphqlPath: "/graphql"}
	if apiPrefix != "" {
		// GitHub Enterprise Server serves GraphQL and uploads beside the
		// REST prefix: /api/v3, /api/graphql, /api/uploads.
		base := apiPrefix[:strings.LastIndexByte(apiPrefix, '/')]
		r.graphqlPath = base + "/graphql"
		r.uploadsPath = base + "/uploads"
		r.apiBase = base
	}
	return r, nil
}

// RESTPath returns a path's part under the REST prefix or the uploads
// prefix (both route REST operations: resolution reads /api/uploads/… as
// the API), and whether it is under one. Prefixes compare in any case, as
// resolution does.
func (r *Resolver) RESTPath(path string) (string, bool) {
	if rest, ok := cutPrefix(path, r.apiPrefix); ok {
		return rest, true
	}
	if r.uploadsPath != "" {
		return cutPrefix(path, r.uploadsPath)
	}
	return "", false
}

// APIPrefix returns the REST prefix the resolver was built with.
func (r *Resolver) APIPrefix() string { return r.apiPrefix }

// Resolve works out the target of a request from its method and path. It
// refuses (ErrBadPath) paths whose meaning could differ between the gateway
// and the upstream.
func (r *Resolver) Resolve(req *http.Request) (Target, error) {
	t, err := r.resolve(req)
	if err != nil {
		return Target{}, err
	}
	if overridden(req) && t.Access == Read {
		// A method override header names a write: the host may act on it.
		t.Access, t.AnonReadable = Write, false
	}
	if err := CheckNames(t); err != nil {
		return Target{}, err
	}
	return t, nil
}

func (r *Resolver) resolve(req *http.Request) (Target, error) {
	path := req.URL.Path
	if err := checkPath(path, req.URL.RawPath); err != nil {
		return Target{}, err
	}
	if err := checkParams(req); err != nil {
		return Target{}, err
	}
	access := methodAccess(req.Method)
	if r.isGraphQL(path) {
		return graphqlTarget(access), nil
	}
	if rest, ok := cutPrefix(path, r.apiPrefix); ok {
		return r.resolveREST(req.Method, rest, access), nil
	}
	if r.uploadsPath != "" {
		if rest, ok := cutPrefix(path, r.uploadsPath); ok {
			// Release asset uploads: POST /repos/{owner}/{repo}/releases/{id}/assets.
			return r.resolveREST(req.Method, rest, access), nil
		}
	}
	if r.apiBase != "" {
		if _, ok := cutPrefix(path, r.apiBase); ok {
			// /api/graphql/x, /api/v4/…: the host may serve it, the
			// gateway does not know it.
			return Target{Scope: Undetermined, Surface: REST, Access: access,
				Why: "a path under " + r.apiBase + "/ that is neither the REST API, GraphQL nor uploads"}, nil
		}
	}
	if r.apiPrefix == "" {
		return Target{Scope: Unscoped, Access: access}, nil
	}
	return resolveGit(path, req.URL.RawQuery, req.Method), nil
}

// isGraphQL reports whether a path is a spelling of the GraphQL path that
// a host's router may accept: another case, a trailing slash, a format
// suffix (/api/graphql.json, as Rails routes it). Paths with ";"
// parameters never get here: checkParams refuses them.
//
// GraphQL under the REST prefix (/api/v3/graphql) counts too: a host that
// serves it there, as api.github.com serves /graphql beside its REST
// routes, must not see a document the gateway took for a REST call.
func (r *Resolver) isGraphQL(path string) bool {
	return graphqlSpelling(path, r.graphqlPath) || r.apiPrefix != "" && graphqlSpelling(path, r.apiPrefix+"/graphql")
}

func graphqlSpelling(path, graphqlPath string) bool {
	if len(path) < len(graphqlPath) || !strings.EqualFold(path[:len(graphqlPath)], graphqlPath) {
		return false
	}
	rest := path[len(graphqlPath):]
	if rest == "" || rest == "/" {
		return true
	}
	// A format suffix: ".json", ".xml", … one segment of letters and digits.
	if rest[0] != '.' {
		return false
	}
	rest = strings.TrimSuffix(rest[1:], "/")
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return rest != ""
}

// checkParams refuses what one server reads as routing and another as
// data: a literal ";" in the path, which some servers and frameworks
// (Tomcat, older Rack) treat as the start of path parameters and strip
// before routing, and an encoded NUL in the query, which git http-backend
// decodes and then reads as the end of the string
// (service=git-receive-pack%00 is a push to it, and not to the gateway's
// comparison).
func checkParams(req *http.Request) error {
	if strings.IndexByte(req.URL.Path, ';') >= 0 && strings.IndexByte(req.URL.EscapedPath(), ';') >= 0 {
		return fmt.Errorf("%w: contains \";\", which some servers read as path parameters", ErrBadPath)
	}
	if strings.Contains(req.URL.RawQuery, "%00") {
		return fmt.Errorf("%w: the query contains an encoded NUL", ErrBadPath)
	}
	return nil
}

// methodOverrides are the headers frameworks read as the real method of a
// POST (Rails, Rack, Express and others).
var methodOverrides = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// overridden reports whether the request names another method than its
// own, in a header or in a _method query parameter, which some hosts honour:
// such a request counts as a write unless every method it names reads.
func overridden(req *http.Request) bool {
	return anyOverride(req, func(m string) bool { return methodAccess(strings.ToUpper(m)) == Write })
}

// ReadsAs reports whether a request may be read by the host as method:
// its own method, or one a method override header or a _method parameter
// names. A POST that says _method=GET is a GET to a host that honours it.
func ReadsAs(req *http.Request, method string) bool {
	return req.Method == method || anyOverride(req, func(m string) bool { return strings.EqualFold(m, method) })
}

// anyOverride reports whether f holds for a method the request's override
// headers or _method parameters name.
func anyOverride(req *http.Request, f func(method string) bool) bool {
	for _, h := range methodOverrides {
		for _, v := range req.Header.Values(h) {
			if f(strings.TrimSpace(v)) {
				return true
			}
		}
	}
	if q := req.URL.RawQuery; q != "" && strings.Contains(q, "_method") {
		for _, v := range req.URL.Query()["_method"] {
			if f(strings.TrimSpace(v)) {
				return true
			}
		}
	}
	return false
}

// MaxNameLength bounds owners (logins, enterprise slugs) and repository
// names: GitHub allows 39 characters in a login and 100 in a repository
// name. A longer name names nothing a host serves, and would only make
// lookups and cache entries large.
const MaxNameLength = 100

// CheckNames refuses owners and repository names with characters GitHub
// does not allow in them (letters, digits, "-", "_", ".") or longer than
// MaxNameLength: percent-encoded bytes, Unicode look-alikes and the like
// could be normalised by the host into a name the gateway did not check.
func CheckNames(t Target) error {
	if !validName(t.Owner) || !validName(t.Name) {
		return fmt.Errorf("%w: an owner or repository name has characters GitHub does not allow", ErrBadPath)
	}
	if len(t.Owner) > MaxNameLength || len(t.Name) > MaxNameLength {
		return fmt.Errorf("%w: an owner or repository name longer than %d characters", ErrBadPath, MaxNameLength)
	}
	if t.Also != nil {
		return CheckNames(*t.Also)
	}
	return nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Surface says which kind of client a request comes from without resolving
// it, so that even a request refused as malformed is answered in a shape its
// client shows.
func (r *Resolver) Surface(req *http.Request) Surface {
	path := req.URL.Path
	if r.isGraphQL(path) {
		return GraphQL
	}
	if _, ok := cutPrefix(path, r.apiPrefix); ok || r.apiPrefix == "" {
		return REST
	}
	if _, ok := cutPrefix(path, r.apiBase); ok && r.apiBase != "" {
		return REST
	}
	if strings.Contains(strings.ToLower(path), "/info/lfs/") {
		return LFS
	}
	return Git
}

func graphqlTarget(a Access) Target {
	return Target{Scope: Undetermined, Surface: GraphQL, Access: a}
}

// methodAccess: reads are GET, HEAD and OPTIONS; anything else writes.
func methodAccess(m string) Access {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return Read
	}
	return Write
}

// cutPrefix cuts a path prefix at a segment boundary: "/api/v3" matches
// "/api/v3" and "/api/v3/x", never "/api/v3x". The rest starts with "/" or is
// empty.
//
// The comparison ignores case: a host that routes /API/v3 as /api/v3 must
// not see an API call the gateway took for a Git path.
func cutPrefix(path, prefix string) (string, bool) {
	if prefix == "" {
		return path, true
	}
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// checkPath refuses what the upstream might read differently from us: dot
// segments and doubled slashes (which servers and proxies collapse in
// different ways), encoded slashes and backslashes (which some decode into
// separators), NUL and invalid UTF-8.
func checkPath(path, raw string) error {
	if path == "" || path[0] != '/' && path != "*" {
		return fmt.Errorf("%w: does not start with a slash", ErrBadPath)
	}
	if len(path) > 8192 {
		return fmt.Errorf("%w: longer than 8192 bytes", ErrBadPath)
	}
	if !utf8.ValidString(path) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadPath)
	}
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case 0:
			return fmt.Errorf("%w: contains NUL", ErrBadPath)
		case '\\':
			return fmt.Errorf("%w: contains a backslash", ErrBadPath)
		case '/':
			if i+1 < len(path) && path[i+1] == '/' {
				return fmt.Errorf("%w: contains an empty segment", ErrBadPath)
			}
			if seg := segmentAt(path, i+1); seg == "." || seg == ".." {
				return fmt.Errorf("%w: contains a dot segment", ErrBadPath)
			}
		}
	}
	if raw != "" {
		lower := strings.ToLower(raw)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
			return fmt.Errorf("%w: contains an encoded slash, backslash or NUL", ErrBadPath)
		}
	}
	return nil
}

func segmentAt(path string, i int) string {
	j := strings.IndexByte(path[i:], '/')
	if j < 0 {
		return path[i:]
	}
	return path[i : i+j]
}

// segments splits a path that starts with "/" into at most len(buf)
// segments without allocating; the last one keeps any remainder.
func segments(path string, buf []string) []string {
	path = strings.TrimPrefix(path, "/")
	n := 0
	for path != "" && n < len(buf) {
		if n == len(buf)-1 {
			buf[n] = path
			n++
			break
		}
		seg, rest, _ := strings.Cut(path, "/")
		buf[n] = seg
		n++
		path = rest
	}
	return buf[:n]
}

// resolveREST matches the path against the published operations; a path
// GitHub does not publish falls back to the rule of its family, never
// public.
//
// Published routes are lowercase. A path that matches only when lowercased
// (/REPOS/{owner}/{repo}) 404s on a host that routes by case and is that
// route on one that does not, so it resolves as the route, never as
// unscoped, and never as public.
func (r *Resolver) resolveREST(method, rest string, access Access) Target {
	var caps [8]string
	if op, exact := r.table.match(method, rest, &caps); op != nil {
		return op.target(&caps, access, exact)
	}
	if hasUpper(rest) {
		t := r.resolveREST(method, strings.ToLower(rest), access)
		t.AnonReadable = false
		return t
	}
	t := fallbackREST(rest, access)
	t.AnonReadable = false
	return t
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// fallbackREST places paths GitHub does not publish by their family.
func fallbackREST(rest string, access Access) Target {
	var buf [6]string
	seg := segments(rest, buf[:])
	t := Target{Scope: Unscoped, Surface: REST, Access: access}
	if len(seg) == 0 {
		return t
	}
	switch seg[0] {
	case "repos":
		if len(seg) < 3 {
			return t
		}
		t.Scope, t.Owner, t.Name = Repository, seg[1], seg[2]
	case "repositories":
		if len(seg) < 2 {
			return t
		}
		id, ok := parseID(seg[1])
		if !ok {
			return t // /repositories?since=…: the list of public repositories
		}
		t.Scope, t.ID, t.IDKind = Repository, id, IDRepository
	case "orgs":
		if len(seg) < 2 {
			return t
		}
		t.Scope, t.Owner = Organization, seg[1]
	case "organizations":
		if len(seg) < 2 {
			return t // GET /organizations lists every organization's login
		}
		if id, ok := parseID(seg[1]); ok {
			t.Scope, t.ID, t.IDKind = Organization, id, IDOrganization
		} else {
			t.Scope, t.Owner = Organization, seg[1]
		}
	case "enterprises":
		if len(seg) < 2 {
			return t
		}
		t.Scope, t.Owner = Enterprise, seg[1]
	case "admin", "enterprise", "manage":
		t.Scope = Enterprise
	case "teams":
		if len(seg) >= 2 {
			if id, ok := parseID(seg[1]); ok {
				t.Scope, t.ID, t.IDKind = Organization, id, IDTeam
			}
		}
	case "gists":
		t.Scope = Personal
	case "users":
		if len(seg) < 2 {
			return t
		}
		// /users/{username}/events/orgs/{org}: an organization's events as
		// its member sees them.
		if len(seg) >= 5 && seg[2] == "events" && seg[3] == "orgs" {
			org, _, _ := strings.Cut(seg[4], "/")
			return Target{Scope: Organization, Surface: REST, Access: access, Owner: org}
		}
		t.Scope, t.Owner = User, seg[1]
	case "user":
		return resolveUserRoutes(seg, t)
	}
	return t
}

// resolveUserRoutes finds the repositories and organizations that routes of
// the authenticated user name: /user/starred/{owner}/{repo},
// /user/subscriptions/{owner}/{repo}, /user/memberships/orgs/{org}.
func resolveUserRoutes(seg []string, t Target) Target {
	if len(seg) >= 4 && (seg[1] == "starred" || seg[1] == "subscriptions") {
		repo, _, _ := strings.Cut(seg[3], "/")
		t.Scope, t.Owner, t.Name = Repository, seg[2], repo
		return t
	}
	if len(seg) >= 4 && seg[1] == "memberships" && seg[2] == "orgs" {
		org, _, _ := strings.Cut(seg[3], "/")
		t.Scope, t.Owner = Organization, org
		return t
	}
	t.Scope = Personal
	return t
}

// sharedTable parses the embedded route table once per process: every
// Resolver (one per handler, re-made on each config reload) shares it.
var sharedTable = sync.OnceValues(loadTable)

// target builds the request's target from a matched operation.
func (op *Operation) target(caps *[8]string, access Access, exact bool) Target {
	t := Target{Scope: op.Scope, Surface: REST, Access: access, IDKind: op.IDKind,
		AnonReadable: exact && access == Read && op.AnonReadable, CrossOrg: op.CrossOrg, Operation: op}
	if op.ownerAt >= 0 {
		t.Owner = caps[op.ownerAt]
	}
	if op.nameAt >= 0 {
		t.Name = caps[op.nameAt]
	}
	if op.idAt >= 0 {
		id, ok := parseID(caps[op.idAt])
		if !ok {
			// Not an id: the host answers 404, but nothing unknown passes.
			return Target{Scope: Undetermined, Surface: REST, Access: access, Operation: op}
		}
		t.ID = id
	}
	if op.Also != "" {
		also := Target{Scope: op.alsoScope, Surface: REST, Access: access, IDKind: op.alsoKind}
		if op.alsoIDAt >= 0 {
			id, ok := parseID(caps[op.alsoIDAt])
			if !ok {
				return Target{Scope: Undetermined, Surface: REST, Access: access, Operation: op}
			}
			also.ID = id
		} else {
			also.Owner, also.Name = caps[op.alsoOwnerAt], caps[op.alsoNameAt]
		}
		t.Also = &also
	}
	return t
}

func parseID(s string) (int64, bool) {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// hasQueryParam reports whether the raw query has key=value, without
// allocating for the common case.
func hasQueryParam(raw, key, value string) bool {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(kv, "%+") {
			// git http-backend decodes parameters, so compare decoded.
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
		}
		if k == key && v == value {
			return true
		}
	}
	return false
}
