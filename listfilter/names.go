package listfilter

import (
	"fmt"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/patgate/patgate/target"
)

// named is one thing an element names, with the facts the element gives.
type named struct {
	target target.Target
	res    target.Resource
}

// members are the top-level members of one element that its route reads,
// found in one pass over the element's members, which also notes the
// element's first key (where spans places the element).
type members struct {
	v [5]*fastjson.Value
	// ok says the element is an object that names none of them twice.
	ok bool
}

// read reads el's members for the route kind k and returns el's first key
// (nil for an empty object or anything else). It unescapes the keys of el
// in place (fastjson does so on the first visit).
func (m *members) read(k Kind, el *fastjson.Value) (first []byte) {
	*m = members{}
	first, m.ok = pick(el, m.v[:], topMembers(k))
	return first
}

// topMembers says which top-level members of an element the kind k reads,
// and where they go in members.v.
func topMembers(k Kind) func(key []byte) int {
	switch k {
	case Repo:
		return repoMembers
	case RepoField:
		return repositoryMember
	case RepoURL:
		return repositoryURLMember
	case Org:
		return loginMember
	case OrgField:
		return organizationMember
	case Event:
		return eventMembers
	}
	return func([]byte) int { return -1 }
}

func repositoryMember(k []byte) int    { return is(k, "repository") }
func repositoryURLMember(k []byte) int { return is(k, "repository_url") }
func loginMember(k []byte) int         { return is(k, "login") }
func organizationMember(k []byte) int  { return is(k, "organization") }
func nameMember(k []byte) int          { return is(k, "name") }

func is(k []byte, name string) int {
	if string(k) == name {
		return 0
	}
	return -1
}

// The members of an event that say whose it is: its repository, then its
// organization.
func eventMembers(k []byte) int {
	switch string(k) {
	case "repo":
		return 0
	case "org":
		return 1
	}
	return -1
}

// The members of a repository object and its owner that repoFacts reads.
func repoMembers(k []byte) int {
	switch string(k) {
	case "full_name":
		return 0
	case "name":
		return 1
	case "owner":
		return 2
	case "visibility":
		return 3
	case "private":
		return 4
	}
	return -1
}

func ownerMembers(k []byte) int {
	switch string(k) {
	case "login":
		return 0
	case "type":
		return 1
	}
	return -1
}

// namesOf reads what one element names from its members. ok is false when
// it names nothing the route says it should.
func namesOf(k Kind, m *members) ([]named, bool) {
	if !m.ok {
		return nil, false
	}
	switch k {
	case Repo:
		n, ok := repoFacts(&m.v)
		return []named{n}, ok
	case RepoField:
		n, ok := repoObject(m.v[0])
		return []named{n}, ok
	case RepoURL:
		_, path, ok := strings.Cut(str(m.v[0]), "/repos/")
		owner, name, ok2 := strings.Cut(path, "/")
		if !ok || !ok2 || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, false
		}
		return []named{{target: repoTarget(owner, name)}}, true
	case Org:
		login := str(m.v[0])
		if login == "" {
			return nil, false
		}
		return []named{{target: orgTarget(login)}}, true
	case OrgField:
		login := str(member(m.v[0], loginMember))
		if login == "" {
			return nil, false
		}
		return []named{{target: orgTarget(login)}}, true
	case Event:
		owner, name, ok := strings.Cut(str(member(m.v[0], nameMember)), "/")
		if !ok || owner == "" || name == "" {
			return nil, false
		}
		ns := []named{{target: repoTarget(owner, name)}}
		if login := str(member(m.v[1], loginMember)); login != "" {
			ns = append(ns, named{target: orgTarget(login)})
		}
		return ns, true
	}
	return nil, false
}

// repoObject reads what a repository object says about itself.
func repoObject(v *fastjson.Value) (named, bool) {
	var m [5]*fastjson.Value
	if _, ok := pick(v, m[:], repoMembers); !ok {
		return named{}, false
	}
	return repoFacts(&m)
}

// repoFacts reads what a repository object of GitHub's says about its
// owner and visibility, from its members (repoMembers): full_name (or
// owner.login and name), owner.type, visibility, else private. Minimal
// repository objects (search/code, notifications) have "private" but no
// "visibility"; an internal repository is private. The facts count only
// when both the owner's type and the visibility are given; otherwise they
// are looked up.
func repoFacts(m *[5]*fastjson.Value) (named, bool) {
	var o [2]*fastjson.Value
	if m[2] != nil {
		if _, ok := pick(m[2], o[:], ownerMembers); !ok {
			return named{}, false
		}
	}
	// Only the names become strings; the rest is compared where it lies.
	visibility, typ := raw(m[3]), raw(o[1])
	owner, repo, found := strings.Cut(str(m[0]), "/")
	if !found {
		owner, repo = str(o[0]), str(m[1])
	}
	if owner == "" || repo == "" || strings.Contains(repo, "/") {
		return named{}, false
	}
	n := named{target: repoTarget(owner, repo)}
	vis := target.ParseVisibility(string(visibility))
	if len(visibility) == 0 && m[4] != nil {
		switch m[4].Type() {
		case fastjson.TypeTrue:
			vis = target.VisibilityPrivate
		case fastjson.TypeFalse:
			vis = target.VisibilityPublic
		}
	}
	var ot target.OwnerType
	switch string(typ) {
	case "Organization":
		ot = target.OwnerOrganization
	case "User", "Bot":
		ot = target.OwnerUser
	}
	if vis != target.VisibilityUnknown && ot != target.OwnerUnknown {
		n.res = target.Resource{Known: true, OwnerLogin: owner, OwnerType: ot, Visibility: vis}
	}
	return n, true
}

// pick finds the top-level members of the object v that which numbers
// (names unescaped, as any client reads them) and puts them in out; it
// also returns v's first key. ok is false when v is nil, not an object, or
// names one of them twice: clients differ on which one counts.
func pick(v *fastjson.Value, out []*fastjson.Value, which func(key []byte) int) (first []byte, ok bool) {
	if v == nil {
		return nil, false
	}
	o, err := v.Object()
	if err != nil {
		return nil, false
	}
	ok = true
	o.Visit(func(k []byte, m *fastjson.Value) {
		if first == nil {
			first = k
		}
		if i := which(k); i >= 0 {
			if out[i] != nil {
				ok = false
			}
			out[i] = m
		}
	})
	return first, ok
}

// member returns the one member of the object v that which names; nil
// when v is not an object, has no such member, or has it twice.
func member(v *fastjson.Value, which func(key []byte) int) *fastjson.Value {
	var m [1]*fastjson.Value
	if _, ok := pick(v, m[:], which); !ok {
		return nil
	}
	return m[0]
}

// raw returns a JSON string value's unescaped bytes, valid until the
// next parse (nil for anything else).
func raw(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return nil
	}
	return b
}

// str returns a JSON string value's text ("" for anything else).
func str(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		return ""
	}
	return string(b)
}

// ElementTarget is what an element of route's answer names when it names
// name ("owner/repo" for the routes that list repositories or events, an
// organization's login for the others), for explaining one element.
func ElementTarget(route *Route, name string) (target.Target, error) {
	switch route.Kind {
	case Org, OrgField:
		if name == "" || strings.Contains(name, "/") {
			return target.Target{}, fmt.Errorf("%s lists organizations: name one by its login", route.Pattern)
		}
		return orgTarget(name), nil
	}
	owner, repo, ok := strings.Cut(name, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return target.Target{}, fmt.Errorf("%s lists repositories: name one as owner/repo", route.Pattern)
	}
	return repoTarget(owner, repo), nil
}

func repoTarget(owner, name string) target.Target {
	// A GET of the repository: anonymous users read a public one.
	return target.Target{Scope: target.Repository, Surface: target.REST, Access: target.Read,
		AnonReadable: true, Owner: owner, Name: name}
}

func orgTarget(login string) target.Target {
	// An organization in a list is organization data, not its public
	// profile: never anonymously readable.
	return target.Target{Scope: target.Organization, Surface: target.REST, Access: target.Read, Owner: login}
}
