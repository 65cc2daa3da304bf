#!/usr/bin/env bash
# Load benchmark: plain Caddy reverse_proxy, Caddy + pat_policy, and Caddy +
# forward_auth to a trivial authorizer, in one Caddy process, in front of the
# same fast upstream (bench/fakehost), on loopback only. wrk runs alternate
# between the three, so drift on a shared machine hits all of them alike;
# the figures that count are the medians of the per-round ratios.
#
#   bench/load.sh [rounds=10] [seconds=3] [connections=32]
#   LOAD_ONLY=lists bench/load.sh ...   # only the /user/repos section
#
# Needs wrk (apt-get install wrk). Prints req/s, p50 and p99 per run, then
# the median ratios, and the p99 latency the policy adds at moderate load
# (4 connections).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
secs=${2:-3}
conns=${3:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/fakehost" ./bench/fakehost

up=19200 plain=19201 pat=19202 fwd=19203 admin=19204
fp() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat > "$work/policy.json" <<JSON
{"version": 1,
 "organizations": [
   {"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}, "owners": ["alice"]},
   {"login": "open-org", "fine_grained": {"access": "allow", "approval": "disable"}, "classic": {"access": "allow"}}],
 "tokens": [
   {"sha256": "$(fp github_pat_11BENCH_approvedFineGrainedTokenForLoadBench)", "owner": "carol", "organizations": {"octo-org": "approved"}},
   {"sha256": "$(fp github_pat_11BENCH_pendingFineGrainedTokenForLoadBench0)", "owner": "dave", "organizations": {"octo-org": "pending"}}]}
JSON
cat > "$work/Caddyfile" <<CADDY
{
	admin 127.0.0.1:$admin
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
http://127.0.0.1:$plain {
	reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$pat {
	pat_policy {
		feed $work/policy.json
		feed_cache off
		lookup http://127.0.0.1:$up/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
		cache_ttl 1h
	}
	reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$fwd {
	forward_auth 127.0.0.1:$up {
		uri /__auth
	}
	reverse_proxy 127.0.0.1:$up
}
CADDY

FAKEHOST_SERVICE_TOKEN=bench-service "$work/fakehost" -listen "127.0.0.1:$up" \
	-repo octo-org/private:Organization:private -repo octo-org/public:Organization:public \
	-repo open-org/private:Organization:private -repo bob/dotfiles:User:private 2>"$work/fakehost.log" &
pids+=($!)
PATGATE_LOOKUP_TOKEN=bench-service HOME="$work" XDG_DATA_HOME="$work" XDG_CONFIG_HOME="$work" \
	"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile 2>"$work/caddy.log" &
pids+=($!)
for port in $up $plain $pat $fwd; do
	for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

run() { # port seconds connections [script] → "rps p50 p99 errors"
	wrk -t1 -c"$3" -d"$2s" -s "${4:-bench/mix.lua}" "http://127.0.0.1:$1" | awk '/^RESULT/ {
		split($2,a,"="); split($3,b,"="); split($4,c,"="); split($5,d,"="); print a[2], b[2], c[2], d[2] }'
}
# Warm up every path (JIT-free Go still has cold caches: lookups, pools).
for port in $plain $pat $fwd; do run "$port" 2 "$conns" >/dev/null; done

printf 'machine: %s, %s cores; %s rounds of %ss, %s connections, 1 wrk thread\n' "$(uname -m)" "$(nproc)" "$rounds" "$secs" "$conns"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2 }'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }'; }
if [[ ${LOAD_ONLY:-} != lists ]]; then
printf '%-6s %-12s %10s %8s %8s %6s\n' round config req/s p50_us p99_us errors
declare -a r_pat r_fwd r_patfwd
for r in $(seq 1 "$rounds"); do
	# Rotate the order each round.
	case $((r % 3)) in
	0) order="plain pat fwd" ;;
	1) order="pat fwd plain" ;;
	2) order="fwd plain pat" ;;
	esac
	declare -A rps
	for cfg in $order; do
		port=${!cfg}
		read -r q p50 p99 errs < <(run "$port" "$secs" "$conns")
		rps[$cfg]=$q
		printf '%-6s %-12s %10s %8s %8s %6s\n' "$r" "$cfg" "$q" "$p50" "$p99" "$errs"
	done
	r_pat+=("$(awk -v a="${rps[pat]}" -v b="${rps[plain]}" 'BEGIN { print a / b }')")
	r_fwd+=("$(awk -v a="${rps[fwd]}" -v b="${rps[plain]}" 'BEGIN { print a / b }')")
	r_patfwd+=("$(awk -v a="${rps[pat]}" -v b="${rps[fwd]}" 'BEGIN { print a / b }')")
done
m_pat=$(median "${r_pat[@]}") m_fwd=$(median "${r_fwd[@]}") m_patfwd=$(median "${r_patfwd[@]}")
echo
printf 'median throughput ratio patgate/plain:       %.3f  (goal >= 0.97; rounds %s)\n' "$m_pat" "$(spread "${r_pat[@]}")"
printf 'median throughput ratio forward_auth/plain:  %.3f  (rounds %s)\n' "$m_fwd" "$(spread "${r_fwd[@]}")"
printf 'median throughput ratio patgate/forward_auth: %.3f  (plain/forward_auth = %.3f; headroom kept %.1f%%, goal >= 95%%)\n' \
	"$m_patfwd" "$(awk -v f="$m_fwd" 'BEGIN { print 1 / f }')" \
	"$(awk -v p="$m_patfwd" -v f="$m_fwd" 'BEGIN { h = 1 / f - 1; print (h > 0 ? (p - 1) / h * 100 : 0) }')"

# Latency the policy adds at moderate load: 4 connections, alternating.
declare -a added
for r in $(seq 1 "$rounds"); do
	if (( r % 2 )); then
		read -r _ _ p99plain _ < <(run "$plain" "$secs" 4); read -r _ _ p99pat _ < <(run "$pat" "$secs" 4)
	else
		read -r _ _ p99pat _ < <(run "$pat" "$secs" 4); read -r _ _ p99plain _ < <(run "$plain" "$secs" 4)
	fi
	added+=("$((p99pat - p99plain))")
	printf 'moderate load round %s: p99 plain %sus, patgate %sus\n' "$r" "$p99plain" "$p99pat"
done
printf 'median p99 added by the policy at 4 connections: %sus  (goal <= 100us)\n' "$(median "${added[@]}")"
fi

# A restricted token's /user/repos page of 30 repositories of about 5 KB
# (SPEC §10): the time the answer check adds at p50 and p99, alternating,
# at 4 connections (the goal's figure: on 2 cores shared by wrk, the
# upstream and Caddy, that is saturation, where added CPU time shows about
# twice over as queueing) and at 1 (the check's own latency). Plain Caddy
# forwards all 30; the gateway checks each and sends the ones the token
# may read.
for c in 4 1; do
	declare -a add50=() add99=()
	for r in $(seq 1 "$rounds"); do
		if (( r % 2 )); then
			read -r _ p50plain p99plain _ < <(run "$plain" "$secs" $c bench/userrepos.lua); read -r _ p50pat p99pat _ < <(run "$pat" "$secs" $c bench/userrepos.lua)
		else
			read -r _ p50pat p99pat _ < <(run "$pat" "$secs" $c bench/userrepos.lua); read -r _ p50plain p99plain _ < <(run "$plain" "$secs" $c bench/userrepos.lua)
		fi
		add50+=("$((p50pat - p50plain))"); add99+=("$((p99pat - p99plain))")
		printf '/user/repos, %s connections, round %s: p50 plain %sus, patgate %sus; p99 plain %sus, patgate %sus\n' "$c" "$r" "$p50plain" "$p50pat" "$p99plain" "$p99pat"
	done
	printf 'median added to a restricted /user/repos page at %s connections: p50 %sus (goal <= 500us), p99 %sus (goal <= 2000us)\n' "$c" "$(median "${add50[@]}")" "$(median "${add99[@]}")"
done
