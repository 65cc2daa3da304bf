package policyfeed

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/tokenclass"
)

// largeFeed generates a feed of tokens token records and orgs
// organizations; each token is approved, pending or denied for three
// organizations, as a large enterprise's feed would be. Every record
// gives its lifetime (SPEC §8: created_at, expires_at, every tenth null,
// token_id), and every organization lifetime limits and an IP allow list
// of four entries (§9), as does the enterprise.
func largeFeed(tokens, orgs int) []byte {
	var b bytes.Buffer
	b.Grow(tokens*330 + orgs*330)
	b.WriteString(`{"version": 7, "enterprise": {"slug": "acme", "owners": ["admin"], "exempt_administrators": true,
		"fine_grained": {"max_lifetime_days": 366}, "classic": {"max_lifetime_days": 366},
		"ip_allow_list": ["192.0.2.0/24", "2001:db8::/32"]}, "organizations": [`)
	for i := range orgs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"login": "org-%d", "fine_grained": {"access": "allow", "approval": "require", "max_lifetime_days": %d}, "classic": {"access": "restrict", "max_lifetime_days": 30}, "owners": ["owner-%d"], "exempt_administrators": true, "ip_allow_list": ["10.%d.%d.0/24", "198.51.100.%d", "2001:db8:%x::/48", "203.0.113.0/28"]}`,
			i, 30+i%300, i, i/256%256, i%256, i%256, i)
	}
	b.WriteString(`], "tokens": [`)
	statuses := []string{"approved", "pending", "denied"}
	for i := range tokens {
		if i > 0 {
			b.WriteByte(',')
		}
		sum := sha256.Sum256([]byte(fmt.Sprint("github_pat_", i)))
		expires := `"2027-03-01T12:00:00Z"`
		if i%10 == 0 {
			expires = "null"
		}
		fmt.Fprintf(&b, `{"sha256": "%s", "owner": "user-%d", "organizations": {"org-%d": "%s", "org-%d": "%s", "org-%d": "%s"}, "created_at": "2026-%02d-%02dT08:30:00Z", "expires_at": %s, "token_id": %d}`,
			hex.EncodeToString(sum[:]), i%50000, i%orgs, statuses[i%3], (i+1)%orgs, statuses[(i+1)%3], (i+7)%orgs, statuses[(i+2)%3],
			1+i%11, 1+i%28, expires, 1_000_000+i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkLargeFeed parses, validates and indexes a feed of 1,000,000
// token records and 10,000 organizations (issue 5's goal: at most 3 s and
// 500 MB on a 2-core machine), as plain JSON and as a JWS signed with
// ES256 and RS256, and reports the heap the snapshot keeps and the time of
// a token lookup in it.
func BenchmarkLargeFeed(b *testing.B) {
	data := largeFeed(1_000_000, 10_000)
	k := keysOnce(b)
	cases := []struct {
		name string
		data []byte
		v    *Verifier
	}{{name: "json", data: data}}
	for _, s := range []struct {
		name string
		priv crypto.Signer
		pub  crypto.PublicKey
	}{{"ES256", k.ec, &k.ec.PublicKey}, {"RS256", k.rsa, &k.rsa.PublicKey}} {
		v, err := NewVerifier(pubPEM(b, s.pub))
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases, struct {
			name string
			data []byte
			v    *Verifier
		}{"signed-" + s.name, mustSign(b, string(data), s.priv, false), v})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			var heap uint64
			var p *enforce.Policy
			for b.Loop() {
				p = nil
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				var err error
				if p, err = Load(c.data, c.v); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
			}
			b.ReportMetric(float64(heap)/(1<<20), "heapMB")
			b.ReportMetric(float64(len(c.data))/(1<<20), "feedMB")
			fp := tokenclass.FingerprintOf("github_pat_4242")
			start := time.Now()
			const n = 1_000_000
			for range n {
				if p.Token(fp) == nil {
					b.Fatal("token missing")
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "lookup-ns")
		})
	}
}
