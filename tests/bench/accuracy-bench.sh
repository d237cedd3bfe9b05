#!/usr/bin/env bash
# Side-by-side accuracy bench: a chronyd client and TimeMesh nodes take time from one chronyd upstream
# (`local stratum 1`), each through its own UDP delay relay with the same seeded delay sequence, and the
# time each serves is then sampled against this machine's clock (true offset 0: one clock for all).
#
#   tests/bench/accuracy-bench.sh [--path 100us|1ms|asym] [--seed N] [--warmup S] [--duration S]
#                                 [--no-user-space-node] [--no-build] [--no-idle-spin] [--out FILE]
#
# Paths (each direction on its own, base + exponential with the given mean):
#   100us: 100 µs + exp(100 µs) both ways      (chrony's simulation default)
#   1ms:   1 ms + exp(1 ms) both ways
#   asym:  out 100 µs + exp(100 µs), back 500 µs + exp(100 µs) (every client should read about -200 µs)
# Clients, all polling every second (minpoll 0, maxpoll 0, iburst):
#   chronyd           chronyd -x as client (never touches the clock), serving on 127.77.0.11
#   timemesh-kernel   a TimeMesh node, kernel transmit timestamps (the default), serving on 127.77.0.12
#   timemesh-user     a TimeMesh node with kernel-tx-timestamps = off (the old T1), serving on 127.77.0.13
# Loopback addresses 127.77.0.0/24 only; every process started here is stopped on exit. CPU: everything
# runs under the caller's niceness (run it with nice -n 19 on a shared machine).
#
# The relays (accuracy/relay.c, built here with gcc) count each delay from the kernel's receive timestamp and
# spin the last 150 µs before a datagram is due. A CPU woken from idle still takes ~90 µs here (a VM): a
# request reaching an idle relay then waits that much longer than the reply that follows it, and every client
# reads half of it as offset. So the bench keeps every CPU out of idle with one spinner per CPU at nice 19
# (what the kernel's idle=poll would do; --no-idle-spin turns it off). Measured through a relay with no
# delay: +44 µs with idle CPUs, +16 µs with the spinners; at 100 µs ± 100 µs +2.6 µs (n 120, chronyd served
# directly: -4.2 µs).
set -euo pipefail
PATH_KIND=100us
SEED=1
WARMUP=30
DURATION=120
USER_NODE=1
BUILD=1
IDLE_SPIN=1
OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --path) PATH_KIND="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --no-user-space-node) USER_NODE=0; shift ;;
        --no-build) BUILD=0; shift ;;
        --no-idle-spin) IDLE_SPIN=0; shift ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "accuracy-bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$PATH_KIND" in
    100us) DELAYS=(--out-base-us 100 --out-exp-us 100 --back-base-us 100 --back-exp-us 100) ;;
    1ms) DELAYS=(--out-base-us 1000 --out-exp-us 1000 --back-base-us 1000 --back-exp-us 1000) ;;
    asym) DELAYS=(--out-base-us 100 --out-exp-us 100 --back-base-us 500 --back-exp-us 100) ;;
    *) echo "--path must be 100us, 1ms or asym" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/bench/accuracy"
TIMEMESH="$REPO/src/TimeMesh/bin/Release/net10.0/timemesh"
WORK="$(mktemp -d /tmp/tmacc-bench.XXXXXX)"
chmod 700 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v chronyd >/dev/null || { echo "chronyd is missing: apt-get install chrony" >&2; exit 1; }
command -v gcc >/dev/null || { echo "gcc is missing (the relay is C): apt-get install gcc libc6-dev" >&2; exit 1; }
gcc -O2 -Wall -o "$WORK/relay" "$HERE/relay.c" -lm
if [[ $IDLE_SPIN -eq 1 ]]; then
    # One spinner per CPU at nice 19, bounded in time; each yields to anything else that runs.
    for _ in $(seq "$(nproc)"); do
        nice -n 19 timeout $(( WARMUP + DURATION + 120 )) bash -c 'while :; do :; done' &
        PIDS+=($!)
    done
fi
if [[ $BUILD -eq 1 ]]; then
    dotnet build -c Release "$REPO/src/TimeMesh" -v q -nologo --disable-build-servers >/dev/null
fi

BASE=$(( 20000 + RANDOM % 20000 ))
UP_PORT=$BASE
start_chronyd() {   # name, config lines...
    local name="$1"; shift
    mkdir -m 700 "$WORK/$name"
    printf '%s\n' "$@" "cmdport 0" "bindcmdaddress $WORK/$name/chronyd.sock" "pidfile $WORK/$name/chronyd.pid" > "$WORK/$name/chrony.conf"
    # -x: never adjust this machine's clock; -d: foreground; -u root: no privilege drop.
    chronyd -x -d -u root -f "$WORK/$name/chrony.conf" >"$WORK/$name/log" 2>&1 &
    PIDS+=($!)
}
start_relay() {   # index
    "$WORK/relay" --listen "127.77.0.$(( 1 + $1 )):$(( BASE + $1 ))" --upstream "127.77.0.1:$UP_PORT" --seed "$SEED" "${DELAYS[@]}" \
        2>"$WORK/relay$1.log" &
    PIDS+=($!)
}
start_node() {   # index, name, kernel-tx-timestamps
    local dir="$WORK/$2"
    mkdir -m 700 "$dir"
    cat > "$dir/node.hocon" <<CONF
timemesh {
  listen = ["127.77.0.$(( 10 + $1 )):$(( BASE + 10 + $1 ))"]
  allow = ["127.0.0.0/8"]
  server = [ { address = "127.77.0.$(( 1 + $1 ))", port = $(( BASE + $1 )), iburst = on, minpoll = 0, maxpoll = 0 } ]
  kernel-tx-timestamps = $3
  cmdport = 0
  control { listen = "127.77.0.$(( 10 + $1 )):$(( BASE + 20 + $1 ))", socket = "$dir/control.sock" }
  data-dir = "$dir/data"
}
CONF
    "$TIMEMESH" run --config "$dir/node.hocon" >"$dir/log" 2>&1 &
    PIDS+=($!)
}

start_chronyd upstream "port $UP_PORT" "bindaddress 127.77.0.1" "local stratum 1" "allow 127.0.0.0/8"
TARGETS=()
start_relay 1
start_chronyd client "server 127.77.0.2 port $(( BASE + 1 )) iburst minpoll 0 maxpoll 0" "port $(( BASE + 11 ))" \
    "bindaddress 127.77.0.11" "allow 127.0.0.0/8"
TARGETS+=(--target "chronyd=127.77.0.11:$(( BASE + 11 ))")
start_relay 2
start_node 2 timemesh-kernel on
TARGETS+=(--target "timemesh-kernel=127.77.0.12:$(( BASE + 12 ))")
if [[ $USER_NODE -eq 1 ]]; then
    start_relay 3
    start_node 3 timemesh-user off
    TARGETS+=(--target "timemesh-user=127.77.0.13:$(( BASE + 13 ))")
fi

sleep "$WARMUP"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULT=$(python3 "$HERE/sampler.py" "${TARGETS[@]}" --duration "$DURATION" --interval 0.5 --csv "$WORK/samples.csv")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -n "$OUT" ]] && cp "$WORK/samples.csv" "${OUT%.md}.$PATH_KIND.$(date -u +%H%M).csv"
TX_LINES=$(for n in timemesh-kernel timemesh-user; do
    [[ -S "$WORK/$n/control.sock" ]] || continue
    echo "$n: $("$TIMEMESH" tracking --socket "$WORK/$n/control.sock" 2>/dev/null | grep '^TX timestamps' || echo 'no tracking')"
done)
{
    echo "## accuracy bench: path $PATH_KIND, seed $SEED, warm-up ${WARMUP} s, sampled ${DURATION} s, idle spin $([[ $IDLE_SPIN -eq 1 ]] && echo on || echo off) ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $LOAD_BEFORE -> $LOAD_AFTER)"
    echo
    echo '```'
    echo "$RESULT"
    echo "$TX_LINES"
    echo '```'
} | tee -a "${OUT:-/dev/null}"
