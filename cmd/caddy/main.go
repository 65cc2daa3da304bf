// Command caddy is a Caddy build with the standard modules and patgate's
// pat_policy handler, the same binary xcaddy.sh produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/patgate/patgate/caddymodule"
)

func main() {
	caddycmd.Main()
}
