#!/usr/bin/env bash
# Clone throughput through patgate against the same clone straight from the
# host, in the same run, alternating, on loopback only.
#
#   bench/git-clone.sh [size_mb=64] [rounds=4]
#
# A fake Git host (bench/fakehost: the real git http-backend) serves a
# repository of incompressible data; Caddy with pat_policy sits in front of
# it with a fine-grained token the feed approves, so every request runs the
# full decision (the first clone warms the lookup cache). Prints each
# round's seconds and MB/s and the median ratio gateway/direct.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-64}
rounds=${2:-4}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/fakehost" ./bench/fakehost

token=github_pat_11BENCH_approvedFineGrainedTokenForCloneBench
fp=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
host_port=19100 gw_port=19101 admin_port=19102

# The repository: size_mb files of 1 MiB random data, one commit.
mkdir -p "$work/git/octo-org" "$work/seed"
git init --quiet --bare --initial-branch=main "$work/git/octo-org/big.git"
git -C "$work/seed" init --quiet --initial-branch=main
for i in $(seq 1 "$size_mb"); do head -c 1048576 /dev/urandom > "$work/seed/blob-$i.bin"; done
git -C "$work/seed" add .
git -C "$work/seed" -c user.name=bench -c user.email=bench@example.com commit --quiet -m data
git -C "$work/seed" push --quiet "$work/git/octo-org/big.git" main
repo_bytes=$(du -sb "$work/git/octo-org/big.git" | cut -f1)

FAKEHOST_SERVICE_TOKEN=bench-service-token "$work/fakehost" -listen "127.0.0.1:$host_port" -root "$work/git" \
	-repo octo-org/big:Organization:private 2>"$work/fakehost.log" &
pids+=($!)

cat > "$work/policy.json" <<JSON
{"version": 1,
 "organizations": [{"login": "octo-org", "fine_grained": {"access": "allow", "approval": "require"}, "classic": {"access": "restrict"}}],
 "tokens": [{"sha256": "$fp", "owner": "bench", "organizations": {"octo-org": "approved"}}]}
JSON
cat > "$work/Caddyfile" <<CADDY
{
	admin 127.0.0.1:$admin_port
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
http://127.0.0.1:$gw_port {
	pat_policy {
		feed $work/policy.json
		lookup http://127.0.0.1:$host_port/api/v3
		lookup_token {env.PATGATE_LOOKUP_TOKEN}
	}
	reverse_proxy 127.0.0.1:$host_port
}
CADDY
PATGATE_LOOKUP_TOKEN=bench-service-token HOME="$work" XDG_DATA_HOME="$work" XDG_CONFIG_HOME="$work" \
	"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile 2>"$work/caddy.log" &
pids+=($!)
for port in $host_port $gw_port; do
	for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

calc() { awk "BEGIN { print $1 }"; }

clone() { # url → seconds
	rm -rf "$work/clone"
	local start end
	start=$(date +%s.%N)
	git -c credential.helper= -c "credential.helper=!f() { echo username=x-access-token; echo password=$token; }; f" \
		clone --quiet --no-checkout "$1" "$work/clone"
	end=$(date +%s.%N)
	calc "$end - $start"
}

direct="http://127.0.0.1:$host_port/octo-org/big.git"
gateway="http://127.0.0.1:$gw_port/octo-org/big.git"
clone "$direct" >/dev/null
clone "$gateway" >/dev/null # warms the lookup cache
mb=$(calc "$repo_bytes / 1048576")
printf 'repository: %.1f MB on disk (%s MiB of random data)\n' "$mb" "$size_mb"
printf '%-6s %-10s %-10s %-10s %-10s %-8s\n' round direct_s gateway_s direct_MBs gateway_MBs ratio
ratios=()
for r in $(seq 1 "$rounds"); do
	# Alternate which goes first, so drift on a shared machine cancels out.
	if (( r % 2 )); then d=$(clone "$direct"); g=$(clone "$gateway"); else g=$(clone "$gateway"); d=$(clone "$direct"); fi
	ratio=$(calc "$d / $g")
	ratios+=("$ratio")
	printf '%-6s %-10.3f %-10.3f %-10.1f %-10.1f %-8.3f\n' "$r" "$d" "$g" "$(calc "$mb / $d")" "$(calc "$mb / $g")" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')
printf 'median throughput ratio gateway/direct: %.3f over %s alternating pairs\n' "$median" "$rounds"
