package githost

// The GraphQL endpoint: a real executor (GraphQL spec, October 2021) over
// the host's tables and GitHub's public schema, so a test may send any
// document, including the ones a gateway rewrites by adding aliased fields
// and inline fragments, and read the answer a GitHub server would give.
// Documents are parsed and validated against the schema first; what the
// tables do not hold resolves to the default of its type, so any valid
// selection gets an answer of the right shape.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/patgate/patgate/ghschema"
)

// issueEntry is an issue or pull request of a repository (AddIssue,
// AddPullRequest).
type issueEntry struct {
	number int
	title  string
	author string
	pull   bool
}

// AddIssue adds issue number to repo ("owner/name", which must exist),
// opened by author. An issue or pull request of the same number is
// replaced: they share their numbers, as on GitHub.
func (h *Host) AddIssue(repo string, number int, title, author string) {
	h.addIssue(repo, issueEntry{number: number, title: title, author: author})
}

// AddPullRequest adds pull request number to repo ("owner/name", which
// must exist), opened by author.
func (h *Host) AddPullRequest(repo string, number int, title, author string) {
	h.addIssue(repo, issueEntry{number: number, title: title, author: author, pull: true})
}

func (h *Host) addIssue(repo string, e issueEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := strings.ToLower(repo)
	if _, ok := h.repos[key]; !ok {
		// A fixture naming a repository the host lacks is a bug in the
		// test, which would otherwise see a silently empty list.
		panic(fmt.Sprintf("githost: no repository %q for issue %d", repo, e.number))
	}
	list := slices.DeleteFunc(h.issues[key], func(old issueEntry) bool { return old.number == e.number })
	h.issues[key] = append(list, e)
	h.gen++
}

// SetParent makes fork ("owner/name") a fork of parent ("owner/name"; ""
// makes it a fork of nothing again). Both must exist.
func (h *Host) SetParent(fork, parent string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, p := strings.ToLower(fork), strings.ToLower(parent)
	if _, ok := h.repos[f]; !ok {
		panic(fmt.Sprintf("githost: no repository %q to fork", fork))
	}
	if p == "" {
		delete(h.parents, f)
	} else {
		if _, ok := h.repos[p]; !ok {
			panic(fmt.Sprintf("githost: no repository %q to be forked", parent))
		}
		h.parents[f] = p
	}
	h.gen++
}

// AddMember makes login a member of the organization org (both become
// accounts of the host if they were not).
func (h *Host) AddMember(org, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, l := strings.ToLower(org), strings.ToLower(login)
	if _, ok := h.accounts[o]; !ok {
		h.accounts[o] = "Organization"
	}
	if _, ok := h.accounts[l]; !ok {
		h.accounts[l] = "User"
	}
	if h.members[o] == nil {
		h.members[o] = map[string]bool{}
	}
	h.members[o][l] = true
	h.gen++
}

// ---------------------------------------------------------------------
// HTTP

// gqlRequest is one operation a client sent.
type gqlRequest struct {
	query         string
	hasQuery      bool
	variables     map[string]any
	operationName string
}

// maxGraphQLBody bounds what a request may send (GitHub refuses bodies far
// smaller than this; the bound only keeps a broken test from eating memory).
const maxGraphQLBody = 16 << 20

// graphql answers POST bodies (one request object, or an array of them
// answered by an array in order) and GET query parameters.
func (h *Host) graphql(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var reqs []gqlRequest
	batch := false
	if r.Method == http.MethodGet {
		req, err := gqlRequestFromQuery(r)
		if err != nil {
			writeProblem(w, err)
			return
		}
		reqs = []gqlRequest{req}
	} else {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxGraphQLBody))
		if err != nil {
			writeProblem(w, fmt.Errorf("reading the body: %w", err))
			return
		}
		reqs, batch, err = gqlRequestsFromBody(body)
		if err != nil {
			writeProblem(w, err)
			return
		}
	}
	world := h.gqlSnapshot()
	viewer := h.viewerOf(r.Header.Get("Authorization"))
	host := r.Host
	if host == "" {
		host = "github.example"
	}
	results := make([]any, len(reqs))
	for i, req := range reqs {
		results[i] = executeRequest(world, host, viewer, req)
	}
	var out any = results
	if !batch {
		out = results[0]
	}
	_ = json.NewEncoder(w).Encode(out)
}

// writeProblem answers a body that is not a GraphQL request at all, as
// GitHub does: 400 and a message.
func writeProblem(w http.ResponseWriter, err error) {
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(object{
		{"message", "Problems parsing JSON"},
		{"errors", []gqlError{{Message: err.Error()}}},
	})
}

// viewerOf is the login the request's token belongs to ("someone" for a
// token the host does not know).
func (h *Host) viewerOf(auth string) string {
	scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		return "someone"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if login, ok := h.users[strings.TrimSpace(token)]; ok {
		return login
	}
	return "someone"
}

func gqlRequestFromQuery(r *http.Request) (gqlRequest, error) {
	q := r.URL.Query()
	req := gqlRequest{query: q.Get("query"), hasQuery: q.Has("query"), operationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		vars, err := decodeVariables([]byte(v))
		if err != nil {
			return req, err
		}
		req.variables = vars
	}
	return req, nil
}

// gqlRequestsFromBody reads a request object or an array of them. Keys
// are matched exactly, as Rails reads them (Go's decoder would fold case).
func gqlRequestsFromBody(body []byte) ([]gqlRequest, bool, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, true, fmt.Errorf("decoding the batch: %w", err)
		}
		reqs := make([]gqlRequest, len(raws))
		for i, raw := range raws {
			req, err := gqlRequestFromJSON(raw)
			if err != nil {
				return nil, true, fmt.Errorf("operation %d of the batch: %w", i, err)
			}
			reqs[i] = req
		}
		return reqs, true, nil
	}
	req, err := gqlRequestFromJSON(body)
	if err != nil {
		return nil, false, err
	}
	return []gqlRequest{req}, false, nil
}

func gqlRequestFromJSON(raw []byte) (gqlRequest, error) {
	var req gqlRequest
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return req, fmt.Errorf("decoding the request: %w", err)
	}
	if q, ok := m["query"]; ok {
		if err := json.Unmarshal(q, &req.query); err != nil {
			return req, fmt.Errorf("the query is not a string: %w", err)
		}
		req.hasQuery = true
	}
	if op, ok := m["operationName"]; ok && string(op) != "null" {
		if err := json.Unmarshal(op, &req.operationName); err != nil {
			return req, fmt.Errorf("the operationName is not a string: %w", err)
		}
	}
	if v, ok := m["variables"]; ok {
		// Some clients send the variables as a JSON string; GitHub takes it.
		var s string
		if json.Unmarshal(v, &s) == nil {
			v = []byte(s)
		}
		vars, err := decodeVariables(v)
		if err != nil {
			return req, err
		}
		req.variables = vars
	}
	return req, nil
}

// decodeVariables keeps numbers as json.Number, so a large id or a
// fractional value reaches coercion as sent.
func decodeVariables(raw []byte) (map[string]any, error) {
	if s := strings.TrimSpace(string(raw)); s == "" || s == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var vars map[string]any
	if err := dec.Decode(&vars); err != nil {
		return nil, fmt.Errorf("decoding the variables: %w", err)
	}
	return vars, nil
}

// gqlError is an entry of an answer's errors, keys in GitHub's order.
type gqlError struct {
	Type      string        `json:"type,omitempty"`
	Path      []any         `json:"path,omitempty"`
	Locations []gqlLocation `json:"locations,omitempty"`
	Message   string        `json:"message"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func errorsOnly(errs ...gqlError) object {
	return object{{"errors", errs}}
}

func fromGQLError(e *gqlerror.Error) gqlError {
	out := gqlError{Message: e.Message}
	for _, l := range e.Locations {
		out.Locations = append(out.Locations, gqlLocation{Line: l.Line, Column: l.Column})
	}
	return out
}

// executeRequest parses, validates and executes one request.
func executeRequest(world *gqlWorld, host, viewer string, req gqlRequest) (out object) {
	defer func() {
		// A bug of the fake host (or of gqlparser) shows in the answer the
		// test reads, rather than as a connection closed without one.
		if p := recover(); p != nil {
			out = errorsOnly(gqlError{Message: fmt.Sprintf("githost: the GraphQL executor failed: %v", p)})
		}
	}()
	if !req.hasQuery || strings.TrimSpace(req.query) == "" {
		return errorsOnly(gqlError{Message: "A query attribute must be specified and must be a string."})
	}
	schema := ghschema.MustLoad()
	doc, perr := parser.ParseQuery(&ast.Source{Name: "query", Input: req.query})
	if perr != nil {
		var ge *gqlerror.Error
		if errors.As(perr, &ge) {
			return errorsOnly(fromGQLError(ge))
		}
		return errorsOnly(gqlError{Message: perr.Error()})
	}
	if list := validator.ValidateWithRules(schema, doc, nil); len(list) > 0 {
		errs := make([]gqlError, len(list))
		for i, e := range list {
			errs[i] = fromGQLError(e)
		}
		return errorsOnly(errs...)
	}
	op, err := pickOperation(doc, req.operationName)
	if err != nil {
		return errorsOnly(gqlError{Message: err.Error()})
	}
	vars, verr := validator.VariableValues(schema, op, req.variables)
	if verr != nil {
		var ge *gqlerror.Error
		if errors.As(verr, &ge) {
			return errorsOnly(fromGQLError(ge))
		}
		return errorsOnly(gqlError{Message: verr.Error()})
	}
	ex := &execution{schema: schema, doc: doc, vars: vars, world: world, host: host, viewer: viewer}
	var root gqlValue
	var rootDef *ast.Definition
	switch op.Operation {
	case ast.Query:
		root, rootDef = queryRoot{}, schema.Query
	case ast.Mutation:
		// Nothing is written: every payload resolves to its default
		// (null), enough for a test that only sees what reached the host.
		root, rootDef = gqlEmpty{typ: schema.Mutation.Name}, schema.Mutation
	default:
		return errorsOnly(gqlError{Message: "Subscriptions are not supported by this host."})
	}
	data, failed := ex.executeSelectionSet(root, rootDef, op.SelectionSet, nil)
	if failed {
		data = nil
	}
	out = object{{"data", data}}
	if len(ex.errs) > 0 {
		out = append(out, field{"errors", ex.errs})
	}
	return out
}

// pickOperation is GetOperation. Its messages are graphql-ruby's, which
// GitHub answers, hence their capitals.
func pickOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name != "" {
		if op := doc.Operations.ForName(name); op != nil {
			return op, nil
		}
		//lint:ignore ST1005 the words GraphQL servers answer with
		return nil, fmt.Errorf("No operation named %q", name)
	}
	if len(doc.Operations) != 1 {
		//lint:ignore ST1005 the words GraphQL servers answer with
		return nil, errors.New("An operation name is required")
	}
	return doc.Operations[0], nil
}

// ---------------------------------------------------------------------
// Execution

// gqlValue is a value of a GraphQL object type.
type gqlValue interface {
	// typeName is the object's concrete type.
	typeName() string
	// resolve is the value of one of its fields: nil (null), a scalar, a
	// gqlValue, a []any (a list, or the elements of a connection), a
	// connItems, a *fieldError (null and that error), or noData when the
	// model does not provide the field and its type's default applies.
	resolve(ex *execution, name string, args map[string]any) any
}

// noDataT marks a field the data model leaves to its type's default.
type noDataT struct{}

var noData any = noDataT{}

// fieldError is a resolver's error: the field is null and the answer
// carries the error, as GitHub's NOT_FOUND ones.
type fieldError struct {
	typ, message string
}

func (e *fieldError) Error() string { return e.message }

func notFound(format string, args ...any) *fieldError {
	return &fieldError{typ: "NOT_FOUND", message: fmt.Sprintf(format, args...)}
}

// execution is the state of one operation.
type execution struct {
	schema *ast.Schema
	doc    *ast.QueryDocument
	vars   map[string]any
	world  *gqlWorld
	host   string // for URLs
	viewer string
	errs   []gqlError
}

func (ex *execution) addError(path []any, f *ast.Field, typ, message string) {
	e := gqlError{Type: typ, Path: slices.Clone(path), Message: message}
	if f != nil && f.Position != nil {
		e.Locations = []gqlLocation{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	ex.errs = append(ex.errs, e)
}

// fieldGroup is the fields of one response key (CollectFields).
type fieldGroup struct {
	key    string
	fields []*ast.Field
}

// fieldGroups is the result of CollectFields: groups in the document's
// order, indexed by response key.
type fieldGroups struct {
	list  []fieldGroup
	index map[string]int
}

// collectFields groups the selections that apply to an object of type
// typeName by response key, in the document's order.
func (ex *execution) collectFields(typeName string, set ast.SelectionSet) []fieldGroup {
	groups := &fieldGroups{index: map[string]int{}}
	ex.collectInto(groups, typeName, set, map[string]bool{})
	return groups.list
}

func (ex *execution) collectInto(groups *fieldGroups, typeName string, set ast.SelectionSet, visited map[string]bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !ex.included(s.Directives) {
				continue
			}
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			i, ok := groups.index[key]
			if !ok {
				i = len(groups.list)
				groups.index[key] = i
				groups.list = append(groups.list, fieldGroup{key: key})
			}
			groups.list[i].fields = append(groups.list[i].fields, s)
		case *ast.InlineFragment:
			if !ex.included(s.Directives) || !ex.applies(typeName, s.TypeCondition) {
				continue
			}
			ex.collectInto(groups, typeName, s.SelectionSet, visited)
		case *ast.FragmentSpread:
			if !ex.included(s.Directives) || visited[s.Name] {
				continue
			}
			visited[s.Name] = true
			frag := ex.doc.Fragments.ForName(s.Name)
			if frag == nil || !ex.applies(typeName, frag.TypeCondition) {
				continue
			}
			ex.collectInto(groups, typeName, frag.SelectionSet, visited)
		}
	}
}

// included evaluates @skip and @include.
func (ex *execution) included(dirs ast.DirectiveList) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, err := arg.Value.Value(ex.vars)
		if err != nil {
			continue
		}
		b, _ := v.(bool)
		if d.Name == "skip" && b || d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// applies reports whether a fragment with type condition cond applies to
// an object of type typeName: the same type, or one of the possible types
// of an interface or union.
func (ex *execution) applies(typeName, cond string) bool {
	if cond == "" || cond == typeName {
		return true
	}
	def := ex.schema.Types[cond]
	if def == nil || !def.IsAbstractType() {
		return false
	}
	for _, p := range ex.schema.GetPossibleTypes(def) {
		if p.Name == typeName {
			return true
		}
	}
	return false
}

// executeSelectionSet answers a selection set on obj. failed means a
// non-null field was null, so obj itself is null (the error is recorded).
func (ex *execution) executeSelectionSet(obj gqlValue, def *ast.Definition, set ast.SelectionSet, path []any) (any, bool) {
	groups := ex.collectFields(def.Name, set)
	out := make(object, 0, len(groups))
	failed := false
	for _, g := range groups {
		// Siblings still run after a failure, so their errors are reported
		// as a server would report them.
		v, f := ex.executeField(obj, def, g.fields, append(slices.Clip(path), g.key))
		failed = failed || f
		out = append(out, field{g.key, v})
	}
	if failed {
		return nil, true
	}
	return out, false
}

func (ex *execution) executeField(obj gqlValue, def *ast.Definition, fields []*ast.Field, path []any) (any, bool) {
	f := fields[0]
	if f.Name == "__typename" {
		return def.Name, false
	}
	fd := def.Fields.ForName(f.Name)
	if fd == nil {
		// Validation makes this unreachable; say so rather than panic.
		ex.addError(path, f, "", fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.Name, def.Name))
		return nil, false
	}
	args, err := argumentValues(fd.Arguments, f.Arguments, ex.vars)
	if err != nil {
		ex.addError(path, f, "", err.Error())
		return nil, fd.Type.NonNull
	}
	v := obj.resolve(ex, f.Name, args)
	if fe, ok := v.(*fieldError); ok {
		ex.addError(path, f, fe.typ, fe.message)
		return nil, fd.Type.NonNull
	}
	if _, ok := v.(noDataT); ok {
		v = ex.defaultFor(fd.Type)
	}
	if fd.Type.Elem == nil && strings.HasSuffix(fd.Type.NamedType, "Connection") {
		switch items := v.(type) {
		case []any:
			v = ex.newConnection(fd.Type.NamedType, connItems{items: items}, args)
		case connItems:
			v = ex.newConnection(fd.Type.NamedType, items, args)
		}
		if fe, ok := v.(*fieldError); ok {
			ex.addError(path, f, fe.typ, fe.message)
			return nil, fd.Type.NonNull
		}
	}
	return ex.complete(fd.Type, def.Name+"."+f.Name, fields, v, path)
}

// argumentValues is CoerceArgumentValues: literals and variables, else
// the argument's default.
func argumentValues(defs ast.ArgumentDefinitionList, args ast.ArgumentList, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, d := range defs {
		if a := args.ForName(d.Name); a != nil {
			if a.Value.Kind == ast.Variable {
				if v, ok := vars[a.Value.Raw]; ok {
					out[d.Name] = v
					continue
				}
			} else {
				v, err := a.Value.Value(vars)
				if err != nil {
					return nil, fmt.Errorf("argument %s: %w", d.Name, err)
				}
				out[d.Name] = v
				continue
			}
		}
		if d.DefaultValue != nil {
			v, err := d.DefaultValue.Value(vars)
			if err != nil {
				return nil, fmt.Errorf("default of argument %s: %w", d.Name, err)
			}
			out[d.Name] = v
		}
	}
	return out, nil
}

// complete is CompleteValue. failed means the value is null at a
// non-null position (an error is recorded), so the nearest nullable
// parent must become null.
func (ex *execution) complete(t *ast.Type, where string, fields []*ast.Field, v any, path []any) (any, bool) {
	r, failed := ex.completeInner(t, where, fields, v, path)
	if failed {
		return nil, t.NonNull
	}
	if r == nil && t.NonNull {
		ex.addError(path, fields[0], "", "Cannot return null for non-nullable field "+where)
		return nil, true
	}
	return r, false
}

// completeInner completes v without regard to t's own nullability;
// failed means a non-null position inside it was null.
func (ex *execution) completeInner(t *ast.Type, where string, fields []*ast.Field, v any, path []any) (any, bool) {
	if v == nil {
		return nil, false
	}
	if t.Elem != nil {
		items, ok := v.([]any)
		if !ok {
			ex.addError(path, fields[0], "", fmt.Sprintf("the fake host has no list for %s", where))
			return nil, false
		}
		out := make([]any, len(items))
		for i, item := range items {
			r, failed := ex.complete(t.Elem, where, fields, item, append(slices.Clip(path), i))
			if failed {
				return nil, true
			}
			out[i] = r
		}
		return out, false
	}
	def := ex.schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		if _, ok := v.(gqlValue); ok {
			ex.addError(path, fields[0], "", fmt.Sprintf("the fake host has no scalar for %s", where))
			return nil, false
		}
		return v, false
	}
	obj, ok := v.(gqlValue)
	if !ok {
		ex.addError(path, fields[0], "", fmt.Sprintf("the fake host has no object for %s", where))
		return nil, false
	}
	concrete := ex.schema.Types[obj.typeName()]
	if concrete == nil || concrete.Kind != ast.Object || !ex.applies(concrete.Name, def.Name) {
		ex.addError(path, fields[0], "", fmt.Sprintf("the fake host gave a %s for %s", obj.typeName(), where))
		return nil, false
	}
	var set ast.SelectionSet
	for _, f := range fields {
		set = append(set, f.SelectionSet...)
	}
	return ex.executeSelectionSet(obj, concrete, set, path)
}

// Defaults of fields the model leaves out.
const (
	defaultDateTime = "2026-01-01T00:00:00Z"
	defaultDate     = "2026-01-01"
)

// defaultFor is the value of a field the data model does not provide:
// null where allowed, else the empty value of its type.
func (ex *execution) defaultFor(t *ast.Type) any {
	if !t.NonNull {
		return nil
	}
	if t.Elem != nil {
		return []any{}
	}
	def := ex.schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Enum:
		return def.EnumValues[0].Name
	case ast.Object:
		if strings.HasSuffix(def.Name, "Connection") {
			return []any{} // an empty connection, as executeField wraps it
		}
		return gqlEmpty{typ: def.Name}
	case ast.Interface, ast.Union:
		// Which concrete type is unknown: null, and the error it brings.
		return nil
	}
	switch def.Name {
	case "Int", "Float":
		return 0
	case "Boolean":
		return false
	case "DateTime", "GitTimestamp", "PreciseDateTime":
		return defaultDateTime
	case "Date":
		return defaultDate
	case "URI":
		return "https://" + ex.host + "/"
	case "BigInt":
		return "0" // GitHub sends BigInt as a string
	}
	return "" // String, ID, HTML, GitObjectID, GitSSHRemote, …
}

// gqlEmpty is an object the model knows nothing about: each of its fields
// takes its default.
type gqlEmpty struct{ typ string }

func (e gqlEmpty) typeName() string                             { return e.typ }
func (gqlEmpty) resolve(*execution, string, map[string]any) any { return noData }

// ---------------------------------------------------------------------
// Connections

// connItems is the elements of a connection with extra totals (search's
// repositoryCount, issueCount, …).
type connItems struct {
	items  []any
	counts map[string]int
}

// gqlConnection is a page of a connection.
type gqlConnection struct {
	typ, edgeType string
	all           []any
	start, end    int // the page is all[start:end]
	counts        map[string]int
}

// defaultPage is the page size when a document gives neither first nor
// last.
const defaultPage = 100

// newConnection pages items by first, last, after and before.
func (ex *execution) newConnection(typ string, c connItems, args map[string]any) any {
	conn := &gqlConnection{typ: typ, all: c.items, end: len(c.items), counts: c.counts}
	if d := ex.schema.Types[typ]; d != nil {
		if ed := d.Fields.ForName("edges"); ed != nil {
			conn.edgeType = ed.Type.Name()
		}
	}
	if n, ok := cursorIndex(args["after"]); ok {
		conn.start = min(n, conn.end)
	}
	if n, ok := cursorIndex(args["before"]); ok {
		conn.end = max(min(n-1, conn.end), conn.start)
	}
	first, hasFirst := argInt(args["first"])
	last, hasLast := argInt(args["last"])
	if first < 0 || last < 0 {
		return &fieldError{typ: "INVALID_CURSOR_ARGUMENTS", message: fmt.Sprintf("`first` and `last` on the connection %s cannot be less than zero.", typ)}
	}
	if !hasFirst && !hasLast {
		first, hasFirst = defaultPage, true
	}
	if hasFirst && conn.end-conn.start > first {
		conn.end = conn.start + first
	}
	if hasLast && conn.end-conn.start > last {
		conn.start = conn.end - last
	}
	return conn
}

// cursor is GitHub's connection cursor for the element at position i
// (from 1): base64 of "cursor:i".
func cursor(i int) string {
	return base64.StdEncoding.EncodeToString([]byte("cursor:" + strconv.Itoa(i)))
}

func cursorIndex(v any) (int, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(raw), "cursor:"))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func (c *gqlConnection) typeName() string { return c.typ }

func (c *gqlConnection) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "nodes":
		return slices.Clone(c.all[c.start:c.end])
	case "edges":
		edges := make([]any, 0, c.end-c.start)
		for i := c.start; i < c.end; i++ {
			edges = append(edges, gqlEdge{typ: c.edgeType, node: c.all[i], cursor: cursor(i + 1)})
		}
		return edges
	case "totalCount":
		return len(c.all)
	case "pageInfo":
		p := gqlPageInfo{hasNext: c.end < len(c.all), hasPrevious: c.start > 0}
		if c.end > c.start {
			p.start, p.end = cursor(c.start+1), cursor(c.end)
		}
		return p
	}
	if n, ok := c.counts[name]; ok {
		return n
	}
	return noData
}

type gqlEdge struct {
	typ    string
	node   any
	cursor string
}

func (e gqlEdge) typeName() string { return e.typ }

func (e gqlEdge) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "node":
		return e.node
	case "cursor":
		return e.cursor
	}
	return noData
}

type gqlPageInfo struct {
	hasNext, hasPrevious bool
	start, end           string // "" for an empty page
}

func (gqlPageInfo) typeName() string { return "PageInfo" }

func (p gqlPageInfo) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "hasNextPage":
		return p.hasNext
	case "hasPreviousPage":
		return p.hasPrevious
	case "startCursor":
		return nullIfEmpty(p.start)
	case "endCursor":
		return nullIfEmpty(p.end)
	}
	return noData
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ---------------------------------------------------------------------
// Arguments

func argInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		if n == math.Trunc(n) {
			return int(n), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return int(i), true
		}
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i, true
		}
	}
	return 0, false
}

func argString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case json.Number:
		return s.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// argStrings reads a list argument; a single value counts as a list of
// one, as input coercion makes it.
func argStrings(v any) ([]string, bool) {
	switch l := v.(type) {
	case nil:
		return nil, false
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			out = append(out, argString(x))
		}
		return out, true
	case []string:
		return l, true
	}
	return []string{argString(v)}, true
}

// descending reports whether an orderBy argument asks for DESC.
func descending(args map[string]any) bool {
	m, ok := args["orderBy"].(map[string]any)
	return ok && argString(m["direction"]) == "DESC"
}

func maybeReverse(items []any, desc bool) []any {
	if desc {
		slices.Reverse(items)
	}
	return items
}

// ---------------------------------------------------------------------
// Node ids

// newNodeID is a new-form global id: PREFIX_ + base64url (no padding) of
// the msgpack array [0, ids...], with integers in their shortest form as
// GitHub writes them (graphql/nodeid.go decodes them).
func newNodeID(prefix string, ids ...int64) string {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	parts := make([]any, 0, len(ids)+1)
	parts = append(parts, 0)
	for _, id := range ids {
		parts = append(parts, id)
	}
	if err := enc.Encode(parts); err != nil {
		panic(fmt.Errorf("githost: encoding a node id: %w", err))
	}
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// parseNodeID reads a new-form id, or a legacy one ("04:User3407303",
// base64) of a user, organization or repository, as a prefix and the
// numbers after the leading 0.
func parseNodeID(id string) (string, []int64, bool) {
	if prefix, rest, found := strings.Cut(id, "_"); found && prefix != "" && prefix == strings.ToUpper(prefix) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err != nil {
			return "", nil, false
		}
		var parts []int64
		if err := msgpack.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
			return "", nil, false
		}
		return prefix, parts[1:], true
	}
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return "", nil, false
	}
	n, rest, found := strings.Cut(string(raw), ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size <= 0 || size > len(rest) {
		return "", nil, false
	}
	dbID, err := strconv.ParseInt(rest[size:], 10, 64)
	if err != nil {
		return "", nil, false
	}
	prefix, ok := map[string]string{"User": "U", "Organization": "O", "Repository": "R"}[rest[:size]]
	return prefix, []int64{dbID}, ok
}

// node resolves a global id (nil when it names nothing the host has).
func (ex *execution) node(id string) any {
	prefix, ids, ok := parseNodeID(id)
	if !ok {
		return nil
	}
	w := ex.world
	switch {
	case prefix == "U" && len(ids) == 1, prefix == "O" && len(ids) == 1:
		login, ok := w.accountByID[ids[0]]
		if !ok && w.ids.accountID(strings.ToLower(ex.viewer)) == ids[0] {
			login, ok = strings.ToLower(ex.viewer), true
		}
		if !ok {
			return nil
		}
		a := w.account(login)
		if a.typ != map[string]string{"U": "User", "O": "Organization"}[prefix] {
			return nil
		}
		return a
	case prefix == "R" && len(ids) == 1:
		if r := w.byID[ids[0]]; r != nil {
			return gqlRepo{r}
		}
	case (prefix == "I" || prefix == "PR") && len(ids) == 2:
		if r := w.byID[ids[0]]; r != nil {
			if it, ok := r.issue(int(ids[1])); ok && it.pull == (prefix == "PR") {
				return gqlIssue{repo: r, entry: it}
			}
		}
	case prefix == "T" && len(ids) == 1:
		if org, ok := w.teams[ids[0]]; ok {
			return gqlTeam{id: ids[0], org: org}
		}
	}
	return nil
}

// ---------------------------------------------------------------------
// The data model

// gqlWorld is the host's tables as the executor reads them: built when
// the tables changed (h.gen) and never modified after, so requests share
// it without the lock.
type gqlWorld struct {
	repos       []*gqlRepoRow          // sorted by full name
	byName      map[string]*gqlRepoRow // "owner/name", lowercase
	byID        map[int64]*gqlRepoRow
	accounts    map[string]string // login → type, as recorded
	accountByID map[int64]string  // database id → login
	ids         *gen              // account ids, the ones the REST lists give
	teams       map[int64]string  // team id → organization login
	teamIDs     []int64           // sorted
	members     map[string][]string
	orgsOf      map[string][]string // user → organizations, sorted
}

type gqlRepoRow struct {
	owner, name string
	Repo
	parent *gqlRepoRow
	issues []issueEntry // sorted by number, pull requests too
}

func (r *gqlRepoRow) fullName() string { return r.owner + "/" + r.name }

func (r *gqlRepoRow) issue(number int) (issueEntry, bool) {
	i := slices.IndexFunc(r.issues, func(e issueEntry) bool { return e.number == number })
	if i < 0 {
		return issueEntry{}, false
	}
	return r.issues[i], true
}

// gqlSnapshot returns the tables as the executor reads them.
func (h *Host) gqlSnapshot() *gqlWorld {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gqlCache != nil && h.gqlCacheGen == h.gen {
		return h.gqlCache
	}
	orgIDs := map[string]int64{}
	for id, login := range h.orgIDs {
		orgIDs[strings.ToLower(login)] = id
	}
	w := &gqlWorld{
		byName: map[string]*gqlRepoRow{}, byID: map[int64]*gqlRepoRow{},
		accounts: map[string]string{}, accountByID: map[int64]string{},
		ids:   &gen{orgIDs: orgIDs},
		teams: map[int64]string{}, members: map[string][]string{}, orgsOf: map[string][]string{},
	}
	for k, r := range h.repos {
		owner, name, _ := strings.Cut(k, "/")
		row := &gqlRepoRow{owner: owner, name: name, Repo: r}
		row.issues = slices.Clone(h.issues[k])
		sort.Slice(row.issues, func(i, j int) bool { return row.issues[i].number < row.issues[j].number })
		w.repos = append(w.repos, row)
		w.byName[k], w.byID[r.ID] = row, row
		w.accounts[owner] = r.OwnerType
	}
	sort.Slice(w.repos, func(i, j int) bool { return w.repos[i].fullName() < w.repos[j].fullName() })
	for fork, parent := range h.parents {
		w.byName[fork].parent = w.byName[parent]
	}
	for login, typ := range h.accounts {
		w.accounts[login] = typ
	}
	for org, logins := range h.members {
		for l := range logins {
			w.members[org] = append(w.members[org], l)
			w.orgsOf[l] = append(w.orgsOf[l], org)
		}
	}
	for _, l := range w.members {
		sort.Strings(l)
	}
	for _, l := range w.orgsOf {
		sort.Strings(l)
	}
	for login := range w.accounts {
		w.accountByID[w.ids.accountID(login)] = login
	}
	for id, org := range h.teams {
		w.teams[id] = strings.ToLower(org)
		w.teamIDs = append(w.teamIDs, id)
	}
	slices.Sort(w.teamIDs)
	h.gqlCache, h.gqlCacheGen = w, h.gen
	return w
}

// account is the account login (lowercase) as an object: a User or an
// Organization as recorded, a User when the host does not know it (an
// issue's author, a token's user).
func (w *gqlWorld) account(login string) gqlAccount {
	l := strings.ToLower(login)
	typ, ok := w.accounts[l]
	if !ok {
		typ = "User"
	}
	return gqlAccount{login: l, typ: typ}
}

// owner is a repository's owner, or nil when its recorded type is
// neither a User nor an Organization, which no RepositoryOwner can stand
// for.
func (w *gqlWorld) owner(r *gqlRepoRow) any {
	a := w.account(r.owner)
	if a.typ != "User" && a.typ != "Organization" {
		return nil
	}
	return a
}

func repoValues(rows []*gqlRepoRow) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = gqlRepo{r}
	}
	return out
}

// reposWhere is the repositories (sorted by full name) keep accepts.
func (w *gqlWorld) reposWhere(keep func(*gqlRepoRow) bool) []*gqlRepoRow {
	var out []*gqlRepoRow
	for _, r := range w.repos {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// repoFilter applies the arguments of a repositories connection the model
// can answer: privacy, visibility and isFork.
func repoFilter(args map[string]any) func(*gqlRepoRow) bool {
	privacy, visibility := argString(args["privacy"]), argString(args["visibility"])
	isFork, forkSet := args["isFork"].(bool)
	return func(r *gqlRepoRow) bool {
		switch {
		case privacy == "PUBLIC" && r.Visibility != "public",
			privacy == "PRIVATE" && r.Visibility == "public",
			visibility != "" && !strings.EqualFold(visibility, r.Visibility),
			forkSet && isFork != (r.parent != nil):
			return false
		}
		return true
	}
}

// issueFilter keeps issues or pull requests in the states asked (every
// one is open) and on the branches asked (every one goes into main from
// no named branch).
func issueFilter(pull bool, args map[string]any) func(issueEntry) bool {
	states, hasStates := argStrings(args["states"])
	head, base := argString(args["headRefName"]), argString(args["baseRefName"])
	return func(e issueEntry) bool {
		switch {
		case e.pull != pull,
			hasStates && !slices.Contains(states, "OPEN"),
			head != "",
			base != "" && base != "main":
			return false
		}
		return true
	}
}

// queryRoot is the Query type.
type queryRoot struct{}

func (queryRoot) typeName() string { return "Query" }

func (queryRoot) resolve(ex *execution, name string, args map[string]any) any {
	w := ex.world
	switch name {
	case "viewer":
		a := w.account(ex.viewer)
		a.typ = "User" // a token is always a user's
		return a
	case "user", "organization":
		login := argString(args["login"])
		a, ok := w.accounts[strings.ToLower(login)]
		if name == "user" && (!ok || a != "User") {
			return notFound("Could not resolve to a User with the login of '%s'.", login)
		}
		if name == "organization" && (!ok || a != "Organization") {
			return notFound("Could not resolve to an Organization with the login of '%s'.", login)
		}
		return w.account(login)
	case "repositoryOwner":
		a := w.account(argString(args["login"]))
		if t, ok := w.accounts[a.login]; !ok || t != "User" && t != "Organization" {
			return nil
		}
		return a
	case "repository":
		owner, repo := argString(args["owner"]), argString(args["name"])
		if r := w.byName[strings.ToLower(owner+"/"+repo)]; r != nil {
			return gqlRepo{r}
		}
		return notFound("Could not resolve to a Repository with the name '%s/%s'.", owner, repo)
	case "search":
		return ex.search(argString(args["query"]), argString(args["type"]))
	case "node":
		return ex.node(argString(args["id"]))
	case "nodes":
		ids, _ := argStrings(args["ids"])
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = ex.node(id)
		}
		return out
	case "rateLimit":
		return gqlRateLimit{}
	case "__schema":
		return introSchema{s: ex.schema}
	case "__type":
		if d := ex.schema.Types[argString(args["name"])]; d != nil {
			return introType{s: ex.schema, def: d}
		}
		return nil
	}
	return noData
}

type gqlRateLimit struct{}

func (gqlRateLimit) typeName() string { return "RateLimit" }

func (gqlRateLimit) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "limit":
		return 5000
	case "remaining":
		return 4999
	case "used", "cost", "nodeCount":
		return 1
	}
	return noData
}

// search answers search(query:, type:) from the tables: qualifiers of one
// kind are alternatives, different kinds and plain words must all hold.
func (ex *execution) search(query, typ string) connItems {
	var owners, repos, vis []string
	var pulls, issues, never bool
	var words []string
	for _, tok := range strings.Fields(query) {
		tok = strings.ToLower(strings.Trim(tok, `"`))
		k, v, isQual := strings.Cut(tok, ":")
		switch {
		case !isQual:
			words = append(words, tok)
		case k == "org" || k == "user":
			owners = append(owners, v)
		case k == "repo":
			repos = append(repos, v)
		case (k == "is" || k == "type") && (v == "pr" || v == "pull-request"):
			pulls = true
		case (k == "is" || k == "type") && v == "issue":
			issues = true
		case k == "is" && (v == "public" || v == "private" || v == "internal"):
			vis = append(vis, v)
		case k == "is" && (v == "closed" || v == "merged"), k == "state" && v == "closed":
			never = true // every issue and pull request of the host is open
		}
		// Other qualifiers (sort:, in:, archived:, is:open, …) hold for
		// everything the host has.
	}
	w := ex.world
	inScope := func(r *gqlRepoRow) bool {
		return (len(owners) == 0 || slices.Contains(owners, r.owner)) &&
			(len(repos) == 0 || slices.Contains(repos, r.fullName())) &&
			(len(vis) == 0 || slices.Contains(vis, r.Visibility))
	}
	matches := func(s string) bool {
		s = strings.ToLower(s)
		for _, word := range words {
			if !strings.Contains(s, word) {
				return false
			}
		}
		return true
	}
	var items []any
	switch typ {
	case "REPOSITORY":
		for _, r := range w.repos {
			if !never && inScope(r) && matches(r.name) {
				items = append(items, gqlRepo{r})
			}
		}
		return connItems{items: items, counts: map[string]int{"repositoryCount": len(items)}}
	case "ISSUE":
		for _, r := range w.repos {
			if never || !inScope(r) {
				continue
			}
			for _, e := range r.issues {
				if (e.pull && issues && !pulls || !e.pull && pulls && !issues) || !matches(e.title) {
					continue
				}
				items = append(items, gqlIssue{repo: r, entry: e})
			}
		}
		return connItems{items: items, counts: map[string]int{"issueCount": len(items)}}
	}
	return connItems{items: []any{}}
}

// gqlAccount is a User or an Organization.
type gqlAccount struct {
	login string // lowercase
	typ   string
}

func (a gqlAccount) typeName() string { return a.typ }

func (a gqlAccount) resolve(ex *execution, name string, args map[string]any) any {
	w := ex.world
	id := w.ids.accountID(a.login)
	org := a.typ == "Organization"
	switch name {
	case "id":
		if org {
			return newNodeID("O", id)
		}
		return newNodeID("U", id)
	case "databaseId":
		return id
	case "login", "name":
		return a.login
	case "url":
		return "https://" + ex.host + "/" + a.login
	case "resourcePath":
		return "/" + a.login
	case "avatarUrl":
		return "https://" + ex.host + "/avatars/u/" + strconv.FormatInt(id, 10) + "?"
	case "isViewer":
		return strings.EqualFold(a.login, ex.viewer)
	case "repositories":
		withOrgs := false
		for _, key := range []string{"affiliations", "ownerAffiliations"} {
			aff, _ := argStrings(args[key])
			withOrgs = withOrgs || slices.Contains(aff, "ORGANIZATION_MEMBER")
		}
		orgs := w.orgsOf[a.login]
		keep := repoFilter(args)
		rows := w.reposWhere(func(r *gqlRepoRow) bool {
			return (r.owner == a.login || withOrgs && slices.Contains(orgs, r.owner)) && keep(r)
		})
		return maybeReverse(repoValues(rows), descending(args))
	case "repository":
		if r := w.byName[a.login+"/"+strings.ToLower(argString(args["name"]))]; r != nil {
			return gqlRepo{r}
		}
		return nil
	}
	if org {
		return a.resolveOrganization(ex, name, args)
	}
	return a.resolveUser(ex, name, args)
}

func (a gqlAccount) resolveUser(ex *execution, name string, args map[string]any) any {
	w := ex.world
	switch name {
	case "organizations":
		var out []any
		for _, o := range w.orgsOf[a.login] {
			out = append(out, w.account(o))
		}
		return orEmpty(out)
	case "organization":
		o := strings.ToLower(argString(args["login"]))
		if slices.Contains(w.orgsOf[a.login], o) {
			return w.account(o)
		}
		return nil
	case "repositoriesContributedTo":
		orgs := w.orgsOf[a.login]
		keep := repoFilter(args)
		return repoValues(w.reposWhere(func(r *gqlRepoRow) bool {
			return (r.owner == a.login || slices.Contains(orgs, r.owner)) && keep(r)
		}))
	case "starredRepositories", "watching", "followers", "following", "gists", "sponsors":
		return []any{}
	case "issues", "pullRequests":
		keep := issueFilter(name == "pullRequests", args)
		var out []any
		for _, r := range w.repos {
			for _, e := range r.issues {
				if strings.EqualFold(e.author, a.login) && keep(e) {
					out = append(out, gqlIssue{repo: r, entry: e})
				}
			}
		}
		return maybeReverse(orEmpty(out), descending(args))
	}
	return noData
}

func (a gqlAccount) resolveOrganization(ex *execution, name string, args map[string]any) any {
	w := ex.world
	switch name {
	case "teams":
		var out []any
		for _, id := range w.teamIDs {
			if w.teams[id] == a.login {
				out = append(out, gqlTeam{id: id, org: a.login})
			}
		}
		return orEmpty(out)
	case "team":
		slug := argString(args["slug"])
		for _, id := range w.teamIDs {
			if w.teams[id] == a.login && teamSlug(id) == slug {
				return gqlTeam{id: id, org: a.login}
			}
		}
		return nil
	case "membersWithRole":
		var out []any
		for _, l := range w.members[a.login] {
			out = append(out, w.account(l))
		}
		return orEmpty(out)
	case "viewerIsAMember":
		return slices.Contains(w.members[a.login], strings.ToLower(ex.viewer))
	}
	return noData
}

func orEmpty(items []any) []any {
	if items == nil {
		return []any{}
	}
	return items
}

// gqlRepo is a Repository.
type gqlRepo struct{ r *gqlRepoRow }

func (gqlRepo) typeName() string { return "Repository" }

func (g gqlRepo) resolve(ex *execution, name string, args map[string]any) any {
	r, w := g.r, ex.world
	switch name {
	case "id":
		return newNodeID("R", r.ID)
	case "databaseId":
		return r.ID
	case "name":
		return r.name
	case "nameWithOwner":
		return r.fullName()
	case "owner":
		return w.owner(r)
	case "visibility":
		return strings.ToUpper(r.Visibility)
	case "isPrivate":
		return r.Visibility != "public"
	case "isInOrganization":
		return w.account(r.owner).typ == "Organization"
	case "isFork":
		return r.parent != nil
	case "parent":
		if r.parent == nil {
			return nil
		}
		return gqlRepo{r.parent}
	case "forks":
		keep := repoFilter(args)
		return repoValues(w.reposWhere(func(f *gqlRepoRow) bool { return f.parent == r && keep(f) }))
	case "forkCount":
		return len(w.reposWhere(func(f *gqlRepoRow) bool { return f.parent == r }))
	case "description":
		return "a repository of the fake host"
	case "url":
		return "https://" + ex.host + "/" + r.fullName()
	case "resourcePath":
		return "/" + r.fullName()
	case "sshUrl":
		return "git@" + ex.host + ":" + r.fullName() + ".git"
	case "defaultBranchRef":
		return gqlRef{repo: r, name: "main"}
	case "hasIssuesEnabled":
		return true
	case "viewerPermission":
		return "WRITE"
	case "stargazerCount":
		return 0
	case "issues", "pullRequests":
		keep := issueFilter(name == "pullRequests", args)
		var out []any
		for _, e := range r.issues {
			if keep(e) {
				out = append(out, gqlIssue{repo: r, entry: e})
			}
		}
		return maybeReverse(orEmpty(out), descending(args))
	case "issue", "pullRequest", "issueOrPullRequest":
		n, _ := argInt(args["number"])
		e, ok := r.issue(n)
		switch {
		case name == "issue" && (!ok || e.pull):
			return notFound("Could not resolve to an Issue with the number of %d.", n)
		case name == "pullRequest" && (!ok || !e.pull):
			return notFound("Could not resolve to a PullRequest with the number of %d.", n)
		case !ok:
			return notFound("Could not resolve to an issue or pull request with the number of %d.", n)
		}
		return gqlIssue{repo: r, entry: e}
	}
	return noData
}

// gqlRef is a branch.
type gqlRef struct {
	repo *gqlRepoRow
	name string
}

func (gqlRef) typeName() string { return "Ref" }

func (g gqlRef) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "name":
		return g.name
	case "prefix":
		return "refs/heads/"
	case "repository":
		return gqlRepo{g.repo}
	case "target":
		return gqlCommit{repo: g.repo}
	}
	return noData
}

// gqlCommit is a branch's head commit (a GitObject).
type gqlCommit struct{ repo *gqlRepoRow }

func (gqlCommit) typeName() string { return "Commit" }

func (c gqlCommit) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "oid", "abbreviatedOid":
		oid := SHA(c.repo.fullName())[:40]
		if name == "abbreviatedOid" {
			return oid[:7]
		}
		return oid
	case "message", "messageHeadline":
		return "initial"
	case "repository":
		return gqlRepo{c.repo}
	}
	return noData
}

// gqlIssue is an Issue or a PullRequest.
type gqlIssue struct {
	repo  *gqlRepoRow
	entry issueEntry
}

func (g gqlIssue) typeName() string {
	if g.entry.pull {
		return "PullRequest"
	}
	return "Issue"
}

func (g gqlIssue) resolve(ex *execution, name string, _ map[string]any) any {
	e := g.entry
	kind, prefix := "issues", "I"
	if e.pull {
		kind, prefix = "pull", "PR"
	}
	switch name {
	case "id":
		return newNodeID(prefix, g.repo.ID, int64(e.number))
	case "number":
		return e.number
	case "title":
		return e.title
	case "url":
		return "https://" + ex.host + "/" + g.repo.fullName() + "/" + kind + "/" + strconv.Itoa(e.number)
	case "resourcePath":
		return "/" + g.repo.fullName() + "/" + kind + "/" + strconv.Itoa(e.number)
	case "state":
		return "OPEN"
	case "repository":
		return gqlRepo{g.repo}
	case "author":
		if e.author == "" {
			return nil
		}
		a := ex.world.account(e.author)
		a.typ = "User"
		return a
	case "baseRefName":
		return "main"
	}
	return noData
}

// gqlTeam is a Team of an organization.
type gqlTeam struct {
	id  int64
	org string
}

func teamSlug(id int64) string { return "team-" + strconv.FormatInt(id, 10) }

func (gqlTeam) typeName() string { return "Team" }

func (t gqlTeam) resolve(ex *execution, name string, _ map[string]any) any {
	switch name {
	case "id":
		return newNodeID("T", t.id)
	case "databaseId":
		return t.id
	case "name", "slug":
		return teamSlug(t.id)
	case "combinedSlug":
		return t.org + "/" + teamSlug(t.id)
	case "organization":
		a := ex.world.account(t.org)
		a.typ = "Organization"
		return a
	case "url":
		return "https://" + ex.host + "/orgs/" + t.org + "/teams/" + teamSlug(t.id)
	case "resourcePath":
		return "/orgs/" + t.org + "/teams/" + teamSlug(t.id)
	}
	return noData
}

// ---------------------------------------------------------------------
// Introspection (gh detects an enterprise host's features with __type)

type introSchema struct{ s *ast.Schema }

func (introSchema) typeName() string { return "__Schema" }

func (i introSchema) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "description":
		return nullIfEmpty(i.s.Description)
	case "types":
		names := make([]string, 0, len(i.s.Types))
		for n := range i.s.Types {
			names = append(names, n)
		}
		sort.Strings(names)
		out := make([]any, len(names))
		for k, n := range names {
			out[k] = introType{s: i.s, def: i.s.Types[n]}
		}
		return out
	case "queryType":
		return introType{s: i.s, def: i.s.Query}
	case "mutationType":
		return introNamed(i.s, i.s.Mutation)
	case "subscriptionType":
		return introNamed(i.s, i.s.Subscription)
	case "directives":
		names := make([]string, 0, len(i.s.Directives))
		for n := range i.s.Directives {
			names = append(names, n)
		}
		sort.Strings(names)
		out := make([]any, len(names))
		for k, n := range names {
			out[k] = introDirective{s: i.s, d: i.s.Directives[n]}
		}
		return out
	}
	return noData
}

func introNamed(s *ast.Schema, d *ast.Definition) any {
	if d == nil {
		return nil
	}
	return introType{s: s, def: d}
}

// introType is a named type (def) or a wrapper (kind LIST or NON_NULL of
// of).
type introType struct {
	s    *ast.Schema
	def  *ast.Definition
	kind string
	of   *ast.Type
}

// introTypeRef describes a field's or argument's type, wrappers first.
func introTypeRef(s *ast.Schema, t *ast.Type) introType {
	switch {
	case t.NonNull:
		inner := *t
		inner.NonNull = false
		return introType{s: s, kind: "NON_NULL", of: &inner}
	case t.Elem != nil:
		return introType{s: s, kind: "LIST", of: t.Elem}
	}
	return introType{s: s, def: s.Types[t.NamedType]}
}

func (introType) typeName() string { return "__Type" }

func (i introType) resolve(_ *execution, name string, args map[string]any) any {
	if i.def == nil {
		switch name {
		case "kind":
			return i.kind
		case "ofType":
			return introTypeRef(i.s, i.of)
		}
		return nil
	}
	d := i.def
	withDeprecated, _ := args["includeDeprecated"].(bool)
	switch name {
	case "kind":
		return string(d.Kind)
	case "name":
		return d.Name
	case "description":
		return nullIfEmpty(d.Description)
	case "specifiedByURL":
		if dir := d.Directives.ForName("specifiedBy"); dir != nil {
			if a := dir.Arguments.ForName("url"); a != nil {
				return a.Value.Raw
			}
		}
		return nil
	case "fields":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil
		}
		out := []any{}
		for _, f := range d.Fields {
			if !strings.HasPrefix(f.Name, "__") && (withDeprecated || !deprecated(f.Directives)) {
				out = append(out, introField{s: i.s, f: f})
			}
		}
		return out
	case "interfaces":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil
		}
		out := []any{}
		for _, n := range d.Interfaces {
			out = append(out, introType{s: i.s, def: i.s.Types[n]})
		}
		return out
	case "possibleTypes":
		if !d.IsAbstractType() {
			return nil
		}
		out := []any{}
		for _, p := range i.s.GetPossibleTypes(d) {
			out = append(out, introType{s: i.s, def: p})
		}
		return out
	case "enumValues":
		if d.Kind != ast.Enum {
			return nil
		}
		out := []any{}
		for _, v := range d.EnumValues {
			if withDeprecated || !deprecated(v.Directives) {
				out = append(out, introEnumValue{v})
			}
		}
		return out
	case "inputFields":
		if d.Kind != ast.InputObject {
			return nil
		}
		out := []any{}
		for _, f := range d.Fields {
			if withDeprecated || !deprecated(f.Directives) {
				out = append(out, introInputValue{s: i.s, name: f.Name, description: f.Description, typ: f.Type, def: f.DefaultValue, dirs: f.Directives})
			}
		}
		return out
	case "ofType":
		return nil
	case "isOneOf":
		if d.Kind != ast.InputObject {
			return nil
		}
		return d.Directives.ForName("oneOf") != nil
	}
	return noData
}

func deprecated(dirs ast.DirectiveList) bool { return dirs.ForName("deprecated") != nil }

func deprecationReason(dirs ast.DirectiveList) any {
	d := dirs.ForName("deprecated")
	if d == nil {
		return nil
	}
	if a := d.Arguments.ForName("reason"); a != nil {
		return a.Value.Raw
	}
	return "No longer supported"
}

type introField struct {
	s *ast.Schema
	f *ast.FieldDefinition
}

func (introField) typeName() string { return "__Field" }

func (i introField) resolve(_ *execution, name string, args map[string]any) any {
	switch name {
	case "name":
		return i.f.Name
	case "description":
		return nullIfEmpty(i.f.Description)
	case "args":
		return introArgs(i.s, i.f.Arguments, args)
	case "type":
		return introTypeRef(i.s, i.f.Type)
	case "isDeprecated":
		return deprecated(i.f.Directives)
	case "deprecationReason":
		return deprecationReason(i.f.Directives)
	}
	return noData
}

func introArgs(s *ast.Schema, defs ast.ArgumentDefinitionList, args map[string]any) []any {
	withDeprecated, _ := args["includeDeprecated"].(bool)
	out := []any{}
	for _, a := range defs {
		if withDeprecated || !deprecated(a.Directives) {
			out = append(out, introInputValue{s: s, name: a.Name, description: a.Description, typ: a.Type, def: a.DefaultValue, dirs: a.Directives})
		}
	}
	return out
}

type introInputValue struct {
	s           *ast.Schema
	name        string
	description string
	typ         *ast.Type
	def         *ast.Value
	dirs        ast.DirectiveList
}

func (introInputValue) typeName() string { return "__InputValue" }

func (i introInputValue) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "name":
		return i.name
	case "description":
		return nullIfEmpty(i.description)
	case "type":
		return introTypeRef(i.s, i.typ)
	case "defaultValue":
		if i.def == nil {
			return nil
		}
		return i.def.String()
	case "isDeprecated":
		return deprecated(i.dirs)
	case "deprecationReason":
		return deprecationReason(i.dirs)
	}
	return noData
}

type introEnumValue struct{ v *ast.EnumValueDefinition }

func (introEnumValue) typeName() string { return "__EnumValue" }

func (i introEnumValue) resolve(_ *execution, name string, _ map[string]any) any {
	switch name {
	case "name":
		return i.v.Name
	case "description":
		return nullIfEmpty(i.v.Description)
	case "isDeprecated":
		return deprecated(i.v.Directives)
	case "deprecationReason":
		return deprecationReason(i.v.Directives)
	}
	return noData
}

type introDirective struct {
	s *ast.Schema
	d *ast.DirectiveDefinition
}

func (introDirective) typeName() string { return "__Directive" }

func (i introDirective) resolve(_ *execution, name string, args map[string]any) any {
	switch name {
	case "name":
		return i.d.Name
	case "description":
		return nullIfEmpty(i.d.Description)
	case "isRepeatable":
		return i.d.IsRepeatable
	case "locations":
		out := make([]any, len(i.d.Locations))
		for k, l := range i.d.Locations {
			out[k] = string(l)
		}
		return out
	case "args":
		return introArgs(i.s, i.d.Arguments, args)
	}
	return noData
}
