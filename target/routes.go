package target

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// routeFiles are GitHub's published REST operations, one per line: method,
// path template, operation id, docs category and subcategory. To follow a
// new GitHub release, replace these files with the new lists (same columns)
// and run the tests: TestCorpusResolves fails for any operation the rules
// below do not place, and TestRoutesDoc shows what changed in docs/routes.md.
//
//go:embed routes/*.tsv
var routeFiles embed.FS

// IDKind says what a numeric id in a path names.
type IDKind uint8

const (
	IDNone IDKind = iota
	IDRepository
	IDOrganization
	// IDTeam is a team id; the team's organization decides.
	IDTeam
	// IDAccount is a user's or organization's account id (GraphQL node
	// IDs), looked up with GET /user/{id}.
	IDAccount
)

var idKindNames = [...]string{"none", "repository", "organization", "team", "account"}

func (k IDKind) String() string {
	if int(k) < len(idKindNames) {
		return idKindNames[k]
	}
	return "invalid"
}

// Operation is one published REST operation and the rule patgate applies to
// it.
type Operation struct {
	Method, Path          string
	Category, Subcategory string
	Scope                 Scope
	IDKind                IDKind
	// AnonReadable: anonymous users read it on a public resource.
	AnonReadable bool
	// CrossOrg: an unscoped route whose answer carries data of several
	// organizations (lists, search); a later filter will trim it.
	CrossOrg bool
	// Also names the second resource the path names, which must belong to
	// the first ("repository", "repository_id", "org_id"), or "".
	Also string

	// captures: indexes of the path's parameters that carry the owner,
	// the repository and the id, and those of the second resource.
	ownerAt, nameAt, idAt             int
	alsoOwnerAt, alsoNameAt, alsoIDAt int
	alsoKind                          IDKind
	alsoScope                         Scope
}

// slashy parameters may span several path segments: file paths, refs,
// branch names, "base...head" comparisons.
var slashy = map[string]bool{"path": true, "ref": true, "branch": true, "basehead": true, "dir": true}

const maxSegments = 64

// node is one level of the route trie.
type node struct {
	static map[string]*node
	param  *node // one segment
	slashy *node // one or more segments
	ops    [numMethods]*Operation
	any    *Operation // some operation at this path, for methods it lacks
}

type methodIndex uint8

const (
	mGET methodIndex = iota
	mPOST
	mPUT
	mPATCH
	mDELETE
	numMethods
	mNone = numMethods
)

func methodOf(m string) methodIndex {
	switch m {
	case "GET", "HEAD", "OPTIONS":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	}
	return mNone
}

// table is the parsed route table, shared by every Resolver.
type table struct {
	root *node
	ops  []*Operation
}

// loadTable parses the embedded corpora into a trie. Operations present in
// both (most) are kept once.
func loadTable() (*table, error) {
	t := &table{root: &node{}}
	seen := map[string]bool{}
	files, err := fs.Glob(routeFiles, "routes/*.tsv")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := routeFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 0; sc.Scan(); {
			line++
			text := sc.Text()
			if text == "" || text[0] == '#' || strings.HasPrefix(text, "method\t") {
				continue
			}
			cols := strings.Split(text, "\t")
			if len(cols) < 5 {
				return nil, fmt.Errorf("%s:%d: want 5 tab-separated columns", f, line)
			}
			key := cols[0] + " " + cols[1]
			if seen[key] {
				continue
			}
			seen[key] = true
			op, err := classify(cols[0], cols[1], cols[3], cols[4])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, line, err)
			}
			if err := t.insert(op); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, line, err)
			}
			t.ops = append(t.ops, op)
		}
	}
	return t, nil
}

func (t *table) insert(op *Operation) error {
	m := methodOf(op.Method)
	if m == mNone {
		return fmt.Errorf("unknown method %q", op.Method)
	}
	n := t.root
	for _, seg := range templateSegments(op.Path) {
		switch {
		case isParam(seg) && slashy[paramName(seg)]:
			if n.slashy == nil {
				n.slashy = &node{}
			}
			n = n.slashy
		case isParam(seg):
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			if n.static[seg] == nil {
				n.static[seg] = &node{}
			}
			n = n.static[seg]
		}
	}
	n.ops[m] = op
	if n.any == nil {
		n.any = op
	}
	return nil
}

func templateSegments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func paramName(seg string) string { return strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}") }

// match finds the operation for a path (relative to the API root, starting
// with "/") and fills caps with its parameters, in template order. exact is
// false when the path matched but the method did not (op is then another
// method's operation at the same path).
func (t *table) match(method, path string, caps *[8]string) (op *Operation, exact bool) {
	var starts, ends [maxSegments]int
	n := 0
	for i := 0; i < len(path); {
		if path[i] == '/' {
			i++
			continue
		}
		if n == maxSegments {
			return nil, false
		}
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path) - i
		}
		starts[n], ends[n] = i, i+j
		n++
		i += j
	}
	m := methodOf(method)
	var found *node
	var walk func(nd *node, i, c int) bool
	walk = func(nd *node, i, c int) bool {
		if i == n {
			if m != mNone && nd.ops[m] != nil || nd.any != nil {
				found = nd
				return true
			}
			return false
		}
		seg := path[starts[i]:ends[i]]
		if next := nd.static[seg]; next != nil && walk(next, i+1, c) {
			return true
		}
		if c >= len(caps) {
			return false
		}
		if nd.param != nil {
			caps[c] = seg
			if walk(nd.param, i+1, c+1) {
				return true
			}
		}
		if nd.slashy != nil {
			// Shortest first, so a static segment after the parameter
			// ("/branches/{branch}/protection") wins over a longer branch.
			for k := i; k < n; k++ {
				caps[c] = path[starts[i]:ends[k]]
				if walk(nd.slashy, k+1, c+1) {
					return true
				}
			}
		}
		return false
	}
	if !walk(t.root, 0, 0) {
		return nil, false
	}
	if m != mNone && found.ops[m] != nil {
		return found.ops[m], true
	}
	return found.any, false
}

// classify works out the rule for one operation from its path template and
// its docs category.
func classify(method, path, category, subcategory string) (*Operation, error) {
	op := &Operation{Method: method, Path: path, Category: category, Subcategory: subcategory,
		ownerAt: -1, nameAt: -1, idAt: -1, alsoOwnerAt: -1, alsoNameAt: -1, alsoIDAt: -1}
	segs := templateSegments(path)
	var params []string
	for _, s := range segs {
		if isParam(s) {
			params = append(params, paramName(s))
		}
	}
	if len(params) > 8 {
		return nil, fmt.Errorf("%s: more than 8 parameters", path)
	}
	at := func(name string) int {
		for i, p := range params {
			if p == name {
				return i
			}
		}
		return -1
	}
	lit := func(i int) string {
		if i < len(segs) && !isParam(segs[i]) {
			return segs[i]
		}
		return ""
	}
	// owner/repo pairs: the two parameters that follow a "repos" segment
	// (or open /repos/… itself), whatever their names.
	repoPair := func() (int, int) {
		c := 0
		for i, s := range segs {
			if isParam(s) {
				c++
				continue
			}
			if (s == "repos" || s == "starred" || s == "subscriptions" || s == "networks") && i+2 < len(segs) && isParam(segs[i+1]) && isParam(segs[i+2]) {
				return c, c + 1
			}
		}
		return -1, -1
	}
	first := lit(0)
	if len(params) == 0 && (first == "repositories" || first == "organizations" || first == "users") {
		// The lists of every public repository, organization and user.
		first = ""
	}
	switch first {
	case "repos", "networks":
		op.Scope, op.ownerAt, op.nameAt = Repository, 0, 1
	case "repositories":
		op.Scope, op.IDKind, op.idAt = Repository, IDRepository, at("repository_id")
	case "orgs":
		op.Scope, op.ownerAt = Organization, at("org")
		if i := at("repository_id"); i >= 0 {
			op.Also, op.alsoScope, op.alsoKind, op.alsoIDAt = "repository_id", Repository, IDRepository, i
		} else if o, r := repoPair(); o >= 0 {
			op.Also, op.alsoScope, op.alsoOwnerAt, op.alsoNameAt = "repository", Repository, o, r
		}
	case "organizations":
		if i := at("organization_id"); i >= 0 {
			op.Scope, op.IDKind, op.idAt = Organization, IDOrganization, i
		} else {
			op.Scope, op.ownerAt = Organization, at("org")
		}
	case "enterprises":
		op.Scope, op.ownerAt = Enterprise, at("enterprise")
		if i := at("org_id"); i >= 0 {
			op.Also, op.alsoScope, op.alsoKind, op.alsoIDAt = "org_id", Organization, IDOrganization, i
		}
	case "enterprise", "admin", "manage":
		op.Scope = Enterprise
	case "scim":
		switch lit(2) {
		case "enterprises":
			op.Scope, op.ownerAt = Enterprise, at("enterprise")
		case "organizations":
			op.Scope, op.ownerAt = Organization, at("org")
		}
	case "teams":
		op.Scope, op.IDKind, op.idAt = Organization, IDTeam, at("team_id")
		if o, r := repoPair(); o >= 0 {
			op.Also, op.alsoScope, op.alsoOwnerAt, op.alsoNameAt = "repository", Repository, o, r
		}
	case "users":
		switch {
		case at("org") >= 0:
			op.Scope, op.ownerAt = Organization, at("org")
		case at("username") >= 0:
			op.Scope, op.ownerAt = User, at("username")
		default:
			// /users/{user_id}/…: an account by numeric id, which the
			// lookup API does not resolve.
			op.Scope = Undetermined
		}
	case "user":
		switch {
		case at("owner") >= 0:
			op.Scope, op.ownerAt, op.nameAt = Repository, at("owner"), at("repo")
		case at("org") >= 0:
			op.Scope, op.ownerAt = Organization, at("org")
		case at("repository_id") >= 0:
			op.Scope, op.IDKind, op.idAt = Repository, IDRepository, at("repository_id")
		default:
			op.Scope = Personal
			op.CrossOrg = method == "GET" && crossOrgUserRoutes[path]
		}
	case "gists":
		op.Scope = Personal
	case "agents":
		switch {
		case at("owner") >= 0:
			op.Scope, op.ownerAt, op.nameAt = Repository, at("owner"), at("repo")
		case at("task_id") >= 0:
			op.Scope = Undetermined
		default:
			op.Scope, op.CrossOrg = Unscoped, true
		}
	case "classrooms", "assignments":
		// Classroom and assignment ids belong to organizations, and the
		// host has no lookup for them.
		if len(params) > 0 {
			op.Scope = Undetermined
		} else {
			op.Scope, op.CrossOrg = Unscoped, true
		}
	case "notifications":
		if at("thread_id") >= 0 {
			// A thread names a repository only the user's own token can
			// look up.
			op.Scope = Undetermined
		} else {
			op.Scope, op.CrossOrg = Unscoped, true
		}
	case "search", "issues":
		op.Scope, op.CrossOrg = Unscoped, true
	default:
		op.Scope = Unscoped
	}
	switch op.Scope {
	case Repository:
		if op.IDKind == IDNone && (op.ownerAt < 0 || op.nameAt < 0) {
			return nil, fmt.Errorf("%s: repository route without owner and repo", path)
		}
	case Organization:
		if op.IDKind == IDNone && op.ownerAt < 0 {
			return nil, fmt.Errorf("%s: organization route without org", path)
		}
	case User:
		if op.ownerAt < 0 {
			return nil, fmt.Errorf("%s: user route without username", path)
		}
	}
	if (op.IDKind != IDNone && op.idAt < 0) || (op.Also != "" && op.alsoIDAt < 0 && op.alsoOwnerAt < 0) {
		return nil, fmt.Errorf("%s: id route without its id", path)
	}
	op.AnonReadable = method == "GET" && anonReadable(op, segs)
	return op, nil
}

// crossOrgUserRoutes are the authenticated user's lists that gather data
// from every organization the user belongs to.
var crossOrgUserRoutes = map[string]bool{
	"/user/repos": true, "/user/orgs": true, "/user/issues": true,
	"/user/teams": true, "/user/subscriptions": true, "/user/starred": true,
	"/user/memberships/orgs": true, "/user/installations": true,
	"/user/installations/{installation_id}/repositories": true,
	"/user/codespaces": true, "/user/packages": true, "/user/migrations": true,
}

// Operations returns every published operation the route table holds, in
// corpus order.
func Operations() ([]*Operation, error) {
	t, err := sharedTable()
	if err != nil {
		return nil, err
	}
	return t.ops, nil
}

// exampleValues fill an operation's parameters in Example.
var exampleValues = map[string]string{
	"owner": "octo-org", "repo": "widgets", "org": "octo-org", "enterprise": "acme",
	"username": "octo-org", "path": "docs/README.md", "ref": "heads/feature/x",
	"branch": "feature/x", "basehead": "main...feature/x", "dir": "docs",
	"template_owner": "octo-org", "template_repo": "template",
}

// Example returns a concrete path for the operation: ids are 42, owners
// and organizations octo-org, the enterprise acme, and any other parameter
// its own name.
func (op *Operation) Example() string {
	segs := templateSegments(op.Path)
	for i, s := range segs {
		if !isParam(s) {
			continue
		}
		name := paramName(s)
		switch v, ok := exampleValues[name]; {
		case ok:
			segs[i] = v
		case strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_number") || name == "id":
			segs[i] = "42"
		default:
			segs[i] = "x-" + strings.ReplaceAll(name, "_", "-")
		}
	}
	return "/" + strings.Join(segs, "/")
}
