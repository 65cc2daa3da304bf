package policyfeed

import "context"

// Source is where a feed comes from: a file now, an HTTP(S) URL later. The
// watcher only needs to know whether there is something new to parse.
type Source interface {
	// Fetch returns the feed's bytes and whether they differ from those of
	// the last successful Fetch. When changed is false, data may be nil
	// and the caller has nothing to do. The first successful Fetch always
	// reports changed.
	Fetch(ctx context.Context) (data []byte, changed bool, err error)
	// String names the source in logs, e.g. a path or a URL without
	// credentials.
	String() string
}

// maxFeedSize bounds what a source reads, so that a wrong path (a log file,
// a device) cannot exhaust memory. 1 GiB holds several million token
// records.
const maxFeedSize = 1 << 30
