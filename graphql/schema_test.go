package graphql

import (
	"context"
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/patgate/patgate/target"
)

// notOwners lists the arguments of GitHub's schema whose names look as if
// they could name an owner but do not, each with the reason. Paths are
// Root.field(argument.inputField…).
var notOwners = map[string]string{
	"Mutation.createCheckRun(input).detailsUrl":                                                                       "the integrator's page for the check, outside the host",
	"Mutation.updateCheckRun(input).detailsUrl":                                                                       "the integrator's page for the check, outside the host",
	"Mutation.createCheckRun(input).output.images.imageUrl":                                                           "an image shown in the check's output",
	"Mutation.updateCheckRun(input).output.images.imageUrl":                                                           "an image shown in the check's output",
	"Mutation.createDeploymentStatus(input).environmentUrl":                                                           "the deployed site's address",
	"Mutation.createDeploymentStatus(input).logUrl":                                                                   "the deployment log's address",
	"Mutation.createMigrationSource(input).url":                                                                       "the migration source host, not a resource on this host",
	"Mutation.createRepository(input).homepageUrl":                                                                    "the repository's homepage, a web site",
	"Mutation.updateRepository(input).homepageUrl":                                                                    "the repository's homepage, a web site",
	"Mutation.updateEnterpriseProfile(input).websiteUrl":                                                              "the enterprise's web site",
	"Mutation.createSponsorsListing(input).fiscallyHostedProjectProfileUrl":                                           "a profile on a fiscal host's site",
	"Mutation.setEnterpriseIdentityProvider(input).ssoUrl":                                                            "the identity provider's sign-on address",
	"Mutation.startOrganizationMigration(input).sourceOrgUrl":                                                         "an organization on the migration source, read with the credential in the input, not this request's token",
	"Mutation.startRepositoryMigration(input).sourceRepositoryUrl":                                                    "a repository on the migration source, read with the credential in the input, not this request's token",
	"Mutation.startRepositoryMigration(input).gitArchiveUrl":                                                          "an archive on the migration source's storage",
	"Mutation.startRepositoryMigration(input).metadataArchiveUrl":                                                     "an archive on the migration source's storage",
	"Mutation.startOrganizationMigration(input).targetOrgName":                                                        "the organization the migration creates in targetEnterpriseId, which is resolved",
	"Mutation.startRepositoryMigration(input).repositoryName":                                                         "the repository the migration creates under ownerId, which is resolved",
	"Mutation.createSponsorsTier(input).repositoryName":                                                               "a repository of repositoryOwnerLogin, or of sponsorableLogin when that is not given; both are resolved",
	"Mutation.importProject(input).columnImports.issues.repository":                                                   "a repository of ownerName, which is resolved",
	"Mutation.updateEnvironment(input).reviewers":                                                                     "users or teams granted review of the environment that environmentId names, which is resolved; a team's node ID has no owner the gateway can decode",
	"Mutation.createRepositoryRuleset(input).rules.parameters.codeScanning.codeScanningTools.securityAlertsThreshold": "a severity threshold: the name only contains \"uri\" (security)",
	"Mutation.updateRepositoryRuleset(input).rules.parameters.codeScanning.codeScanningTools.securityAlertsThreshold": "a severity threshold: the name only contains \"uri\" (security)",
	"Query.marketplaceCategory(slug)":                                                                                 "a Marketplace category, not an account",
	"Query.marketplaceListing(slug)":                                                                                  "a Marketplace listing's app slug, not an account",
	"Query.marketplaceListings(categorySlug)":                                                                         "a Marketplace category, not an account",
	"Query.marketplaceListings(slugs)":                                                                                "Marketplace listings' app slugs, not accounts",
}

// ownerish matches argument names that could hold a login, slug, owner,
// repository or URL.
var ownerish = regexp.MustCompile(`(?i)login|slug|owner|url|uri|repositor|organi[sz]ation|enterprise|orgname|^org`)

// TestSchemaArguments walks every argument of every query and mutation
// field of github.com's schema, and every field of the input objects they
// take, at any depth. Each one that is an ID, or a string whose name looks
// like it names an account, enterprise, repository or URL, must make
// Targets name a resource (or an undetermined one) when it is set alone;
// otherwise it must be listed in notOwners with a reason. A new schema
// with a new way of naming an owner fails here until it is handled.
func TestSchemaArguments(t *testing.T) {
	src, err := os.ReadFile("../ghschema/github-schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := parser.ParseSchema(&ast.Source{Name: "github", Input: string(src)})
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]*ast.Definition{}
	for _, d := range schema.Definitions {
		defs[d.Name] = d
	}
	checked, listed := 0, map[string]bool{}
	var unresolved []string
	for _, root := range []string{"Query", "Mutation"} {
		op := "query"
		if root == "Mutation" {
			op = "mutation"
		}
		for _, f := range defs[root].Fields {
			for _, a := range f.Arguments {
				// leaf is one argument or input field to try alone: its path
				// and a function that wraps a sample value into the
				// argument's value.
				var visit func(path string, name string, typ *ast.Type, wrap func(any) any, seen map[string]bool)
				visit = func(path, name string, typ *ast.Type, wrap func(any) any, seen map[string]bool) {
					inner := typ
					list := false
					for inner.Elem != nil {
						inner, list = inner.Elem, true
					}
					w := wrap
					if list {
						w = func(v any) any { return wrap([]any{v}) }
					}
					if d := defs[inner.NamedType]; d != nil && d.Kind == ast.InputObject {
						if seen[d.Name] {
							return
						}
						seen[d.Name] = true
						for _, fld := range d.Fields {
							fw := w
							k := fld.Name
							visit(path+"."+k, k, fld.Type, func(v any) any { return fw(map[string]any{k: v}) }, seen)
						}
						delete(seen, d.Name)
						return
					}
					scalar := inner.NamedType
					if scalar != "ID" && !((scalar == "String" || scalar == "URI") && ownerish.MatchString(name)) {
						return
					}
					checked++
					if _, ok := notOwners[path]; ok {
						listed[path] = true
						return
					}
					req := Request{
						Query:     op + `($v: ` + typ.String() + `) { ` + f.Name + `(` + a.Name + `: $v) { __typename } }`,
						Variables: map[string]any{"v": w(sample(name, scalar))},
					}
					ts, _, err := Targets(context.Background(), req)
					if err != nil {
						t.Errorf("%s: %v", path, err)
						return
					}
					if len(ts) == 0 || ts[0].Scope == target.Unscoped {
						unresolved = append(unresolved, path+" : "+typ.String())
					}
				}
				visit(root+"."+f.Name+"("+a.Name+")", a.Name, a.Type, func(v any) any { return v }, map[string]bool{})
			}
		}
	}
	sort.Strings(unresolved)
	for _, u := range unresolved {
		t.Errorf("names an owner but is neither resolved nor listed in notOwners: %s", u)
	}
	for path := range notOwners {
		if !listed[path] {
			t.Errorf("notOwners lists %s, which the schema no longer has (or which is not a candidate)", path)
		}
	}
	t.Logf("%d arguments checked, %d listed as naming no owner", checked, len(notOwners))
}

// sample is a value of the kind an argument's name suggests.
func sample(name, scalar string) any {
	switch {
	case scalar == "ID":
		return "R_kgDOADP9xw"
	case regexp.MustCompile(`(?i)url|uri`).MatchString(name):
		return "https://git.example.com/octo-org/private/issues/1"
	case regexp.MustCompile(`(?i)withowner`).MatchString(name):
		return "octo-org/private"
	}
	return "octo-org"
}
