// Package inbox keeps, per organization, the tokens the gateway refused
// for a reason their owner or an organization owner can fix: approval
// (missing, pending, denied, revoked) or lifetime. It is the list an
// organization owner reads to see who is waiting.
//
// An inbox is bounded: a fixed number of tokens per organization (the
// least recently seen dropped first) and of organizations. It holds
// fingerprints, never a token: what it shows is derived from them.
package inbox

import (
	"container/list"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patgate/patgate/tokenclass"
)

// Entry is one token's refusals in one organization.
type Entry struct {
	Organization string `json:"organization"`
	// Token is the fingerprint's prefix, as decision records name it;
	// HashedToken is GitHub's audit-log form of the fingerprint.
	Token       string    `json:"token"`
	HashedToken string    `json:"hashed_token"`
	TokenClass  string    `json:"token_class"`
	Owner       string    `json:"token_owner,omitempty"`
	Reason      string    `json:"reason"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Requests    int64     `json:"requests"`
}

// Refusal is what the gateway records of one refused request.
type Refusal struct {
	Organization string
	Fingerprint  tokenclass.Fingerprint
	Class        tokenclass.Class
	Owner        string
	Reason       string
	At           time.Time
}

// Store is an inbox: in this process (Memory) or shared by gateways
// (Redis).
type Store interface {
	// Record counts one refusal. It must not hold the request up.
	Record(Refusal)
	// List returns an organization's entries (every organization's for
	// ""), the most recently seen first.
	List(ctx context.Context, org string) ([]Entry, error)
	// Describe names the store for operators ("memory", or the Redis
	// server, without credentials).
	Describe() string
}

// Defaults bound an inbox.
const (
	DefaultPerOrganization = 100
	DefaultOrganizations   = 10_000
)

// Memory is an inbox in this process's memory. Use NewMemory.
type Memory struct {
	mu      sync.Mutex
	perOrg  int
	maxOrgs int
	orgs    map[string]*list.Element // lowercase login → element of lru (*orgBox)
	lru     *list.List               // organizations, most recently seen first
}

type orgBox struct {
	login  string
	tokens map[tokenclass.Fingerprint]*list.Element // → element of order (*item)
	order  *list.List                               // tokens, most recently seen first
}

// item is one entry as kept: about 130 bytes with its list element and
// map slot (see BenchmarkMemoryEntries), whatever the strings, which are
// shared: logins and reasons are few.
type item struct {
	fp          tokenclass.Fingerprint
	class       tokenclass.Class
	owner       string
	reason      string
	first, last int64 // Unix nanoseconds
	count       int64
}

// NewMemory returns an empty inbox with the given bounds (≤ 0: the
// defaults).
func NewMemory(perOrg, maxOrgs int) *Memory {
	m := &Memory{orgs: map[string]*list.Element{}, lru: list.New()}
	m.SetBounds(perOrg, maxOrgs)
	return m
}

// SetBounds changes the bounds (a reload may), dropping what no longer
// fits at the next record.
func (m *Memory) SetBounds(perOrg, maxOrgs int) {
	if perOrg <= 0 {
		perOrg = DefaultPerOrganization
	}
	if maxOrgs <= 0 {
		maxOrgs = DefaultOrganizations
	}
	m.mu.Lock()
	m.perOrg, m.maxOrgs = perOrg, maxOrgs
	m.mu.Unlock()
}

// Describe says where the inbox lives.
func (m *Memory) Describe() string { return "memory" }

// Record counts one refusal.
func (m *Memory) Record(r Refusal) {
	key := strings.ToLower(r.Organization)
	if key == "" {
		return
	}
	now := r.At.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	oe, ok := m.orgs[key]
	if !ok {
		oe = m.lru.PushFront(&orgBox{login: r.Organization, tokens: map[tokenclass.Fingerprint]*list.Element{}, order: list.New()})
		m.orgs[key] = oe
	} else {
		m.lru.MoveToFront(oe)
	}
	box := oe.Value.(*orgBox)
	if te, ok := box.tokens[r.Fingerprint]; ok {
		it := te.Value.(*item)
		it.last, it.count, it.reason, it.class = now, it.count+1, r.Reason, r.Class
		if r.Owner != "" {
			it.owner = r.Owner
		}
		box.order.MoveToFront(te)
	} else {
		box.tokens[r.Fingerprint] = box.order.PushFront(&item{fp: r.Fingerprint, class: r.Class, owner: r.Owner, reason: r.Reason, first: now, last: now, count: 1})
	}
	for box.order.Len() > m.perOrg {
		old := box.order.Back()
		delete(box.tokens, old.Value.(*item).fp)
		box.order.Remove(old)
	}
	for m.lru.Len() > m.maxOrgs {
		old := m.lru.Back()
		delete(m.orgs, strings.ToLower(old.Value.(*orgBox).login))
		m.lru.Remove(old)
	}
}

// List returns an organization's entries, or every organization's.
func (m *Memory) List(_ context.Context, org string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	add := func(box *orgBox) {
		for e := box.order.Front(); e != nil; e = e.Next() {
			it := e.Value.(*item)
			out = append(out, Entry{Organization: box.login, Token: it.fp.Prefix(), HashedToken: it.fp.AuditForm(),
				TokenClass: it.class.String(), Owner: it.owner, Reason: it.reason,
				FirstSeen: time.Unix(0, it.first).UTC(), LastSeen: time.Unix(0, it.last).UTC(), Requests: it.count})
		}
	}
	if org != "" {
		if oe, ok := m.orgs[strings.ToLower(org)]; ok {
			add(oe.Value.(*orgBox))
		}
		return out, nil
	}
	for e := m.lru.Front(); e != nil; e = e.Next() {
		add(e.Value.(*orgBox))
	}
	Sort(out)
	return out, nil
}

// Sort orders entries as List returns them: the most recently seen first,
// then by organization and token.
func Sort(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		if c := strings.Compare(a.Organization, b.Organization); c != 0 {
			return c
		}
		return strings.Compare(a.HashedToken, b.HashedToken)
	})
}

// Len reports how many entries the inbox holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for e := m.lru.Front(); e != nil; e = e.Next() {
		n += e.Value.(*orgBox).order.Len()
	}
	return n
}
