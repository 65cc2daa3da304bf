package graphqlfilter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
)

// ErrBadRequest marks a document the gateway will not rewrite: answered
// with 400. Its errors carry no request data.
var ErrBadRequest = errors.New("graphql request")

var errReserved = fmt.Errorf("%w: aliases starting with %q are reserved for the gateway", ErrBadRequest, Prefix)

// MaxPositions bounds the fields of one document whose objects the gateway
// asks about: each costs the forwarded document up to a few hundred bytes,
// and a document the request check accepts could otherwise grow from 1 MiB
// to tens. gh's largest documents have about twenty.
const MaxPositions = 2000

var errTooManyPositions = fmt.Errorf("%w: the document reaches governed objects through more than %d fields", ErrBadRequest, MaxPositions)

// maxTokens bounds the documents Prepare parses (the gateway's request
// check has refused larger ones already).
const maxTokens = 100_000

// Plan is what checking one operation's answer needs: the client's
// document as the gateway rewrote it, and the operation that ran.
type Plan struct {
	sr   *schemaRules
	doc  *ast.QueryDocument
	op   *ast.OperationDefinition
	root *ast.Definition
	top  *group
}

// Prepare reads a GraphQL request's document and, when an object of its
// answer may be governed, adds the fields that tell each such object's
// owner and visibility. It returns the document to forward and the plan
// to check the answer with; a nil plan means no answer object can be
// governed, and the document goes as it came.
func Prepare(query, operationName string) (string, *Plan, error) {
	sr, err := loadRules()
	if err != nil {
		return "", nil, err
	}
	doc, gerr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, maxTokens)
	if gerr != nil {
		return "", nil, fmt.Errorf("%w: the document does not parse", ErrBadRequest)
	}
	op, err := pick(doc, operationName)
	if err != nil {
		return "", nil, err
	}
	var root *ast.Definition
	switch op.Operation {
	case ast.Query:
		root = sr.schema.Query
	case ast.Mutation:
		root = sr.schema.Mutation
	}
	if root == nil {
		return "", nil, fmt.Errorf("%w: no %s root in the schema", ErrBadRequest, op.Operation)
	}
	if reservedAlias(doc) {
		return "", nil, errReserved
	}
	in := &injector{sr: sr, doc: doc, walked: map[string]bool{}}
	in.selections(&op.SelectionSet, root, 0)
	if in.added > MaxPositions {
		return "", nil, errTooManyPositions
	}
	if in.added == 0 {
		return query, nil, nil
	}
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithIndent(""), formatter.WithCompacted()).FormatQueryDocument(doc)
	return b.String(), &Plan{sr: sr, doc: doc, op: op, root: root, top: newGroup(op.SelectionSet)}, nil
}

func pick(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name != "" {
		if op := doc.Operations.ForName(name); op != nil {
			return op, nil
		}
		return nil, fmt.Errorf("%w: no operation of that name", ErrBadRequest)
	}
	if len(doc.Operations) != 1 {
		return nil, fmt.Errorf("%w: %d operations and no operationName", ErrBadRequest, len(doc.Operations))
	}
	return doc.Operations[0], nil
}

// reservedAlias reports whether the document uses the gateway's prefix
// as an alias anywhere, in any operation or fragment.
func reservedAlias(doc *ast.QueryDocument) bool {
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				if strings.HasPrefix(s.Alias, Prefix) || strings.HasPrefix(s.Name, Prefix) || walk(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(s.SelectionSet) {
					return true
				}
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}

// injector adds the facts' selections to a document.
type injector struct {
	sr     *schemaRules
	doc    *ast.QueryDocument
	walked map[string]bool // fragments already rewritten
	added  int             // fields given facts
}

// maxDepth bounds the nesting walked (the request check refused deeper
// documents already).
const maxDepth = 64

// selections rewrites the selection set of an object of type parent.
func (in *injector) selections(set *ast.SelectionSet, parent *ast.Definition, depth int) {
	if parent == nil || depth > maxDepth {
		return
	}
	for _, sel := range *set {
		switch s := sel.(type) {
		case *ast.Field:
			in.field(s, parent, depth)
		case *ast.InlineFragment:
			cond := parent
			if s.TypeCondition != "" {
				cond = in.sr.schema.Types[s.TypeCondition]
			}
			in.selections(&s.SelectionSet, cond, depth+1)
		case *ast.FragmentSpread:
			def := in.doc.Fragments.ForName(s.Name)
			if def == nil || in.walked[s.Name] {
				continue
			}
			in.walked[s.Name] = true
			in.selections(&def.SelectionSet, in.sr.schema.Types[def.TypeCondition], depth+1)
		}
	}
}

// field rewrites one field: its selections, and the facts of the objects
// it holds.
func (in *injector) field(f *ast.Field, parent *ast.Definition, depth int) {
	if len(f.SelectionSet) == 0 {
		return
	}
	fd := parent.Fields.ForName(f.Name)
	if fd == nil {
		// An unknown field (or introspection): the host answers it with
		// an error, or with schema data, which no policy governs.
		return
	}
	child := in.sr.schema.Types[fd.Type.Name()]
	if child == nil {
		return
	}
	in.selections(&f.SelectionSet, child, depth+1)
	switch child.Kind {
	case ast.Object:
		if facts := in.sr.factsOf(child.Name); len(facts) > 0 {
			f.SelectionSet = append(f.SelectionSet, facts...)
			in.added++
		}
	case ast.Interface, ast.Union:
		if extra := in.abstract(f, child); len(extra) > 0 {
			f.SelectionSet = append(f.SelectionSet, extra...)
			in.added++
		}
	}
}

// abstract returns what to add at a field of interface or union type:
// __typename, the facts of each governed type it may hold that is core or
// that the client's own fragments name there, and the repository of any
// RepositoryNode.
func (in *injector) abstract(f *ast.Field, def *ast.Definition) ast.SelectionSet {
	possible := in.sr.possible(def)
	named := map[string]bool{}
	in.conditions(f.SelectionSet, named, map[string]bool{}, 0)
	var out ast.SelectionSet
	governed := false
	owned := map[string]bool{} // ownerInterfaces some possible type implements
	for _, p := range possible {
		if in.sr.rule(p) == nil {
			continue
		}
		governed = true
		if slices.Contains(core, p) || named[p] {
			out = append(out, &ast.InlineFragment{TypeCondition: p, SelectionSet: in.sr.factsOf(p)})
		}
		for _, iface := range ownerInterfaces {
			if in.implements(p, iface) {
				owned[iface] = true
			}
		}
	}
	if !governed {
		return nil
	}
	for _, iface := range ownerInterfaces {
		if !owned[iface] {
			continue
		}
		fd := in.sr.schema.Types[iface].Fields.ForName("repository")
		repo := &ast.Field{Alias: viaAlias(fd), Name: "repository", SelectionSet: in.sr.factsOf("Repository")}
		if def.Name == iface {
			out = append(out, repo)
		} else {
			out = append(out, &ast.InlineFragment{TypeCondition: iface, SelectionSet: ast.SelectionSet{repo}})
		}
	}
	return append(ast.SelectionSet{&ast.Field{Alias: aliasType, Name: "__typename"}}, out...)
}

// conditions collects the type conditions of the fragments in set (not
// of the fields below it).
func (in *injector) conditions(set ast.SelectionSet, named, seen map[string]bool, depth int) {
	if depth > maxDepth {
		return
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.InlineFragment:
			if s.TypeCondition != "" {
				named[s.TypeCondition] = true
			}
			in.conditions(s.SelectionSet, named, seen, depth+1)
		case *ast.FragmentSpread:
			def := in.doc.Fragments.ForName(s.Name)
			if def == nil || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			named[def.TypeCondition] = true
			in.conditions(def.SelectionSet, named, seen, depth+1)
		}
	}
}

func (in *injector) implements(typ, iface string) bool {
	def := in.sr.schema.Types[typ]
	return def != nil && slices.Contains(def.Interfaces, iface)
}
