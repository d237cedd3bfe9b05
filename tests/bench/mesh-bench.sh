#!/usr/bin/env bash
# Mesh convergence benchmark: N `timemesh run` processes on loopback (2 masters, each with its own chronyd
# upstream that never touches the clock, and N-2 members), all started at once. Reports the time from the
# start to every member's first valid (synchronised) answer, and every node's VmRSS once converged.
#
#   tests/bench/mesh-bench.sh [--nodes N (default 10, 3-30)] [--no-build] [--out FILE]
#
# Bounded: each probe gives up after 120 s; everything started here is killed on exit. Loopback only.
set -euo pipefail
NODES=10
BUILD=1
OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) NODES="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "mesh-bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$NODES" =~ ^[0-9]+$ && "$NODES" -ge 3 && "$NODES" -le 30 ]] || { echo "--nodes must be 3-30" >&2; exit 2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TIMEMESH="$REPO/src/TimeMesh/bin/Release/net10.0/timemesh"
LOADGEN="$REPO/tests/bench/TimeMesh.LoadGen/bin/Release/net10.0/timemesh-loadgen"
WORK="$(mktemp -d /tmp/timemesh-mesh-bench.XXXXXX)"
chmod 700 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ $BUILD -eq 1 ]]; then
    dotnet build -c Release "$REPO/src/TimeMesh" -v q -nologo >/dev/null
    dotnet build -c Release "$REPO/tests/bench/TimeMesh.LoadGen" -v q -nologo >/dev/null
fi
command -v chronyd >/dev/null || { echo "chronyd is missing: apt-get install chrony" >&2; exit 1; }

# A base port with room for everything (NTP base+i, cluster base+100+i, upstream base+200).
BASE=$(( 20000 + RANDOM % 20000 ))
UPSTREAM=$(( BASE + 200 ))
for ip in 1 2; do
    cat > "$WORK/up$ip.conf" <<CONF
port $UPSTREAM
bindaddress 127.0.0.$ip
local stratum 1
allow 127.0.0.0/8
cmdport 0
bindcmdaddress /
pidfile $WORK/up$ip.pid
CONF
    chronyd -x -d -u root -f "$WORK/up$ip.conf" >"$WORK/up$ip.log" 2>&1 &
    PIDS+=($!)
done
sleep 1

SEEDS="\"akka.tcp://timemesh@127.0.0.1:$((BASE + 100))\", \"akka.tcp://timemesh@127.0.0.1:$((BASE + 101))\""
for i in $(seq 0 $((NODES - 1))); do
    if [[ $i -lt 2 ]]; then
        role=master
        upstream="server = [ { address = \"127.0.0.$((i + 1))\", port = $UPSTREAM, iburst = on, minpoll = 0, maxpoll = 2 } ]
  local { stratum = 10 }"
    else
        role=member
        upstream=""
    fi
    cat > "$WORK/node$i.hocon" <<CONF
timemesh {
  role = $role
  listen = ["127.0.0.1:$((BASE + i))"]
  allow = ["127.0.0.0/8"]
  $upstream
  data-dir = "$WORK/data$i"
}
akka {
  loglevel = INFO
  remote.dot-netty.tcp { hostname = "127.0.0.1", port = $((BASE + 100 + i)) }
  cluster.seed-nodes = [$SEEDS]
}
CONF
done

START_NS=$(date +%s%N)
for i in $(seq 0 $((NODES - 1))); do
    "$TIMEMESH" run --config "$WORK/node$i.hocon" >"$WORK/node$i.log" 2>&1 &
    PIDS+=($!)
    NODE_PID[$i]=$!
done
# Every member's first valid answer (stratum 1-15, leap not 3): it follows the mesh.
for i in $(seq 2 $((NODES - 1))); do
    "$LOADGEN" --probe --target "127.0.0.1:$((BASE + i))" --timeout-ms 120000 --interval-ms 50 >"$WORK/probe$i.log" 2>&1 &
    PROBE_PID[$i]=$!
done
# Waiting for each in turn: when the last wait returns, the slowest member has converged.
FAILED=0
for i in $(seq 2 $((NODES - 1))); do
    wait "${PROBE_PID[$i]}" || FAILED=$((FAILED + 1))
done
CONVERGED_NS=$(date +%s%N)
CONVERGE_MS=$(( (CONVERGED_NS - START_NS) / 1000000 ))
sleep 2
{
    echo "## Mesh convergence ($NODES nodes: 2 masters + $((NODES - 2)) members, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs)"
    echo
    echo "All $NODES processes started at once; converged = every member answered with a valid (synchronised) reply."
    echo
    echo "- members that never converged within 120 s: $FAILED"
    echo "- start → last member converged: ${CONVERGE_MS} ms"
    echo
    echo "| node | role | VmRSS (MB) | stratum served |"
    echo "|---|---|---:|---:|"
    total=0
    for i in $(seq 0 $((NODES - 1))); do
        pid=${NODE_PID[$i]}
        rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + rss_kb))
        role=$([[ $i -lt 2 ]] && echo master || echo member)
        stratum=$(grep -o 'synchronised to [^ ]* at stratum [0-9]*' "$WORK/node$i.log" | tail -1 | awk '{print $NF}')
        echo "| $i | $role | $(awk "BEGIN {printf \"%.1f\", $rss_kb/1024}") | ${stratum:-?} |"
    done
    echo
    echo "Mean VmRSS per node: $(awk "BEGIN {printf \"%.1f\", $total/1024/$NODES}") MB."
} | tee "${OUT:-/dev/null}"
[[ $FAILED -eq 0 ]]
