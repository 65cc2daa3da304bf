package inbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/patgate/patgate/tokenclass"
)

// Redis is an inbox in Redis, shared by every gateway that names the same
// server: each one records into it, and each one lists the same entries.
//
// Per organization, a sorted set holds the tokens by when they were last
// seen (trimmed to the bound, oldest first) and a hash per token holds the
// entry; a sorted set of organizations is trimmed the same way. Every key
// expires TTL after its last write, so an inbox nobody refuses into empties
// itself.
type Redis struct {
	client  *redis.Client
	prefix  string
	perOrg  int64
	maxOrgs int64
	ttl     time.Duration
	addr    string
	queue   chan Refusal
	dropped atomic.Int64
	done    chan struct{}
}

// DefaultTTL is how long an entry outlives its last refusal in Redis.
const DefaultTTL = 30 * 24 * time.Hour

// NewRedis connects to url (redis://host:port/db). Records are written by
// one background writer from a bounded queue, so a slow or absent Redis
// never holds a request up; what does not fit in the queue is dropped and
// counted.
func NewRedis(url string, perOrg, maxOrgs int, ttl time.Duration) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("inbox: redis: %w", err)
	}
	if perOrg <= 0 {
		perOrg = DefaultPerOrganization
	}
	if maxOrgs <= 0 {
		maxOrgs = DefaultOrganizations
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	r := &Redis{client: redis.NewClient(opts), prefix: "patgate:inbox:", perOrg: int64(perOrg), maxOrgs: int64(maxOrgs),
		ttl: ttl, addr: fmt.Sprintf("redis %s/%d", opts.Addr, opts.DB), queue: make(chan Refusal, 4096), done: make(chan struct{})}
	go r.write()
	return r, nil
}

// Describe names the server, never a password.
func (r *Redis) Describe() string { return r.addr }

// Dropped reports how many refusals did not fit in the queue.
func (r *Redis) Dropped() int64 { return r.dropped.Load() }

// Record queues one refusal for the writer.
func (r *Redis) Record(ref Refusal) {
	if ref.Organization == "" {
		return
	}
	select {
	case r.queue <- ref:
	default:
		r.dropped.Add(1)
	}
}

// Close stops the writer after it has written what is queued, and closes
// the connection.
func (r *Redis) Close() error {
	close(r.queue)
	<-r.done
	return r.client.Close()
}

// Flush waits until what was queued before it is written (tests, and a
// list right after a refusal on this gateway).
func (r *Redis) Flush(ctx context.Context) {
	for len(r.queue) > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *Redis) write() {
	defer close(r.done)
	for ref := range r.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.record(ctx, ref) // a lost entry is no outage; the next refusal writes it again
		cancel()
	}
}

func (r *Redis) orgsKey() string          { return r.prefix + "orgs" }
func (r *Redis) orgKey(org string) string { return r.prefix + "org:" + strings.ToLower(org) }
func (r *Redis) itemKey(org, h string) string {
	return r.prefix + "token:" + strings.ToLower(org) + ":" + h
}

func (r *Redis) record(ctx context.Context, ref Refusal) error {
	h := ref.Fingerprint.AuditForm()
	now := ref.At.UnixNano()
	org, item := r.orgKey(ref.Organization), r.itemKey(ref.Organization, h)
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, item, "first", now)
		fields := []any{"last", now, "reason", ref.Reason, "class", ref.Class.String(), "org", ref.Organization}
		if ref.Owner != "" {
			fields = append(fields, "owner", ref.Owner)
		}
		p.HSet(ctx, item, fields...)
		p.HIncrBy(ctx, item, "count", 1)
		p.Expire(ctx, item, r.ttl)
		p.ZAdd(ctx, org, redis.Z{Score: float64(now), Member: h})
		// Keep the perOrg most recently seen: drop the oldest beyond.
		p.ZRemRangeByRank(ctx, org, 0, -r.perOrg-1)
		p.Expire(ctx, org, r.ttl)
		p.ZAdd(ctx, r.orgsKey(), redis.Z{Score: float64(now), Member: strings.ToLower(ref.Organization)})
		p.ZRemRangeByRank(ctx, r.orgsKey(), 0, -r.maxOrgs-1)
		p.Expire(ctx, r.orgsKey(), r.ttl)
		return nil
	})
	return err
}

// List reads an organization's entries, or every organization's.
func (r *Redis) List(ctx context.Context, org string) ([]Entry, error) {
	orgs := []string{strings.ToLower(org)}
	if org != "" {
		// An organization dropped from the bounded set is gone, although
		// its keys wait for their expiry.
		if err := r.client.ZScore(ctx, r.orgsKey(), orgs[0]).Err(); err == redis.Nil {
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
	} else {
		var err error
		if orgs, err = r.newest(ctx, r.orgsKey(), r.maxOrgs); err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
	}
	var out []Entry
	for _, o := range orgs {
		hashes, err := r.newest(ctx, r.orgKey(o), r.perOrg)
		if err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
		cmds, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, h := range hashes {
				p.HGetAll(ctx, r.itemKey(o, h))
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
		for i, c := range cmds {
			m, err := c.(*redis.MapStringStringCmd).Result()
			if err != nil || len(m) == 0 {
				continue // expired since the set was read
			}
			e, ok := entryOf(hashes[i], m)
			if ok {
				out = append(out, e)
			}
		}
	}
	Sort(out)
	return out, nil
}

// newest returns the n most recent members of a sorted set scored by
// time, the most recent first.
func (r *Redis) newest(ctx context.Context, key string, n int64) ([]string, error) {
	return r.client.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: 0, Stop: n - 1, Rev: true}).Result()
}

// entryOf builds an entry from its hash; the fingerprint comes back from
// its audit form, so the prefix matches the decision records'.
func entryOf(h string, m map[string]string) (Entry, bool) {
	fp, err := tokenclass.ParseAuditForm(h)
	if err != nil {
		return Entry{}, false
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	return Entry{Organization: m["org"], Token: fp.Prefix(), HashedToken: h, TokenClass: m["class"], Owner: m["owner"],
		Reason: m["reason"], FirstSeen: time.Unix(0, num("first")).UTC(), LastSeen: time.Unix(0, num("last")).UTC(), Requests: num("count")}, true
}
