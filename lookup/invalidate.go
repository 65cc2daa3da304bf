package lookup

import (
	"hash/maphash"

	"github.com/patgate/patgate/target"
)

// Invalidation names cached answers that are no longer true: the host said
// (through a webhook) that a repository changed visibility, name or owner,
// or that an organization was renamed or deleted.
type Invalidation struct {
	// Repositories by owner and name ("owner/name"), before and after a
	// rename or transfer.
	Repositories []string `json:"repositories,omitempty"`
	// RepositoryIDs by id.
	RepositoryIDs []int64 `json:"repository_ids,omitempty"`
	// All drops every cached resource: an organization renamed or deleted
	// changes the owner of repositories the gateway cannot list.
	All bool `json:"all,omitempty"`
}

// Empty reports whether the invalidation names nothing.
func (inv Invalidation) Empty() bool {
	return !inv.All && len(inv.Repositories) == 0 && len(inv.RepositoryIDs) == 0
}

// Invalidate drops the named answers from the cache, so the next request
// asks the host again. A lookup in flight meanwhile may carry the old answer:
// it still answers the callers that asked before the invalidation, but is
// not cached, and a caller that asks after Invalidate returns waits for a
// lookup of its own, never for that one.
func (c *Client) Invalidate(inv Invalidation) {
	if inv.Empty() {
		return
	}
	// Every flight, not only the named ones, loses the right to store: an
	// invalidation is rare, and a few extra lookups after one cost less
	// than tracking which flight asked about what.
	c.storeMu.Lock()
	c.gen.Add(1)
	c.storeMu.Unlock()
	if inv.All {
		c.res.Clear()
		return
	}
	drop := func(t target.Target) {
		var buf [256]byte
		if key, _, ok := resourceKey(buf[:0], t); ok {
			c.res.Del(maphash.Bytes(c.seed, key))
		}
	}
	for _, full := range inv.Repositories {
		owner, name, ok := cutRepo(full)
		if ok {
			drop(target.Target{Scope: target.Repository, Owner: owner, Name: name})
		}
	}
	for _, id := range inv.RepositoryIDs {
		drop(target.Target{Scope: target.Repository, IDKind: target.IDRepository, ID: id})
	}
	// Deletions are applied by the cache's own goroutine; wait for them,
	// so that the next request after Invalidate returns sees the host.
	c.res.Wait()
}

func cutRepo(full string) (owner, name string, ok bool) {
	for i := 0; i < len(full); i++ {
		if full[i] == '/' {
			return full[:i], full[i+1:], i > 0 && i < len(full)-1
		}
	}
	return "", "", false
}
