package graphqlfilter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fastjson"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/patgate/patgate/answerbody"
	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/target"
)

// MaxAnswer bounds a GraphQL answer the gateway checks: it is held whole
// (GraphQL answers are one JSON document; GitHub's node limits keep them
// far smaller). A larger one is refused (502).
const MaxAnswer = 32 << 20

// Errors of an answer that cannot be checked; the handler answers 502.
// They say what went wrong, never what the answer held.
var (
	ErrNotJSON  = answerbody.ErrNotJSON
	ErrTooLarge = fmt.Errorf("the answer is larger than %d bytes", MaxAnswer)
)

// Verdict is the decision on one object of an answer.
type Verdict struct {
	// Keep says the token could read the object on its own (or report
	// mode or fail-open waived a refusal).
	Keep bool
	// Reason is the decision's reason, for the metrics of removals.
	Reason enforce.Reason
	// Message is what the FORBIDDEN error says (SPEC §6's words).
	Message string
}

// Decider decides, for the request's token, a read of what an object is
// or belongs to. res carries the facts the answer gave (owner type and
// visibility of a repository).
type Decider func(ctx context.Context, t target.Target, res target.Resource) Verdict

// Filter checks the answer of one GraphQL request. It is a
// gate.AnswerCheck; use it for one answer only.
type Filter struct {
	// Plans holds one plan per operation of the request, in order; a nil
	// plan's answer passes as it came.
	Plans []*Plan
	// Batch says the request was an array of operations, answered by an
	// array.
	Batch  bool
	Decide Decider

	ctx   context.Context
	arena fastjson.Arena
	path  []any
	errs  []*fastjson.Value
	answerbody.Tally
	decisions map[string]Verdict
	locators  map[*Plan]*locator
}

// locatorFor is the plan's locator, kept for the whole answer (a batch
// may repeat a plan's operation).
func (f *Filter) locatorFor(p *Plan) *locator {
	if l, ok := f.locators[p]; ok {
		return l
	}
	if f.locators == nil {
		f.locators = map[*Plan]*locator{}
	}
	l := &locator{plan: p}
	f.locators[p] = l
	return l
}

// Check filters the answer: it nulls every object the token may not read,
// adds a FORBIDDEN error for each, and strips the fields the gateway added.
// Redirects, 304s and errors pass untouched.
func (f *Filter) Check(ctx context.Context, status int, h http.Header, body io.Reader, out io.Writer) error {
	return answerbody.Read(status, h, body, out, func(body io.Reader) error {
		return f.check(ctx, h, body, out)
	})
}

func (f *Filter) check(ctx context.Context, h http.Header, body io.Reader, out io.Writer) error {
	buf := bytes.NewBuffer(nil)
	if b, ok := answerBufs.Get().(*bytes.Buffer); ok {
		buf = b
	}
	defer func() {
		if buf.Cap() <= pooledAnswer {
			buf.Reset()
			answerBufs.Put(buf)
		}
	}()
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= MaxAnswer {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(body, MaxAnswer+1)); err != nil {
		return err
	}
	if buf.Len() > MaxAnswer {
		return ErrTooLarge
	}
	raw := buf.Bytes()
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		// The parser's error quotes the answer.
		return ErrNotJSON
	}
	f.ctx = ctx
	if f.Batch {
		items, err := v.Array()
		if err != nil || len(items) != len(f.Plans) {
			return fmt.Errorf("%w: a batch answered by something else than one answer per operation", ErrNotJSON)
		}
		for i, item := range items {
			if err := f.response(item, f.Plans[i]); err != nil {
				return err
			}
		}
	} else if len(f.Plans) != 1 {
		return fmt.Errorf("%w: one operation expected", ErrNotJSON)
	} else if err := f.response(v, f.Plans[0]); err != nil {
		return err
	}
	b := v.MarshalTo(raw[:0])
	f.Mark(h, int64(len(b)))
	_, err = out.Write(b)
	return err
}

// Reused between answers: the buffer an answer is read into (up to
// pooledAnswer bytes) and the parser, whose values are most of the cost of
// a large answer when made anew.
var (
	answerBufs sync.Pool
	parsers    fastjson.ParserPool
)

const pooledAnswer = 4 << 20

// response checks one operation's answer.
func (f *Filter) response(v *fastjson.Value, plan *Plan) error {
	if v.Type() != fastjson.TypeObject {
		return fmt.Errorf("%w: an answer that is not an object", ErrNotJSON)
	}
	if plan == nil {
		return nil
	}
	data := v.Get("data")
	if data == nil || data.Type() == fastjson.TypeNull {
		return nil
	}
	f.errs, f.path = f.errs[:0], f.path[:0]
	if f.object(data, plan.root, plan.top, plan, false) {
		v.Set("data", f.arena.NewNull())
	}
	errs := v.Get("errors")
	if ours(errs) {
		// Errors about the gateway's own fields are not the client's: the
		// object they would have placed is removed if it matters.
		kept := f.arena.NewArray()
		for _, e := range errs.GetArray() {
			if !ours(e) {
				kept.SetArrayItem(len(kept.GetArray()), e)
			}
		}
		if errs = kept; len(kept.GetArray()) == 0 {
			v.Del("errors")
			errs = nil
		} else {
			v.Set("errors", errs)
		}
	}
	// The host's errors locate their fields in the document it ran, which
	// is not the client's: point them at the client's own.
	loc := f.locatorFor(plan)
	for _, e := range errs.GetArray() {
		if e.Get("locations") == nil || e.Get("path") == nil {
			continue
		}
		if pos := loc.locate(e.GetArray("path")); pos != nil {
			loc := f.arena.NewObject()
			loc.Set("line", f.arena.NewNumberInt(pos.Line))
			loc.Set("column", f.arena.NewNumberInt(pos.Column))
			locs := f.arena.NewArray()
			locs.SetArrayItem(0, loc)
			e.Set("locations", locs)
		} else {
			e.Del("locations")
		}
	}
	if len(f.errs) == 0 {
		return nil
	}
	if errs == nil || errs.Type() != fastjson.TypeArray {
		errs = f.arena.NewArray()
		v.Set("errors", errs)
	}
	n := len(errs.GetArray())
	for i, e := range f.errs {
		errs.SetArrayItem(n+i, e)
	}
	return nil
}

// object checks an object of the answer whose static type is static, and
// what it holds. It reports whether the object must become null; the
// caller nulls it, or passes the null up when its position is non-null.
// owned is set for a repository's owner, which goes with its repository.
func (f *Filter) object(v *fastjson.Value, static *ast.Definition, g *group, plan *Plan, owned bool) bool {
	if v.Type() != fastjson.TypeObject {
		return false
	}
	sr := plan.sr
	typ := static
	if static.Kind != ast.Object {
		typ = sr.schema.Types[string(v.GetStringBytes(aliasType))]
		if typ == nil || typ.Kind != ast.Object {
			// What cannot be told is not shown.
			f.refuse(f.undetermined("an object of an abstract type came without its type"))
			return true
		}
	}
	if r := sr.rule(typ.Name); r != nil && !owned {
		if vd := f.judge(v, typ.Name, r, sr, 0); !vd.Keep {
			f.refuse(vd)
			return true
		}
	}
	c := g.collect(plan, typ)
	o := v.GetObject()
	var strip []string
	var nulls []string
	propagate := false
	o.Visit(func(k []byte, val *fastjson.Value) {
		key := string(k)
		if strings.HasPrefix(key, Prefix) {
			strip = append(strip, key)
			return
		}
		e := c.keys[key]
		if e == nil || propagate {
			return
		}
		if e.def == nil {
			// A field the schema does not know (one only this host has):
			// what it holds cannot be placed, so no object of it is shown.
			// Introspection (__schema, __type) is no one's data.
			if t := val.Type(); (t == fastjson.TypeObject || t == fastjson.TypeArray) && !strings.HasPrefix(e.fields[0].Name, "__") {
				f.path = append(f.path, key)
				f.refuse(f.undetermined("a field the gateway's schema does not know"))
				f.path = f.path[:len(f.path)-1]
				nulls = append(nulls, key)
			}
			return
		}
		named := sr.schema.Types[e.def.Type.Name()]
		if named == nil || !named.IsCompositeType() {
			return
		}
		f.path = append(f.path, key)
		null := f.value(val, e.def.Type, named, e.childGroup(), plan, typ.Name == "Repository" && e.def.Name == "owner")
		f.path = f.path[:len(f.path)-1]
		if null {
			if e.def.Type.NonNull {
				propagate = true
			} else {
				nulls = append(nulls, key)
			}
		}
	})
	for _, k := range strip {
		o.Del(k)
	}
	for _, k := range nulls {
		o.Set(k, f.arena.NewNull())
	}
	return propagate
}

// value checks what a field of type t holds: an object, or a list of
// them at any depth. Lists keep their length.
func (f *Filter) value(v *fastjson.Value, t *ast.Type, named *ast.Definition, g *group, plan *Plan, owned bool) bool {
	if v.Type() == fastjson.TypeNull {
		return false
	}
	if t.Elem == nil {
		return f.object(v, named, g, plan, owned)
	}
	items, err := v.Array()
	if err != nil {
		return false
	}
	for i, item := range items {
		f.path = append(f.path, i)
		null := f.value(item, t.Elem, named, g, plan, owned)
		f.path = f.path[:len(f.path)-1]
		if null {
			if t.Elem.NonNull {
				return true
			}
			v.SetArrayItem(i, f.arena.NewNull())
		}
	}
	return false
}

// judge decides an object of a governed type from the facts the gateway
// asked for; facts missing where they were asked for mean it cannot be
// told who governs the object, and it is not shown.
func (f *Filter) judge(v *fastjson.Value, typ string, r *rule, sr *schemaRules, depth int) Verdict {
	switch r.self {
	case selfRepository:
		owner, name, ok := strings.Cut(string(v.GetStringBytes(aliasNWO)), "/")
		vis := target.ParseVisibility(strings.ToLower(string(v.GetStringBytes(aliasVis))))
		var ot target.OwnerType
		switch string(v.GetStringBytes(aliasOwner, aliasType)) {
		case "Organization":
			ot = target.OwnerOrganization
		case "User", "Bot", "Mannequin", "EnterpriseUserAccount":
			ot = target.OwnerUser
		}
		if !ok || owner == "" || name == "" || vis == target.VisibilityUnknown || ot == target.OwnerUnknown {
			return f.undetermined("a repository whose owner or visibility did not come back")
		}
		t := target.Target{Scope: target.Repository, Surface: target.GraphQL, Access: target.Read, AnonReadable: true, Owner: owner, Name: name}
		if vd := f.decide(t, target.Resource{Known: true, OwnerLogin: owner, OwnerType: ot, Visibility: vis}); !vd.Keep {
			return vd
		}
	case selfOrganization:
		login := string(v.GetStringBytes(aliasLogin))
		if login == "" {
			return f.undetermined("an organization whose login did not come back")
		}
		// Organization data, not its public profile (SPEC §11).
		if vd := f.decide(target.Target{Scope: target.Organization, Surface: target.GraphQL, Access: target.Read, Owner: login}, target.Resource{}); !vd.Keep {
			return vd
		}
	case selfEnterprise:
		slug := string(v.GetStringBytes(aliasSlug))
		if slug == "" {
			return f.undetermined("an enterprise whose slug did not come back")
		}
		if vd := f.decide(target.Target{Scope: target.Enterprise, Surface: target.GraphQL, Access: target.Read, Owner: slug}, target.Resource{}); !vd.Keep {
			return vd
		}
	}
	for _, vf := range r.vias {
		sub := v.Get(vf.alias)
		if sub == nil {
			return f.undetermined("an object whose owner was not asked for where it appeared (" + typ + ")")
		}
		if sub.Type() == fastjson.TypeNull {
			continue // nothing governs it through this field
		}
		subTyp := vf.typ.Name()
		if def := sr.schema.Types[subTyp]; def == nil || def.Kind != ast.Object {
			subTyp = string(sub.GetStringBytes(aliasType))
		}
		sr2 := sr.rule(subTyp)
		if sr2 == nil || depth > 3 {
			continue // a user's: no policy governs it
		}
		if vd := f.judge(sub, subTyp, sr2, sr, depth+1); !vd.Keep {
			return vd
		}
	}
	return Verdict{Keep: true}
}

// decide decides one target, once per answer.
func (f *Filter) decide(t target.Target, res target.Resource) Verdict {
	key := t.Scope.String() + "/" + strings.ToLower(t.Owner+"/"+t.Name)
	if vd, ok := f.decisions[key]; ok {
		return vd
	}
	vd := f.Decide(f.ctx, t, res)
	if f.decisions == nil {
		f.decisions = map[string]Verdict{}
	}
	f.decisions[key] = vd
	if !vd.Keep {
		f.Owner(t.Owner)
	}
	return vd
}

// undetermined decides what cannot be told as the request check does.
func (f *Filter) undetermined(why string) Verdict {
	return f.Decide(f.ctx, target.Target{Scope: target.Undetermined, Surface: target.GraphQL, Access: target.Read, Why: why}, target.Resource{})
}

// refuse records a nulled object and its FORBIDDEN error, at the path
// the client named it by.
func (f *Filter) refuse(vd Verdict) {
	f.Remove(vd.Reason)
	a := &f.arena
	path := a.NewArray()
	for i, p := range f.path {
		switch p := p.(type) {
		case string:
			path.SetArrayItem(i, a.NewString(p))
		case int:
			path.SetArrayItem(i, a.NewNumberInt(p))
		}
	}
	ext := a.NewObject()
	ext.Set("saml_failure", a.NewFalse())
	e := a.NewObject()
	e.Set("type", a.NewString("FORBIDDEN"))
	e.Set("path", path)
	e.Set("extensions", ext)
	e.Set("message", a.NewString(vd.Message))
	f.errs = append(f.errs, e)
}

// group is the selection sets that apply at one position of the answer
// (the fields merged under one response key), with what they collect for
// each concrete type, computed once per plan: the work is bounded by the
// document, not by the answer.
type group struct {
	sets   []ast.SelectionSet
	byType map[string]*collected
}

type collected struct{ keys map[string]*entry }

// entry is one response key of an object: the fields merged under it and
// the field's definition.
type entry struct {
	fields []*ast.Field
	def    *ast.FieldDefinition
	child  *group
}

func newGroup(sets ...ast.SelectionSet) *group { return &group{sets: sets} }

func (e *entry) childGroup() *group {
	if e.child == nil {
		sets := make([]ast.SelectionSet, 0, len(e.fields))
		for _, fl := range e.fields {
			sets = append(sets, fl.SelectionSet)
		}
		e.child = newGroup(sets...)
	}
	return e.child
}

// collect returns the response keys of an object of type typ at this
// position (GraphQL's CollectFields; @skip and @include are not read, so
// every key the host may send is known).
func (g *group) collect(plan *Plan, typ *ast.Definition) *collected {
	if c, ok := g.byType[typ.Name]; ok {
		return c
	}
	c := &collected{keys: map[string]*entry{}}
	seen := map[string]bool{}
	var walk func(set ast.SelectionSet, depth int)
	walk = func(set ast.SelectionSet, depth int) {
		if depth > maxDepth {
			return
		}
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				e := c.keys[key]
				if e == nil {
					e = &entry{def: typ.Fields.ForName(s.Name)}
					c.keys[key] = e
				}
				e.fields = append(e.fields, s)
			case *ast.InlineFragment:
				if s.TypeCondition == "" || plan.applies(s.TypeCondition, typ) {
					walk(s.SelectionSet, depth+1)
				}
			case *ast.FragmentSpread:
				def := plan.fragment(s.Name)
				if def == nil || seen[s.Name] || !plan.applies(def.TypeCondition, typ) {
					continue
				}
				seen[s.Name] = true
				walk(def.SelectionSet, depth+1)
			}
		}
	}
	for _, set := range g.sets {
		walk(set, 0)
	}
	if g.byType == nil {
		g.byType = map[string]*collected{}
	}
	g.byType[typ.Name] = c
	return c
}

// applies reports whether a fragment on cond applies to an object of the
// object type typ.
func (p *Plan) applies(cond string, typ *ast.Definition) bool {
	if cond == typ.Name {
		return true
	}
	def := p.sr.schema.Types[cond]
	if def == nil || def.Kind == ast.Object {
		return false
	}
	for _, pt := range p.sr.schema.GetPossibleTypes(def) {
		if pt.Name == typ.Name {
			return true
		}
	}
	return false
}

func (p *Plan) fragment(name string) *ast.FragmentDefinition {
	return p.doc.Fragments.ForName(name)
}

// ours reports whether an error, or any error of a list, is at a path
// through a field the gateway added.
func ours(v *fastjson.Value) bool {
	if v == nil {
		return false
	}
	if v.Type() == fastjson.TypeArray {
		for _, e := range v.GetArray() {
			if ours(e) {
				return true
			}
		}
		return false
	}
	for _, seg := range v.GetArray("path") {
		if k, err := seg.StringBytes(); err == nil && strings.HasPrefix(string(k), Prefix) {
			return true
		}
	}
	return false
}

// locator finds where in the client's document the field at an answer's
// path is. Fragments are searched whatever their type condition: the
// position is for people to read, and the first field the path's keys
// lead to is close enough. Each selection's fields are indexed by response
// key once, so thousands of errors cost one walk of the document, not one
// each.
type locator struct {
	plan  *Plan
	index map[*ast.Field]map[string][]*ast.Field // by the parent field; nil: the operation
	steps int                                    // selections walked, for the tests
}

func (l *locator) locate(path []*fastjson.Value) *ast.Position {
	var parents []*ast.Field
	for _, seg := range path {
		key, err := seg.StringBytes()
		if err != nil {
			continue // a list index
		}
		fields := l.children(parents)[string(key)]
		if len(fields) == 0 {
			return nil
		}
		parents = fields
	}
	if len(parents) == 0 {
		return nil
	}
	return parents[0].Position
}

// children indexes the fields below parents (merged under one response
// key, so the first names them all) by their response keys.
func (l *locator) children(parents []*ast.Field) map[string][]*ast.Field {
	var key *ast.Field
	sets := []ast.SelectionSet{l.plan.op.SelectionSet}
	if len(parents) > 0 {
		key, sets = parents[0], nil
		for _, f := range parents {
			sets = append(sets, f.SelectionSet)
		}
	}
	if m, ok := l.index[key]; ok {
		return m
	}
	m := map[string][]*ast.Field{}
	seen := map[string]bool{}
	var walk func(set ast.SelectionSet, depth int)
	walk = func(set ast.SelectionSet, depth int) {
		if depth > maxDepth {
			return
		}
		for _, sel := range set {
			l.steps++
			switch s := sel.(type) {
			case *ast.Field:
				k := s.Alias
				if k == "" {
					k = s.Name
				}
				m[k] = append(m[k], s)
			case *ast.InlineFragment:
				walk(s.SelectionSet, depth+1)
			case *ast.FragmentSpread:
				if def := l.plan.fragment(s.Name); def != nil && !seen[s.Name] {
					seen[s.Name] = true
					walk(def.SelectionSet, depth+1)
				}
			}
		}
	}
	for _, set := range sets {
		walk(set, 0)
	}
	if l.index == nil {
		l.index = map[*ast.Field]map[string][]*ast.Field{}
	}
	l.index[key] = m
	return m
}
