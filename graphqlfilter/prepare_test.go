package graphqlfilter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/patgate/patgate/ghschema"
)

// documents reach governed objects every way SPEC §11 names: fields,
// lists, connections and edges, interfaces and unions, named and inline
// fragments, aliases, mutation payloads.
var documents = map[string]string{
	"viewer organizations repositories":      `{ viewer { login organizations(first: 5) { nodes { login repositories(first: 5) { nodes { name } } } } } }`,
	"user organizations repositories issues": `query($l: String!) { user(login: $l) { organizations(first: 5) { edges { node { repositories(first: 3) { nodes { issues(first: 2) { nodes { title } } } } } } } } }`,
	"search":                                 `{ search(type: REPOSITORY, query: "org:octo-org", first: 10) { repositoryCount nodes { ... on Repository { name } ... on Issue { title } } } }`,
	"fork parent":                            `{ repository(owner: "bob", name: "fork") { name parent { name isPrivate } } }`,
	"node by id":                             `query($id: ID!) { node(id: $id) { id ... on Repository { name } } }`,
	"nodes by id, a comment":                 `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on IssueComment { body } } }`,
	"aliases and fragments":                  `fragment R on Repository { n: name o: owner { login } } query { viewer { mine: repositories(first: 2) { nodes { ...R } } orgs: organizations(first: 1) { nodes { ...O } } } } fragment O on Organization { l: login teams(first: 1) { nodes { slug } } }`,
	"fragment in a fragment":                 `fragment A on User { repositories(first: 1) { nodes { ...B } } } fragment B on Repository { name } { viewer { ...A } }`,
	"repository owner":                       `{ repositoryOwner(login: "bob") { ... on User { repositories(first: 1) { nodes { owner { ... on Organization { login } } } } } } }`,
	"projects":                               `{ viewer { projectsV2(first: 2) { nodes { title owner { ... on Organization { login } } } } } }`,
	"a mutation payload":                     `mutation($id: ID!) { addStar(input: {starrableId: $id}) { starrable { ... on Repository { name } } } }`,
	"enterprise":                             `{ enterprise(slug: "e") { name organizations(first: 1) { nodes { login } } } }`,
	"a ref's target (GitObject)":             `{ repository(owner: "a", name: "b") { defaultBranchRef { target { oid ... on Commit { message } } } } }`,
	"skip and include":                       `query($s: Boolean!) { viewer { repositories(first: 1) @skip(if: $s) { nodes { name } } } }`,
}

// TestPrepareValid: every rewritten document is valid against the schema
// (a host would refuse it otherwise) and asks for the client's fields.
func TestPrepareValid(t *testing.T) {
	schema := ghschema.MustLoad()
	for name, q := range documents {
		t.Run(name, func(t *testing.T) {
			if errs := validate(schema, q); errs != nil {
				t.Fatalf("the test's own document is invalid: %v", errs)
			}
			out, plan, err := Prepare(q, "")
			if err != nil {
				t.Fatal(err)
			}
			if plan == nil {
				t.Fatal("no plan for a document that reaches governed objects")
			}
			if errs := validate(schema, out); errs != nil {
				t.Fatalf("the rewritten document is invalid: %v\n%s", errs, out)
			}
		})
	}
}

func validate(schema *ast.Schema, q string) error {
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		return err
	}
	if errs := validator.ValidateWithRules(schema, doc, nil); len(errs) > 0 {
		return errs
	}
	return nil
}

// TestPrepareLeavesAlone: documents that reach nothing governed go as
// they came, and their answers are not parsed.
func TestPrepareLeavesAlone(t *testing.T) {
	for _, q := range []string{
		`{ viewer { login name } }`,
		`{ viewer { gists(first: 3) { nodes { name } } } }`,
		`{ rateLimit { remaining } }`,
		`{ __schema { types { name } } }`,
	} {
		out, plan, err := Prepare(q, "")
		if err != nil || plan != nil || out != q {
			t.Errorf("%s: plan %v, err %v, out %s", q, plan != nil, err, out)
		}
	}
}

// TestReservedAliases: a client may not use the gateway's prefix: its
// fields would be stripped from the answer, or trusted as the gateway's.
func TestReservedAliases(t *testing.T) {
	for _, q := range []string{
		`{ repository(owner: "a", name: "b") { patgate_nwo: nameWithOwner } }`,
		`{ viewer { patgate_t: login } }`,
		`fragment F on Repository { patgate_vis: name } { repository(owner: "a", name: "b") { ...F } }`,
		`{ viewer { ... on User { patgate_x: login } } }`,
	} {
		if _, _, err := Prepare(q, ""); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, _, err := Prepare(`{ viewer { login } }`, "missing"); !errors.Is(err, ErrBadRequest) {
		t.Errorf("an unknown operationName: %v", err)
	}
}

// TestGovernedTypes: the types SPEC §11 names are governed, and how.
func TestGovernedTypes(t *testing.T) {
	sr, err := loadRules()
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]string{
		"Repository":           "self",
		"Organization":         "self",
		"Enterprise":           "self",
		"Issue":                "repository",
		"PullRequest":          "repository",
		"Commit":               "repository",
		"Release":              "repository",
		"Discussion":           "repository",
		"IssueComment":         "repository",
		"Team":                 "organization",
		"ProjectV2":            "owner",
		"Project":              "owner",
		"User":                 "",
		"Gist":                 "",
		"PageInfo":             "",
		"RepositoryConnection": "",
	} {
		r := sr.rule(typ)
		var got []string
		if r != nil {
			if r.self != selfNone {
				got = append(got, "self")
			}
			for _, v := range r.vias {
				got = append(got, v.field)
			}
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: governed by %q, want %q", typ, strings.Join(got, ","), want)
		}
	}
	t.Logf("%d object types governed", len(sr.rules))
}

// TestPositionsBound: 3,000 aliased repository fields, each of which the
// gateway would ask about, fit the request check's bounds but would grow
// the forwarded document several times over: refused with 400.
func TestPositionsBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ ")
	for i := range 3000 {
		fmt.Fprintf(&b, "r%d: repository(owner: \"a\", name: \"b\") { name } ", i)
	}
	b.WriteString("}")
	if _, _, err := Prepare(b.String(), ""); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err %v", err)
	}
	// A fragment walked once counts once, wherever it is spread.
	doc := `fragment R on Repository { parent { name } } { viewer { repositories(first: 1) { nodes { ...R } } } }`
	if _, plan, err := Prepare(doc, ""); err != nil || plan == nil {
		t.Fatalf("plan %v, err %v", plan != nil, err)
	}
}
