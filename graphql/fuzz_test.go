package graphql

import (
	"context"
	"testing"

	"github.com/patgate/patgate/target"
)

// FuzzTargets feeds arbitrary documents and variables: no panic, no
// unbounded recursion, and every target is well formed (an undetermined
// one says why).
func FuzzTargets(f *testing.F) {
	f.Add(ghRepoView, `{"owner":"o","name":"r"}`)
	f.Add(ghPRList, `{"owner":"o","repo":"r","limit":1}`)
	f.Add(ghIssueCreate, `{"input":{"repositoryId":"R_kgDOADP9xw"}}`)
	f.Add(`query { ...a } fragment a on Query { ...a }`, `{}`)
	f.Add(`{ nodes(ids: ["MDQ6VXNlcjE=", "PVT_x"]) { id } }`, `null`)
	f.Fuzz(func(t *testing.T, query, vars string) {
		reqs, err := ParseRequests("POST", "", []byte(`{"query":`+quote(query)+`,"variables":`+vars+`}`))
		if err != nil {
			return
		}
		for _, r := range reqs {
			ts, _, err := Targets(context.Background(), r)
			if err != nil {
				continue
			}
			for _, tg := range ts {
				switch tg.Scope {
				case target.Undetermined:
					if tg.Why == "" {
						t.Fatalf("undetermined target without a reason: %+v", tg)
					}
				case target.Repository:
					if tg.IDKind == target.IDNone && (tg.Owner == "" || tg.Name == "") {
						t.Fatalf("repository without owner and name: %+v", tg)
					}
				}
				if tg.IDKind != target.IDNone && tg.ID <= 0 {
					t.Fatalf("id target without an id: %+v", tg)
				}
			}
		}
	})
}

func quote(s string) string {
	b := []byte{'"'}
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}
