package policyfeed

import (
	"context"
	"errors"
	"math"
)

// Source is where a feed comes from: a file or an HTTP(S) URL. The watcher
// only needs to know whether there is something new to parse.
type Source interface {
	// Fetch returns the feed's bytes and whether they differ from those of
	// the last successful Fetch. When changed is false, data may be nil
	// and the caller has nothing to do. The first successful Fetch always
	// reports changed.
	//
	// Fetch reads against exp: a feed larger than exp's bound, or one that
	// its first bytes show exp would refuse, is refused while it is read,
	// with an error that wraps ErrTooLarge or one of the errors Load
	// returns. The same refusal twice in a row is reported once, as an
	// unchanged feed would be.
	Fetch(ctx context.Context, exp Expect) (data []byte, changed bool, err error)
	// String names the source in logs, e.g. a path or a URL without
	// credentials.
	String() string
}

// Expect is what the watcher will accept, told to the source so that it can
// refuse a wrong feed before holding it whole: a hostile or broken source
// must not be able to exhaust memory.
type Expect struct {
	// MaxSize bounds the feed in bytes; DefaultMaxSize when not positive.
	MaxSize int64
	// Verifier is the watcher's: when set the feed must be a compact JWS
	// whose header names one of its algorithms, and when nil it must be
	// plain JSON, as Load requires.
	Verifier *Verifier
}

// DefaultMaxSize is the feed size read when none is configured: 256 MiB.
// Real feeds are a few megabytes; the signed 1,000,000-token feed of
// BenchmarkLargeFeed is 243 MiB (base64 makes a JWS a third larger than
// its JSON). It bounds what a feed source can make the gateway hold.
const DefaultMaxSize = 256 << 20

// ErrTooLarge: the feed is larger than the configured bound. It wraps no
// other error: a too large feed was not parsed.
var ErrTooLarge = errors.New("feed too large")

// limit is the bound in force, kept below MaxInt64 so that limit+1, the
// byte that shows a feed is too large, does not overflow.
func (e Expect) limit() int64 {
	if e.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return min(e.MaxSize, math.MaxInt64-1)
}
