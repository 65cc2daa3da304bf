#!/usr/bin/env bash
# Soak: the gateway under load for a few minutes with feed swaps, lookup
# outages and config reloads injected (loopback only). Reports wrong
# decisions and unexpected 5xx (both must be 0), dropped connections, and
# RSS over time (must stay flat).
#
#   bench/soak.sh [duration=2m] [workers=16]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/caddy" ./cmd/caddy
go run ./bench/soak -caddy "$work/caddy" -duration "${1:-2m}" -workers "${2:-16}"
