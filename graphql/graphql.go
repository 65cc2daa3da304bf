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
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/patgate/patgate/target"
)

// ErrBadRequest marks a request that is not a GraphQL request the gateway
// can read: answered with 400.
var ErrBadRequest = errors.New("graphql request")

// MaxDepth bounds the nesting of selections the gateway walks.
const MaxDepth = 32

// Request is one GraphQL operation request.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// ParseRequests reads a GraphQL HTTP request: a GET with query, variables
// and operationName parameters, or a POST whose JSON body is one request or
// a batch (an array of them).
func ParseRequests(method, rawQuery string, body []byte) ([]Request, error) {
	if method == "GET" || method == "HEAD" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		r := Request{Query: q.Get("query"), OperationName: q.Get("operationName")}
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &r.Variables); err != nil {
				return nil, fmt.Errorf("%w: variables: %w", ErrBadRequest, err)
			}
		}
		return []Request{r}, nil
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var batch []Request
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if len(batch) == 0 {
			return nil, fmt.Errorf("%w: an empty batch", ErrBadRequest)
		}
		return batch, nil
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return []Request{r}, nil
}

// Targets returns the targets of one request, its access kind, and an
// error for a request that is not valid GraphQL (or a subscription).
func Targets(r Request) ([]target.Target, target.Access, error) {
	if strings.TrimSpace(r.Query) == "" {
		return nil, target.Read, fmt.Errorf("%w: no query", ErrBadRequest)
	}
	doc, gerr := parser.ParseQuery(&ast.Source{Input: r.Query})
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
	w := &walker{doc: doc, vars: r.Variables, access: access, visiting: map[string]bool{}}
	if err := w.selections(op.SelectionSet, "", 0); err != nil {
		return nil, access, err
	}
	return dedupe(w.targets), access, nil
}

// dedupe drops repeated targets (a node ID read both as node(id:) and as
// an id argument), keeping the first of each.
func dedupe(ts []target.Target) []target.Target {
	out := ts[:0]
	for _, t := range ts {
		seen := false
		for _, o := range out {
			seen = seen || o == t
		}
		if !seen {
			out = append(out, t)
		}
	}
	return out
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
	doc      *ast.QueryDocument
	vars     map[string]any
	access   target.Access
	targets  []target.Target
	visiting map[string]bool // fragments on the current path, against cycles
}

func (w *walker) add(t target.Target) {
	t.Surface = target.GraphQL
	t.Access = w.access
	if t.Access == target.Write {
		t.AnonReadable = false
	}
	w.targets = append(w.targets, t)
}

func (w *walker) undetermined(why string) {
	w.add(target.Target{Scope: target.Undetermined, Why: why})
}

// selections walks a selection set. owner is the login of the enclosing
// organization or user, for repository(name:) fields nested in one.
func (w *walker) selections(set ast.SelectionSet, owner string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: selections nested deeper than %d", ErrBadRequest, MaxDepth)
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if err := w.field(s, owner, depth); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := w.selections(s.SelectionSet, owner, depth+1); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil {
				return fmt.Errorf("%w: unknown fragment %q", ErrBadRequest, s.Name)
			}
			if w.visiting[s.Name] {
				return fmt.Errorf("%w: fragment %q spreads itself", ErrBadRequest, s.Name)
			}
			w.visiting[s.Name] = true
			err := w.selections(f.SelectionSet, owner, depth+1)
			delete(w.visiting, s.Name)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sensitiveRepoFields are repository fields that anonymous users never
// read, even on a public repository.
var sensitiveRepoFields = map[string]bool{
	"collaborators": true, "deployKeys": true, "branchProtectionRules": true,
	"vulnerabilityAlerts": true, "rulesets": true, "webhooks": true,
	"autolinks": true, "interactionAbility": true,
}

func (w *walker) field(f *ast.Field, owner string, depth int) error {
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
	// Every argument of a mutation, and the input objects of any field,
	// may carry node IDs (node and nodes were read above).
	if f.Name != "node" && f.Name != "nodes" {
		for _, a := range f.Arguments {
			v := w.value(a.Value)
			switch v.(type) {
			case map[string]any, []any:
				w.ids(a.Name, v, 0)
			default:
				if w.access == target.Write {
					w.ids(a.Name, v, 0)
				}
			}
		}
	}
	return w.selections(f.SelectionSet, nested, depth+1)
}

// ids finds node IDs in a (resolved) argument value: keys ending in "Id" or
// "Ids", and repositoryNameWithOwner-style names.
func (w *walker) ids(key string, v any, depth int) {
	if depth > MaxDepth {
		w.undetermined("input nested deeper than the gateway reads")
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			w.ids(k, c, depth+1)
		}
	case []any:
		for _, c := range v {
			w.ids(key, c, depth+1)
		}
	case string:
		switch {
		case key == "id" || strings.HasSuffix(key, "Id") || strings.HasSuffix(key, "Ids"):
			if key == "clientMutationId" {
				return
			}
			w.node(v, false)
		case key == "repositoryNameWithOwner" || key == "nameWithOwner":
			owner, name, ok := strings.Cut(v, "/")
			if !ok || owner == "" || name == "" {
				w.undetermined(fmt.Sprintf("%s %q is not owner/name", key, v))
				return
			}
			w.add(target.Target{Scope: target.Repository, Owner: owner, Name: name})
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
	return w.access == target.Read && !selects(f.SelectionSet, sensitiveRepoFields, w.doc, 0)
}

// resource places resource(url:) by the URL's path: /owner/repo/… is the
// repository, /orgs/login/… the organization, /owner a user or
// organization.
func (w *walker) resource(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		w.undetermined(fmt.Sprintf("resource url %q cannot be parsed", raw))
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
		w.undetermined(fmt.Sprintf("resource url %q names no repository or account", raw))
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
			out = append(out, w.value(c.Value))
		}
		return out
	case ast.ObjectValue:
		out := make(map[string]any, len(v.Children))
		for _, c := range v.Children {
			out[c.Name] = w.value(c.Value)
		}
		return out
	}
	return v.Raw
}

// selects reports whether a selection set (fragments included) selects one
// of the named fields at its first level. Past MaxDepth of fragments (a
// cycle, which the walk refuses anyway) it answers yes, which fails safe.
func selects(set ast.SelectionSet, names map[string]bool, doc *ast.QueryDocument, depth int) bool {
	if depth > MaxDepth {
		return true
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if names[s.Name] {
				return true
			}
		case *ast.InlineFragment:
			if selects(s.SelectionSet, names, doc, depth+1) {
				return true
			}
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil && selects(f.SelectionSet, names, doc, depth+1) {
				return true
			}
		}
	}
	return false
}
