package integration

// The tests run a Caddy binary built from cmd/caddy in TestMain. Importing
// the same code here makes it a dependency of the test package, so that go
// test's result cache is invalidated when it changes instead of replaying
// a result for code that is no longer there.
import (
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/patgate/patgate/caddymodule"
)
