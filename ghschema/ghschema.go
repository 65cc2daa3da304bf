// Package ghschema is github.com's public GraphQL schema, embedded, and
// loaded once: the gateway needs the type of every selection to know
// which objects of an answer a policy governs (SPEC §11).
package ghschema

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// SDL is the schema as GitHub publishes it (docs.github.com's
// schema.docs.graphql).
//
//go:embed github-schema.graphql
var SDL string

// Load returns the schema, parsed and validated on first use (about 50 ms).
var Load = sync.OnceValues(load)

func load() (*ast.Schema, error) {
	doc, err := parser.ParseSchemas(validator.Prelude, &ast.Source{Name: "github-schema.graphql", Input: SDL})
	if err != nil {
		return nil, fmt.Errorf("ghschema: %w", err)
	}
	// The published schema defines a field twice
	// (EnterpriseOwnerInfo.repositoryDeployKeySetting), which a validating
	// loader refuses; the copies are the same, so the first one is kept.
	for _, d := range doc.Definitions {
		seen := make(map[string]bool, len(d.Fields))
		fields := d.Fields[:0]
		for _, f := range d.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				fields = append(fields, f)
			}
		}
		d.Fields = fields
	}
	s, gerr := validator.ValidateSchemaDocument(doc)
	if gerr != nil {
		return nil, fmt.Errorf("ghschema: %w", gerr)
	}
	return s, nil
}

// MustLoad is Load for callers that cannot go on without the schema (it
// is embedded and checked by this package's tests, so it cannot fail at
// run time unless the binary is corrupt).
func MustLoad() *ast.Schema {
	s, err := Load()
	if err != nil {
		panic(err)
	}
	return s
}
