package enforce

import (
	"strings"
	"testing"

	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

func TestExplain(t *testing.T) {
	p, err := NewPolicy(7, ent(true, oc, aoc, oc), []Organization{org(allow, require, restrict)}, testTokens())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    *Policy
		tok  Token
		tgt  target.Target
		res  target.Resource
		want []string
	}{
		{"classic restricted by the organization", p, classic, repoWrite, private, []string{
			"decision: deny (classic_restricted)",
			"message: `octo-org` forbids access via a personal access token (classic).",
			`resource: owner "octo-org" (Organization), visibility private`,
			"feed: version 7",
			`organization "octo-org" (listed): classic access restrict`,
			"effective: classic access restrict",
		}},
		{"pending approval", p, fg(fpPending), repoWrite, private, []string{
			"decision: deny (approval_pending)", "owner dave (from the feed)", "approval: status pending, token owner is an organization owner: false",
		}},
		{"owner learned from the host", p, Token{Class: tokenclass.FineGrained, Fingerprint: fpNoOwner, Owner: "alice", OwnerKnown: true}, repoWrite, private, []string{
			"decision: allow (org_owner)", "owner alice (from the host)", "token owner is an organization owner: true",
		}},
		{"organization the feed does not list", p, fg(fpApproved), repoWrite, target.Resource{Known: true, OwnerLogin: "elsewhere", OwnerType: target.OwnerOrganization, Visibility: target.VisibilityPrivate}, []string{
			`organization "elsewhere" (defaults)`,
		}},
		{"no feed", nil, classic, repoWrite, private, []string{"decision: unavailable (no_feed)", "feed: none loaded"}},
		{"not looked up", p, classic, unscoped, target.Resource{}, []string{"resource: not looked up"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Join(Explain(tc.p, tc.tok, tc.tgt, tc.res).Lines(), "\n")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
		})
	}
}
