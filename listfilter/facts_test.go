package listfilter

import (
	"testing"

	"github.com/valyala/fastjson"

	"github.com/patgate/patgate/target"
)

// TestRepoFacts: only an element's own top-level members count: a
// "full_name" or "owner" inside another member (a fork's parent, a
// template) never stands for the element's, and a member named twice
// makes the element unreadable (clients differ on which one wins).
func TestRepoFacts(t *testing.T) {
	tests := []struct {
		name, json  string
		owner, repo string
		res         target.Resource
		ok          bool
	}{
		{"full object", `{"full_name":"octo-org/app","owner":{"login":"octo-org","type":"Organization"},"visibility":"internal","private":true}`,
			"octo-org", "app", target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityInternal}, true},
		{"nested decoys come first", `{"parent":{"full_name":"bob/x","owner":{"login":"bob","type":"User"},"visibility":"public"},"template_repository":{"full_name":"bob/y"},"full_name":"octo-org/app","owner":{"type":"Organization","login":"octo-org"},"private":true}`,
			"octo-org", "app", target.Resource{Known: true, OwnerLogin: "octo-org", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, true},
		{"strings with escapes and brackets", "{ \"description\" : \"a } \\\" ] { quote\", \"full_name\" : \"octo\\u002dorg/app\" ,\n \"private\" : false }",
			"octo-org", "app", target.Resource{}, true},
		{"escaped backslashes before a quote", `{"description":"ends in a backslash \\\\","homepage":"x\\\"y\\\\","full_name":"bob/app","owner":{"login":"bob","type":"User"},"private":false}`,
			"bob", "app", target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPublic}, true},
		{"no visibility: looked up", `{"full_name":"octo-org/app","owner":{"login":"octo-org","type":"Organization"}}`, "octo-org", "app", target.Resource{}, true},
		{"name and owner.login", `{"name":"app","owner":{"login":"bob","type":"User"},"private":false}`,
			"bob", "app", target.Resource{Known: true, OwnerLogin: "bob", OwnerType: target.OwnerUser, Visibility: target.VisibilityPublic}, true},
		{"nothing named", `{"id":1}`, "", "", target.Resource{}, false},
		{"full_name twice", `{"full_name":"open-org/app","full_name":"octo-org/app","owner":{"login":"octo-org","type":"Organization"},"private":false}`, "", "", target.Resource{}, false},
		{"escaped name twice", `{"full_name":"open-org/app","full\u005fname":"octo-org/app","private":false}`, "", "", target.Resource{}, false},
		{"owner type twice", `{"full_name":"octo-org/app","owner":{"login":"octo-org","type":"User","type":"Organization"},"private":false}`, "", "", target.Resource{}, false},
		{"private twice", `{"full_name":"bob/app","owner":{"login":"bob","type":"User"},"private":false,"private":true}`, "", "", target.Resource{}, false},
		{"not an object", `[1]`, "", "", target.Resource{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := fastjson.Parse(tc.json)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := repoObject(v)
			if ok != tc.ok {
				t.Fatalf("ok %v", ok)
			}
			if !ok {
				return
			}
			if n.target.Owner != tc.owner || n.target.Name != tc.repo || n.res != tc.res {
				t.Errorf("got %s/%s %+v", n.target.Owner, n.target.Name, n.res)
			}
		})
	}
}
