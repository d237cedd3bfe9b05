#!/usr/bin/env bash
# Exec to first valid NTP answer of one or more timemesh builds (framework-dependent, self-contained,
# single file...), each started RUNS times on a loopback config (`local { stratum = 1 }`, no upstream).
# Method of tests/bench/footprint.sh: a probe (timemesh-loadgen --probe, one request every 10 ms) runs
# first, then the server is exec'd; the time is from just before exec to the first valid answer.
#
# Usage: tests/bench/start-time.sh [--runs N] [--loadgen PATH] NAME=BINARY...
#   e.g. tests/bench/start-time.sh --runs 7 fdd=src/TimeMesh/bin/Release/net10.0/timemesh sf=artifacts/single-file/timemesh-0.2.0-linux-x64
# Each build gets one uncounted start first (a single file extracts its native libraries then; that start
# is printed as "first"), then the runs alternate between the builds so that the machine's load falls on
# all alike. Prints every run and the median and minimum per build (ms). Traffic: 127.0.0.1 only.
set -euo pipefail
RUNS=7
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tests/bench/probe-lib.sh
source "$REPO/tests/bench/probe-lib.sh"
PROBE_PREFIX=()
LOADGEN="$REPO/tests/bench/TimeMesh.LoadGen/bin/Release/net10.0/timemesh-loadgen"
names=(); bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --loadgen) LOADGEN=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *=*) names+=("${1%%=*}"); bins+=("$(realpath "${1#*=}")"); shift ;;
        *) echo "start-time.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "--runs must be 1-99" >&2; exit 2; }
[ ${#bins[@]} -gt 0 ] || { echo "start-time.sh: name at least one NAME=BINARY" >&2; exit 2; }
[ -x "$LOADGEN" ] || { echo "no $LOADGEN: dotnet build tests/bench/TimeMesh.LoadGen -c Release" >&2; exit 2; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done

WORK=$(mktemp -d /tmp/timemesh-starttime.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
pick_port() { python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_once() { # start_once INDEX TAG -> prints ms
    local i="$1" dir="$WORK/$2" port pid probe
    mkdir -p "$dir/data"
    port=$(pick_port)
    cat > "$dir/node.hocon" <<EOF
timemesh {
  listen = ["127.0.0.1:$port"]
  allow = ["127.0.0.0/8"]
  local { stratum = 1 }
  data-dir = "$dir/data"
  cmdport = 0
  control { listen = off, socket = off }
}
EOF
    PROBE_PREFIX=(); probe_arm "$dir" "$port" 60000 || exit 1
    probe=$PROBE_PID; PIDS+=("$probe")
    probe_fire "$dir"
    DOTNET_BUNDLE_EXTRACT_BASE_DIR="$WORK/extract-$i" "${bins[$i]}" run --config "$dir/node.hocon" > "$dir/node.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait "$probe" || { tail -n 20 "$dir/node.log" >&2; echo "${names[$i]} gave no valid answer" >&2; exit 1; }
    kill -TERM "$pid"; wait "$pid" || true
    probe_elapsed_ms "$dir"
}

declare -A ALL FIRST
for i in "${!bins[@]}"; do FIRST[$i]=$(start_once "$i" "first-$i"); done
for r in $(seq 1 "$RUNS"); do
    for i in "${!bins[@]}"; do ALL[$i]+="$(start_once "$i" "run-$r-$i") "; done
done
echo "exec to first valid NTP answer, ms ($RUNS runs each, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
for i in "${!bins[@]}"; do
    stats=$(tr ' ' '\n' <<<"${ALL[$i]}" | awk 'NF' | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %.0f, min %.0f", m, v[1] }')
    # A build with its assemblies beside it (framework-dependent, self-contained folder): the folder's size.
    if [ -f "${bins[$i]}.dll" ]; then size="folder $(du -sb "$(dirname "${bins[$i]}")" | cut -f1)"; else size="file $(stat -c %s "${bins[$i]}")"; fi
    printf '%-14s %s; first start %s; runs: %s(%s, %s bytes)\n' "${names[$i]}" "$stats" "${FIRST[$i]}" "${ALL[$i]}" "${bins[$i]}" "$size"
done
