// Package target works out what a request reaches: the scope and owner of the
// resource it names and whether it reads or writes. It is plain Go: the route
// table is matched against the path, and facts the path cannot tell (who owns
// a repository, whether it is public) come separately as a Resource, filled in
// by the lookup package.
package target

// Scope is the kind of resource a request names.
type Scope uint8

const (
	// Unscoped requests name no repository, organization, enterprise or user
	// (/meta, /user, /search, …): no policy governs them.
	Unscoped Scope = iota
	// Repository requests name a repository by owner and name, or by id.
	Repository
	// Organization requests name an organization by login, or by id.
	Organization
	// Enterprise requests reach the enterprise's own endpoints
	// (/enterprises/{slug}/…, site-admin /admin/…).
	Enterprise
	// User requests name an account by login; the account may turn out to be
	// an organization, which a lookup tells.
	User
	// Undetermined requests name resources the gateway cannot work out (a
	// GraphQL document, until GraphQL is resolved; an id the host has no
	// lookup for): they are refused whenever a restriction could apply to
	// the token.
	Undetermined
	// Personal requests reach resources owned by a user (gists, the
	// authenticated user's keys, emails, settings): never restricted.
	Personal
)

var scopeNames = [...]string{"unscoped", "repository", "organization", "enterprise", "user", "undetermined", "personal"}

func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "invalid"
}

// Access is whether a request reads or writes.
type Access uint8

const (
	// Read requests: GET, HEAD, OPTIONS, and the reads of Git (upload-pack).
	Read Access = iota
	// Write is everything else. Writes are never public.
	Write
)

func (a Access) String() string {
	if a == Read {
		return "read"
	}
	return "write"
}

// Surface is the kind of client a request comes from; a denial is answered
// in the shape that client shows to its user.
type Surface uint8

const (
	// REST is the REST API under the API prefix.
	REST Surface = iota
	// GraphQL is the GraphQL endpoint.
	GraphQL
	// Git is Git over HTTPS (smart HTTP).
	Git
	// LFS is the Git LFS API.
	LFS
	// Web is a web download (raw files, archives, release assets).
	Web
)

var surfaceNames = [...]string{"rest", "graphql", "git", "lfs", "web"}

func (s Surface) String() string {
	if int(s) < len(surfaceNames) {
		return surfaceNames[s]
	}
	return "invalid"
}

// Target is what one request reaches, as far as the request itself tells.
type Target struct {
	Scope   Scope
	Surface Surface
	Access  Access
	// Owner is the login (or enterprise slug) the path names, as written.
	// For a Repository named by id, it is empty.
	Owner string
	// Name is the repository name, for Repository targets named by path.
	Name string
	// ID is the numeric id for targets named by id (/repositories/{id},
	// /organizations/{id}, /teams/{id}); zero otherwise. IDKind says what
	// it names.
	ID     int64
	IDKind IDKind
	// AnonReadable says that anonymous users can read this route when the
	// resource is public. It is false for a repository's admin
	// sub-resources and for organization lists, which never count as public.
	AnonReadable bool
	// BodyDecides says the access kind is in the request body (a Git LFS
	// batch request names its operation there): the handler reads the body
	// and calls LFSBatchAccess before deciding.
	BodyDecides bool
	// CrossOrg marks an unscoped route whose answer gathers data of several
	// organizations (search, the user's lists).
	CrossOrg bool
	// Also is a second resource the path names, which must belong to the
	// owner of this one: the repository of /orgs/{org}/…/repositories/{id},
	// the organization of /enterprises/{slug}/…/organizations/{org_id}, the
	// repository of /teams/{id}/repos/{owner}/{repo}. Nil for most routes.
	Also *Target
	// Operation is the published REST operation the request matched, nil
	// for Git, LFS, web and unpublished routes.
	Operation *Operation
	// Why says, for an Undetermined target, what could not be worked out;
	// the refusal's message names it.
	Why string
}

// OwnerType is the kind of account that owns a resource.
type OwnerType uint8

const (
	// OwnerUnknown is an owner the host does not know (no such account).
	OwnerUnknown OwnerType = iota
	// OwnerOrganization is an organization account.
	OwnerOrganization
	// OwnerUser is a user account: never restricted by the policies.
	OwnerUser
)

func (o OwnerType) String() string {
	switch o {
	case OwnerOrganization:
		return "Organization"
	case OwnerUser:
		return "User"
	}
	return "unknown"
}

// Visibility is a repository's visibility. Only Public counts as public.
type Visibility uint8

const (
	// VisibilityUnknown counts as not public.
	VisibilityUnknown Visibility = iota
	VisibilityPublic
	VisibilityPrivate
	VisibilityInternal
)

var visibilityNames = [...]string{"unknown", "public", "private", "internal"}

func (v Visibility) String() string {
	if int(v) < len(visibilityNames) {
		return visibilityNames[v]
	}
	return "unknown"
}

// ParseVisibility maps the REST API's visibility field; anything it does not
// know is VisibilityUnknown, which counts as not public.
func ParseVisibility(s string) Visibility {
	switch s {
	case "public":
		return VisibilityPublic
	case "private":
		return VisibilityPrivate
	case "internal":
		return VisibilityInternal
	}
	return VisibilityUnknown
}

// Resource is what the Git host says about a target's owner and visibility.
// The zero value means nothing has been looked up yet.
type Resource struct {
	// Known is true once the facts below come from a lookup.
	Known bool
	// OwnerLogin is the owner's login as the host spells it (after renames
	// and transfers); empty when the owner does not exist.
	OwnerLogin string
	OwnerType  OwnerType
	Visibility Visibility
	// AlsoKnown, AlsoOwner and AlsoOwnerType describe the owner of the
	// target's second resource (Target.Also), once looked up.
	AlsoKnown     bool
	AlsoOwner     string
	AlsoOwnerType OwnerType
}
