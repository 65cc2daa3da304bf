#!/usr/bin/env bash
# Builds Caddy with the pat_policy module using xcaddy, the way Caddy plugins
# are usually built: ./xcaddy.sh [output]  (default ./caddy).
#
# The module comes from this checkout (--replace). The module proxy refuses
# patgate's module path with 403, which the go command treats as final, so
# the build runs with GOPROXY=off after this checkout's dependencies (Caddy
# and its standard modules included) are downloaded into the module cache.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-./caddy}
module=$(go list -m)
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
if ! command -v xcaddy >/dev/null 2>&1; then
	go install github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
	PATH="$(go env GOPATH)/bin:$PATH"
fi
go mod download
GOPROXY=off xcaddy build "$caddy_version" \
	--output "$out" \
	--with "$module/caddymodule" \
	--replace "$module=$(pwd)"
"$out" list-modules | grep -qx 'http.handlers.pat_policy'
echo "built $out with http.handlers.pat_policy ($caddy_version)"
