// Package graphqlfilter checks GraphQL answers object by object (SPEC
// §11): for a token some policy restricts, every object of the answer
// that is, or belongs to, a repository, an organization or an enterprise
// the token could not read on its own becomes null, with a FORBIDDEN error
// at its path.
//
// To know each object's owner and visibility the gateway adds fields to
// the document it forwards (Prepare), under aliases that start with Prefix,
// which a client may not use; on the way back (Filter.Check) it walks the
// answer along the client's document and the schema, decides each governed
// object, and strips every field it added.
package graphqlfilter

import (
	"slices"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/patgate/patgate/ghschema"
)

// Prefix starts every alias the gateway adds to a document. A client
// document that uses it is refused: its fields would be taken for the
// gateway's, and stripped or trusted.
const Prefix = "patgate_"

// Aliases of the facts the gateway asks for.
const (
	aliasType  = Prefix + "t"     // __typename, where the static type is abstract
	aliasNWO   = Prefix + "nwo"   // Repository.nameWithOwner
	aliasVis   = Prefix + "vis"   // Repository.visibility
	aliasOwner = Prefix + "own"   // Repository.owner { __typename }
	aliasLogin = Prefix + "login" // Organization.login
	aliasSlug  = Prefix + "slug"  // Enterprise.slug
)

// self is what an object is, when it is itself what a policy governs.
type self uint8

const (
	selfNone self = iota
	selfRepository
	selfOrganization
	selfEnterprise
)

// via is a field whose object governs the one that has it: an issue's
// repository, a team's organization, a project's owner.
type via struct {
	field string
	alias string
	typ   *ast.Type
}

// rule says how an object type is governed. The zero rule: it is not.
type rule struct {
	self self
	vias []via
}

func (r *rule) governed() bool { return r != nil && (r.self != selfNone || len(r.vias) > 0) }

// viaFields are the fields, without required arguments, through which an
// object belongs to what a policy governs, and the types they must have.
var viaFields = []struct{ field, typ string }{
	{"repository", "Repository"},
	{"organization", "Organization"},
	{"enterprise", "Enterprise"},
	{"owner", ""}, // a project's, a domain's, an allow list entry's: any type that may be governed
}

// core are the governed types whose facts are asked for at every abstract
// position that may hold them, whether or not the client names them: they
// exist in every GitHub Enterprise Server the gateway may front. Other
// types get facts where the client's own fragments name them, so that the
// forwarded document names no type the host may lack.
var core = []string{"Repository", "Organization", "Enterprise", "Issue", "PullRequest", "Team"}

// ownerInterfaces are the interfaces of objects that live in a
// repository and say so themselves (`repository: Repository!`):
// RepositoryNode (issues, comments, discussions, …) and GitObject
// (commits, trees, blobs, tags). One fragment on each gets the repository
// of every such object at a position (node, search, a ref's target) that
// may hold any of them; both exist on every GitHub Enterprise Server.
var ownerInterfaces = []string{"RepositoryNode", "GitObject"}

// schemaRules is the schema with its rules and the facts' selections.
type schemaRules struct {
	schema *ast.Schema
	rules  map[string]*rule
	mu     sync.Mutex
	facts  map[string]ast.SelectionSet // object type → its facts
}

var loadRules = sync.OnceValues(func() (*schemaRules, error) {
	s, err := ghschema.Load()
	if err != nil {
		return nil, err
	}
	return newRules(s), nil
})

func newRules(s *ast.Schema) *schemaRules {
	sr := &schemaRules{schema: s, rules: map[string]*rule{}, facts: map[string]ast.SelectionSet{}}
	for name, def := range s.Types {
		if def.Kind != ast.Object {
			continue
		}
		r := &rule{}
		switch name {
		case "Repository":
			r.self = selfRepository
		case "Organization":
			r.self = selfOrganization
		case "Enterprise":
			r.self = selfEnterprise
		}
		if r.self == selfNone {
			for _, vf := range viaFields {
				f := def.Fields.ForName(vf.field)
				if f == nil || requiredArgs(f) || (vf.typ != "" && f.Type.Name() != vf.typ) {
					continue
				}
				// A gist's owner (a RepositoryOwner) is always a user:
				// only owners that may be organizations or enterprises
				// (projects, domains, allow list entries) govern.
				if vf.typ == "" && (f.Type.Name() == "RepositoryOwner" || !sr.mayBeGoverned(f.Type.Name())) {
					continue
				}
				r.vias = append(r.vias, via{field: f.Name, alias: viaAlias(f), typ: f.Type})
			}
		}
		if r.governed() {
			sr.rules[name] = r
		}
	}
	return sr
}

// mayBeGoverned reports whether an object of the named type (an owner)
// may be an organization, an enterprise or a repository, or belong to one.
func (sr *schemaRules) mayBeGoverned(typ string) bool {
	def := sr.schema.Types[typ]
	if def == nil {
		return false
	}
	switch def.Kind {
	case ast.Object:
		return typ == "Organization" || typ == "Enterprise" || typ == "Repository"
	case ast.Interface, ast.Union:
		for _, p := range sr.schema.GetPossibleTypes(def) {
			switch p.Name {
			case "Organization", "Enterprise", "Repository", "Issue", "PullRequest":
				return true
			}
		}
	}
	return false
}

func requiredArgs(f *ast.FieldDefinition) bool {
	for _, a := range f.Arguments {
		if a.Type.NonNull && a.DefaultValue == nil {
			return true
		}
	}
	return false
}

// viaAlias names a via field by its name and type: one alias must never
// stand for two fields of different shapes in one selection set (GraphQL
// would refuse the document).
func viaAlias(f *ast.FieldDefinition) string {
	a := Prefix + "via_" + f.Name + "_" + f.Type.Name()
	if f.Type.NonNull {
		a += "_nn"
	}
	return a
}

// rule returns the rule of an object type (nil: not governed).
func (sr *schemaRules) rule(typ string) *rule { return sr.rules[typ] }

// factsOf returns the selections that learn who governs an object of the
// object type typ, parsed once and shared.
func (sr *schemaRules) factsOf(typ string) ast.SelectionSet {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.factsLocked(typ, 0)
}

func (sr *schemaRules) factsLocked(typ string, depth int) ast.SelectionSet {
	if set, ok := sr.facts[typ]; ok {
		return set
	}
	var b strings.Builder
	sr.writeFacts(&b, typ, depth)
	var set ast.SelectionSet
	if b.Len() > 0 {
		set = parseSelections(b.String())
	}
	sr.facts[typ] = set
	return set
}

// writeFacts writes the facts of an object type as GraphQL selections.
func (sr *schemaRules) writeFacts(b *strings.Builder, typ string, depth int) {
	r := sr.rules[typ]
	if r == nil || depth > 3 {
		return
	}
	switch r.self {
	case selfRepository:
		b.WriteString(aliasNWO + ": nameWithOwner " + aliasVis + ": visibility " + aliasOwner + ": owner { " + aliasType + ": __typename } ")
	case selfOrganization:
		b.WriteString(aliasLogin + ": login ")
	case selfEnterprise:
		b.WriteString(aliasSlug + ": slug ")
	}
	for _, v := range r.vias {
		b.WriteString(v.alias + ": " + v.field + " { ")
		sr.writeFactsOfType(b, v.typ.Name(), depth+1)
		b.WriteString("} ")
	}
}

// writeFactsOfType writes the facts of any object a field of the named
// type may hold: its own, or for an abstract type its __typename and the
// facts of each governed type it may be.
func (sr *schemaRules) writeFactsOfType(b *strings.Builder, typ string, depth int) {
	def := sr.schema.Types[typ]
	if def == nil {
		return
	}
	if def.Kind == ast.Object {
		sr.writeFacts(b, typ, depth)
		return
	}
	b.WriteString(aliasType + ": __typename ")
	for _, p := range sr.possible(def) {
		if sr.rules[p] != nil {
			b.WriteString("... on " + p + " { ")
			sr.writeFacts(b, p, depth)
			b.WriteString("} ")
		}
	}
}

// possible returns the names of the object types an abstract type may be,
// sorted, so that a document is rewritten the same way every time.
func (sr *schemaRules) possible(def *ast.Definition) []string {
	var names []string
	for _, p := range sr.schema.GetPossibleTypes(def) {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// parseSelections parses GraphQL selections written by this package.
func parseSelections(s string) ast.SelectionSet {
	doc, err := parser.ParseQuery(&ast.Source{Input: "{ " + s + " }"})
	if err != nil {
		// The text is this package's own; a parse error is a bug that
		// the tests catch.
		panic("graphqlfilter: " + err.Error() + ": " + s)
	}
	return doc.Operations[0].SelectionSet
}
