// Package graphql works out what a GraphQL request reaches: it parses the
// document (github.com/vektah/gqlparser), picks the operation, and turns
// every resource the document names into a target: repository(owner:,
// name:), organization(login:), enterprise(slug:), user(login:),
// repositoryOwner(login:), resource(url:), node(id:) and nodes(ids:), and in
// mutations every input that carries a node ID (repositoryId, ownerId,
// subjectId, …). Queries read, mutations write, subscriptions are refused.
// viewer and search name no resource. What cannot be worked out becomes an
// Undetermined target that says why.
package graphql

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/patgate/patgate/target"
)

// Bounds on the work one document may cost. A size bound alone is not
// enough: twelve levels of fragments that each spread the next four times
// fit in 700 bytes and name 4^12 selections. Fragments are walked once per
// enclosing owner and remembered, so real documents stay far below these;
// a document past them is refused with 400.
const (
	// MaxDepth bounds the nesting of selections the gateway walks.
	MaxDepth = 32
	// MaxTokens bounds the lexical tokens of one document (gh's largest
	// query has about 300).
	MaxTokens = 100_000
	// MaxVisits bounds the selections, fragment uses and argument values
	// walked for one document.
	MaxVisits = 50_000
	// MaxTargets bounds the distinct resources one document may name: each
	// may cost a lookup.
	MaxTargets = 256
)

var (
	errTooMuchWork    = fmt.Errorf("%w: the document needs more than %d steps to check", ErrBadRequest, MaxVisits)
	errTooManyTargets = fmt.Errorf("%w: the document names more than %d resources", ErrBadRequest, MaxTargets)
)

// Targets returns the targets of one request, its access kind, and an
// error for a request that is not valid GraphQL (or a subscription), or
// that costs more to check than the bounds above. It stops when ctx ends.
func Targets(ctx context.Context, r Request) ([]target.Target, target.Access, error) {
	if strings.TrimSpace(r.Query) == "" {
		return nil, target.Read, fmt.Errorf("%w: no query", ErrBadRequest)
	}
	doc, gerr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: r.Query}, MaxTokens)
	if gerr != nil {
		return nil, target.Read, fmt.Errorf("%w: %w", ErrBadRequest, gerr)
	}
	op, err := pickOperation(doc, r.OperationName)
	if err != nil {
		return nil, target.Read, err
	}
	access := target.Read
	switch op.Operation {
	case ast.Mutation:
		access = target.Write
	case ast.Subscription:
		return nil, target.Read, fmt.Errorf("%w: subscriptions are not supported", ErrBadRequest)
	}
	w := &walker{ctx: ctx, doc: doc, vars: r.Variables, access: access,
		visiting: map[string]bool{}, walked: map[fragmentUse]int{}, sensitive: map[string]bool{},
		seen: map[target.Target]bool{}}
	if _, err := w.selections(op.SelectionSet, "", true, 0); err != nil {
		return nil, access, err
	}
	if w.err != nil {
		return nil, access, w.err
	}
	return w.targets, access, nil
}

func pickOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name != "" {
		if op := doc.Operations.ForName(name); op != nil {
			return op, nil
		}
		return nil, fmt.Errorf("%w: no operation named %q", ErrBadRequest, name)
	}
	if len(doc.Operations) != 1 {
		return nil, fmt.Errorf("%w: %d operations and no operationName", ErrBadRequest, len(doc.Operations))
	}
	return doc.Operations[0], nil
}

type walker struct {
	ctx     context.Context
	doc     *ast.QueryDocument
	vars    map[string]any
	access  target.Access
	targets []target.Target
	seen    map[target.Target]bool // targets already added, so each counts once
	visits  int
	err     error // the first bound passed by a step that returns no error

	visiting map[string]bool // fragments on the current path, against cycles
	// walked remembers each fragment already walked under an owner, and how
	// deep its selections went: a second use adds nothing new, so it is
	// not walked again, only checked against MaxDepth.
	walked map[fragmentUse]int
	// sensitive remembers, per fragment, whether it selects an admin field
	// of a repository at its first level.
	sensitive map[string]bool
}

// fragmentUse is a fragment walked under the login of an enclosing owner,
// at the root of the operation or below a field.
type fragmentUse struct {
	name, owner string
	root        bool
}

// step counts one unit of work and reports whether the walk may go on. It
// checks the request's context now and then, so a client that goes away
// stops the work.
func (w *walker) step() bool {
	if w.err != nil {
		return false
	}
	w.visits++
	if w.visits > MaxVisits {
		w.err = errTooMuchWork
		return false
	}
	if w.visits%1024 == 0 && w.ctx.Err() != nil {
		w.err = fmt.Errorf("%w: %w", ErrBadRequest, w.ctx.Err())
		return false
	}
	return true
}

func (w *walker) add(t target.Target) {
	t.Surface = target.GraphQL
	t.Access = w.access
	if t.Access == target.Write {
		t.AnonReadable = false
	}
	// A node ID read both as node(id:) and as an id argument names one
	// resource: keep the first.
	if w.seen[t] {
		return
	}
	// A name no host accepts (a 70,000-character repository name the host
	// answers 414 for) would only fail its lookup, or fill the cache.
	if err := target.CheckNames(t); err != nil {
		w.err = fmt.Errorf("%w: %w", ErrBadRequest, err)
		return
	}
	if len(w.targets) == MaxTargets {
		w.err = errTooManyTargets
		return
	}
	w.seen[t] = true
	w.targets = append(w.targets, t)
}

func (w *walker) undetermined(why string) {
	w.add(target.Target{Scope: target.Undetermined, Why: why})
}

// selections walks a selection set and returns how deep its selections
// go below depth. owner is the login of the enclosing organization or user,
// for repository(name:) fields nested in one; root says the set is the
// operation's own, or a fragment spread into it (`... on Query { … }`),
// whose fields are root fields.
func (w *walker) selections(set ast.SelectionSet, owner string, root bool, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, fmt.Errorf("%w: selections nested deeper than %d", ErrBadRequest, MaxDepth)
	}
	height := 0
	for _, sel := range set {
		if !w.step() {
			return 0, w.err
		}
		var h int
		var err error
		switch s := sel.(type) {
		case *ast.Field:
			h, err = w.field(s, owner, root, depth)
		case *ast.InlineFragment:
			h, err = w.selections(s.SelectionSet, owner, root, depth+1)
		case *ast.FragmentSpread:
			h, err = w.spread(s.Name, owner, root, depth)
		}
		if err != nil {
			return 0, err
		}
		height = max(height, h)
	}
	return height + 1, nil
}

// spread walks a named fragment once per enclosing owner; a later use of
// it under the same owner names nothing new.
func (w *walker) spread(name, owner string, root bool, depth int) (int, error) {
	f := w.doc.Fragments.ForName(name)
	if f == nil {
		return 0, fmt.Errorf("%w: unknown fragment %q", ErrBadRequest, name)
	}
	if w.visiting[name] {
		return 0, fmt.Errorf("%w: fragment %q spreads itself", ErrBadRequest, name)
	}
	use := fragmentUse{name, owner, root}
	if h, ok := w.walked[use]; ok {
		if depth+h > MaxDepth {
			return 0, fmt.Errorf("%w: selections nested deeper than %d", ErrBadRequest, MaxDepth)
		}
		return h, nil
	}
	w.visiting[name] = true
	h, err := w.selections(f.SelectionSet, owner, root, depth+1)
	delete(w.visiting, name)
	if err != nil {
		return 0, err
	}
	w.walked[use] = h
	return h, nil
}

// resolvedByName are the fields field() resolves by their own arguments.
var resolvedByName = map[string]bool{
	"repository": true, "organization": true, "enterprise": true, "user": true,
	"repositoryOwner": true, "resource": true, "node": true, "nodes": true,
}

// sensitiveRepoFields are repository fields that anonymous users never
// read, even on a public repository.
var sensitiveRepoFields = map[string]bool{
	"collaborators": true, "deployKeys": true, "branchProtectionRules": true,
	"vulnerabilityAlerts": true, "rulesets": true, "webhooks": true,
	"autolinks": true, "interactionAbility": true,
}

func (w *walker) field(f *ast.Field, owner string, root bool, depth int) (int, error) {
	nested := owner
	switch f.Name {
	case "repository":
		o, hasOwner := w.str(f, "owner")
		name, hasName := w.str(f, "name")
		switch {
		case !hasOwner && owner != "":
			o, hasOwner = owner, true
		}
		if hasOwner && hasName && o != "" && name != "" {
			w.add(target.Target{Scope: target.Repository, Owner: o, Name: name, AnonReadable: w.publicRead(f)})
		} else if hasName || hasOwner || len(f.Arguments) > 0 {
			w.undetermined("repository(owner:, name:) whose owner or name is not given")
		}
	case "organization":
		if login, ok := w.str(f, "login"); ok && login != "" {
			w.add(target.Target{Scope: target.Organization, Owner: login})
			nested = login
		} else if len(f.Arguments) > 0 {
			w.undetermined("organization(login:) whose login is not given")
		}
	case "enterprise":
		if slug, ok := w.str(f, "slug"); ok && slug != "" {
			w.add(target.Target{Scope: target.Enterprise, Owner: slug})
		} else if len(f.Arguments) > 0 {
			w.undetermined("enterprise(slug:) whose slug is not given")
		}
	case "user", "repositoryOwner":
		if login, ok := w.str(f, "login"); ok && login != "" {
			w.add(target.Target{Scope: target.User, Owner: login})
			nested = login
		} else if len(f.Arguments) > 0 {
			w.undetermined(f.Name + "(login:) whose login is not given")
		}
	// node, nodes and resource without arguments are fields of
	// connections and objects (edges { node }), not lookups.
	case "resource":
		if len(f.Arguments) == 0 {
			break
		}
		if u, ok := w.str(f, "url"); ok {
			w.resource(u)
		} else {
			w.undetermined("resource(url:) whose url is not given")
		}
	case "node":
		if len(f.Arguments) == 0 {
			break
		}
		if id, ok := w.str(f, "id"); ok {
			w.node(id, w.publicRead(f))
		} else {
			w.undetermined("node(id:) whose id is not given")
		}
	case "nodes":
		if len(f.Arguments) == 0 {
			break
		}
		ids, ok := w.list(f, "ids")
		if !ok {
			w.undetermined("nodes(ids:) whose ids are not given")
		}
		for _, id := range ids {
			w.node(id, w.publicRead(f))
		}
	}
	// Every argument of a mutation or of a root field, and the input
	// objects of any field, may name an owner (node and nodes were read
	// above). Scalar arguments of nested query fields filter what an
	// already named resource shows, so they name nothing new.
	if f.Name != "node" && f.Name != "nodes" {
		for _, a := range f.Arguments {
			v := w.value(a.Value)
			switch v.(type) {
			case map[string]any, []any:
				w.args(a.Name, v, 0)
			default:
				if w.access == target.Write || root && !resolvedByName[f.Name] {
					w.args(a.Name, v, 0)
				}
			}
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return w.selections(f.SelectionSet, nested, false, depth+1)
}

// args finds what a (resolved) argument value names, by the names GitHub's
// schema gives its arguments and input fields (args.go): node IDs, logins,
// enterprise slugs, owner/name pairs and resource URLs.
func (w *walker) args(key string, v any, depth int) {
	if !w.step() {
		return
	}
	if depth > MaxDepth {
		w.undetermined("input nested deeper than the gateway reads")
		return
	}
	switch v := v.(type) {
	case map[string]any:
		// In key order, so that the targets (and the one a refusal names)
		// do not depend on map iteration.
		for _, k := range slices.Sorted(maps.Keys(v)) {
			w.args(k, v[k], depth+1)
		}
	case []any:
		for _, c := range v {
			w.args(key, c, depth+1)
		}
	case string:
		switch argKindOf(key) {
		case argNodeID:
			w.node(v, false)
		case argLogin:
			if v == "" {
				w.undetermined(short(key) + " is empty")
				return
			}
			w.add(target.Target{Scope: target.User, Owner: v})
		case argEnterpriseSlug:
			if v == "" {
				w.undetermined(short(key) + " is empty")
				return
			}
			w.add(target.Target{Scope: target.Enterprise, Owner: v})
		case argNameWithOwner:
			owner, name, ok := strings.Cut(v, "/")
			if !ok || owner == "" || name == "" {
				w.undetermined(fmt.Sprintf("%s %s is not owner/name", key, short(v)))
				return
			}
			w.add(target.Target{Scope: target.Repository, Owner: owner, Name: name})
		case argResourceURL:
			w.resource(v)
		}
	}
}

// node adds the target a node ID names; public says the selection reads
// only what anonymous users may read of a public repository.
func (w *walker) node(id string, public bool) {
	t, ok, why := NodeTarget(id, w.access)
	if !ok {
		w.undetermined(why)
		return
	}
	t.AnonReadable = public && t.Scope == target.Repository
	w.add(t)
}

// publicRead reports whether a field's selection reads only what anyone may
// read of a public repository.
func (w *walker) publicRead(f *ast.Field) bool {
	return w.access == target.Read && !w.selects(f.SelectionSet, 0)
}

// resource places resource(url:) by the URL's path: /owner/repo/… is the
// repository, /orgs/login/… the organization, /owner a user or
// organization.
func (w *walker) resource(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		w.undetermined(fmt.Sprintf("resource url %s cannot be parsed", short(raw)))
		return
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "orgs":
		w.add(target.Target{Scope: target.Organization, Owner: segs[1]})
	case len(segs) >= 2 && segs[0] != "" && segs[1] != "":
		w.add(target.Target{Scope: target.Repository, Owner: segs[0], Name: segs[1]})
	case len(segs) == 1 && segs[0] != "":
		w.add(target.Target{Scope: target.User, Owner: segs[0]})
	default:
		w.undetermined(fmt.Sprintf("resource url %s names no repository or account", short(raw)))
	}
}

// str returns a string argument, with variables resolved.
func (w *walker) str(f *ast.Field, name string) (string, bool) {
	a := f.Arguments.ForName(name)
	if a == nil {
		return "", false
	}
	s, ok := w.value(a.Value).(string)
	return s, ok
}

// list returns a list-of-strings argument, with variables resolved.
func (w *walker) list(f *ast.Field, name string) ([]string, bool) {
	a := f.Arguments.ForName(name)
	if a == nil {
		return nil, false
	}
	vals, ok := w.value(a.Value).([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// value resolves an argument value: variables from the request, literals
// as Go values (strings, lists, objects).
func (w *walker) value(v *ast.Value) any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		return w.vars[v.Raw]
	case ast.StringValue, ast.BlockValue, ast.EnumValue:
		return v.Raw
	case ast.ListValue:
		out := make([]any, 0, len(v.Children))
		for _, c := range v.Children {
			if !w.step() {
				return nil
			}
			out = append(out, w.value(c.Value))
		}
		return out
	case ast.ObjectValue:
		out := make(map[string]any, len(v.Children))
		for _, c := range v.Children {
			if !w.step() {
				return nil
			}
			out[c.Name] = w.value(c.Value)
		}
		return out
	}
	return v.Raw
}

// selects reports whether a selection set (fragments included) selects
// one of the repository's admin fields at its first level. Each fragment's
// answer is remembered. A fragment met again while its answer is being
// worked out (a cycle, which the walk refuses anyway) and a walk past the
// bounds answer yes, which fails safe.
func (w *walker) selects(set ast.SelectionSet, depth int) bool {
	if depth > MaxDepth {
		return true
	}
	for _, sel := range set {
		if !w.step() {
			return true
		}
		switch s := sel.(type) {
		case *ast.Field:
			if sensitiveRepoFields[s.Name] {
				return true
			}
		case *ast.InlineFragment:
			if w.selects(s.SelectionSet, depth+1) {
				return true
			}
		case *ast.FragmentSpread:
			v, ok := w.sensitive[s.Name]
			if !ok {
				f := w.doc.Fragments.ForName(s.Name)
				if f == nil {
					continue // the walk refuses an unknown fragment
				}
				w.sensitive[s.Name] = true
				v = w.selects(f.SelectionSet, depth+1)
				w.sensitive[s.Name] = v
			}
			if v {
				return true
			}
		}
	}
	return false
}
