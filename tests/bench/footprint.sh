#!/usr/bin/env bash
# Footprint of a TimeMesh node next to chronyd: memory, idle CPU, threads, exec to first valid answer.
#
#   tests/bench/footprint.sh [--quick] [--long] [--idle S] [--starts N] [--requests N] [--no-build] [--timemesh PATH] [--out FILE]
#
# Starts, all at once on loopback (random free ports, everything killed by pid on exit):
#   upstream       chronyd -x, `local stratum 1`: the one upstream of the nodes below
#   tm-local       timemesh run, `local { stratum = 1 }` only          | chronyd-local   chronyd -x, `local stratum 1`
#   tm-up0         timemesh, one upstream at minpoll 0 / maxpoll 0       | chronyd-up0     chronyd -x, same server, poll 0
#   tm-up6         timemesh, one upstream at minpoll 6 / maxpoll 6       | chronyd-up6     chronyd -x, same server, poll 6
#   tm-master      mesh master (plain loopback cluster), the upstream at poll 6, `local { stratum = 10 }`
#   tm-member      mesh member of that master
#   tm-4up0        timemesh, four upstreams at poll 0 (the upstream and up2-up4,  | chronyd-4up0  the same four, poll 0
#   tm-4up6        chronyd -x on 127.0.0.2-4), and the same at poll 6             | chronyd-4up6  the same four, poll 6
# and reports for each process: RSS, Pss and private memory (/proc/PID/smaps_rollup) and threads once all
# answer (after a settle of 10 s), CPU ticks of the process itself (utime + stime from /proc/PID/stat) over an
# idle window (--idle S, default 60; --quick: 20), then memory and threads after --requests (default 1 000 000)
# NTP requests from tests/bench/TimeMesh.LoadGen (window 64, server-side pinning as in run-bench.sh) to each
# server; last, exec to first valid answer of a fresh tm-local / chronyd-local (the minimum of --starts runs,
# default 5; --quick: 3) and of a fresh tm-up0 / chronyd-up0 (first answer once synchronised to the upstream).
# The load average is recorded beside every phase: the machine's other work inflates ticks and times, never
# memory or thread counts. Traffic goes to 127.0.0.0/8 only; chronyd only ever runs with -x.
# Every node has its own control port and cmdport (the defaults, 11130 and 323, would go to the first node only).
# The four-source servers are left out of the request runs (the memory goals are for one source).
# --long also keeps every server polling for 10 minutes from its start (after the idle window, before any request)
# and reports memory and threads then: the memory a node grows to from polling alone.
# --timemesh PATH measures another build (e.g. a copy of an older bin/Release/net10.0/timemesh), with --no-build.
# The whole run takes about 4-6 minutes on a busy machine (--quick: about 2; --long: at least 10 more).
set -euo pipefail

IDLE_S=60
STARTS=5
REQUESTS=1000000
BUILD=1
OUT=""
SETTLE_S=10
TIMEMESH_ARG=""
LONG_S=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) IDLE_S=20; STARTS=3; shift ;;
        --long) LONG_S=600; shift ;;
        --idle) IDLE_S="$2"; shift 2 ;;
        --starts) STARTS="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --timemesh) TIMEMESH_ARG="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "footprint.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$IDLE_S" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "--idle must be 1-9999 seconds" >&2; exit 2; }
[[ "$STARTS" =~ ^[1-9][0-9]?$ ]] || { echo "--starts must be 1-99" >&2; exit 2; }
[[ "$REQUESTS" =~ ^[1-9][0-9]{0,7}$ ]] || { echo "--requests must be 1-99999999" >&2; exit 2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tests/bench/probe-lib.sh
source "$REPO/tests/bench/probe-lib.sh"
PROBE_PREFIX=()
LOADGEN="$REPO/tests/bench/TimeMesh.LoadGen/bin/Release/net10.0/timemesh-loadgen"
TIMEMESH="${TIMEMESH_ARG:-$REPO/src/TimeMesh/bin/Release/net10.0/timemesh}"
if [[ -n "$OUT" && "$OUT" != /* ]]; then OUT="$PWD/$OUT"; fi
WORK="$(mktemp -d /tmp/timemesh-footprint.XXXXXX)"
chmod 755 "$WORK"
cd "$WORK"
HZ="$(getconf CLK_TCK)"

log() { echo "[footprint] $*" >&2; }
die() { echo "[footprint] ERROR: $*" >&2; exit 1; }

PIDS=()
stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$BUILD" == 1 ]]; then
    log "building the load generator and timemesh (Release)"
    dotnet build -c Release "$REPO/tests/bench/TimeMesh.LoadGen" -nologo -v q >"$WORK/build-loadgen.log" 2>&1 \
        || { cat "$WORK/build-loadgen.log" >&2; die "load generator build failed"; }
    dotnet build -c Release "$REPO/src/TimeMesh" -nologo -v q >"$WORK/build-timemesh.log" 2>&1 \
        || { cat "$WORK/build-timemesh.log" >&2; die "timemesh build failed"; }
fi
[[ -x "$LOADGEN" ]] || die "load generator missing: $LOADGEN"
[[ -x "$TIMEMESH" ]] || die "timemesh binary missing: $TIMEMESH"
CHRONYD="$(command -v chronyd)" || die "chronyd missing (apt-get install chrony; tests/bench/run-bench.sh installs it safely)"

: > "$WORK/used-ports"
pick_port() { # a free UDP and TCP port not handed out before in this run (a file: callers run it in a subshell)
    local p try
    for try in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        grep -qx "$p" "$WORK/used-ports" && continue
        if [[ -z "$(ss -Hatuln "sport = :$p" 2>/dev/null)" ]]; then echo "$p" >> "$WORK/used-ports"; echo "$p"; return 0; fi
    done
    die "no free port found"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

SERVER_PID=""
start_chronyd() { # start_chronyd NAME PORT [SERVER_LINES] [ADDRESS]: -x always (the clock is never touched)
    local name="$1" port="$2" server="${3:-}" address="${4:-127.0.0.1}" dir="$WORK/$1"
    mkdir -p "$dir"
    if id _chrony >/dev/null 2>&1; then chown _chrony "$dir"; fi
    {
        echo "port $port"
        echo "bindaddress $address"
        echo "allow 127.0.0.1"
        echo "cmdport 0"
        echo "bindcmdaddress /"
        echo "pidfile $dir/chronyd.pid"
        echo "driftfile $dir/chrony.drift"
        if [[ -n "$server" ]]; then echo "$server"; else echo "local stratum 1"; fi
    } > "$dir/chrony.conf"
    "$CHRONYD" -x -d -f "$dir/chrony.conf" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}
start_timemesh() { # start_timemesh NAME BODY (the inside of timemesh { }) [AKKA]
    local name="$1" body="$2" akka="${3:-}" dir="$WORK/$1"
    mkdir -p "$dir/data"
    local control cmd; control="$(pick_port)"; cmd="$(pick_port)"
    printf 'timemesh {\n%s\n  data-dir = "%s/data"\n  control.listen = "127.0.0.1:%s"\n  cmdport = %s\n}\n%s\n' "$body" "$dir" "$control" "$cmd" "$akka" > "$dir/timemesh.conf"
    "$TIMEMESH" run --config "$dir/timemesh.conf" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}
wait_valid() { # wait_valid NAME PORT TIMEOUT_MS: until the server gives a valid (synchronised) answer
    PROBE_PREFIX=()
    if ! probe_until_valid "$2" "$3" "$WORK/$1/ready.txt"; then
        tail -n 30 "$WORK/$1/server.log" >&2 || true
        die "$1 gave no valid answer on 127.0.0.1:$2 within $3 ms"
    fi
}

# memory NAME PID -> "rss_kb pss_kb private_kb threads" (smaps_rollup: Rss, Pss, Private_Clean + Private_Dirty)
memory() {
    local pid="$2" th
    th="$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    awk -v th="$th" '/^Rss:/ {r = $2} /^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {v += $2} END {print r + 0, p + 0, v + 0, th}' "/proc/$pid/smaps_rollup"
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# breakdown PID -> "IL images R/P, native libraries R/P, JIT code R/P, native heap R/P, other anonymous R/P" (RSS/private MB)
breakdown() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6 ? $6 : "anon")
             if (name ~ /\.dll$/) c = "IL images"; else if (name ~ /\.so(\.|$)/) c = "native libraries"
             else if (name ~ /doublemapper/) c = "JIT code"; else if (name == "[heap]") c = "native heap"; else c = "other anonymous"
             next }
         /^Rss:/ { r[c] += $2 } /^Private_(Clean|Dirty):/ { v[c] += $2 }
         END { n = split("IL images,native libraries,JIT code,native heap,other anonymous", order, ",")
               for (i = 1; i <= n; i++) printf "%s%s %.1f/%.1f", (i > 1 ? ", " : ""), order[i], r[order[i]] / 1024, v[order[i]] / 1024 }' "/proc/$1/smaps"
}

declare -A PORT PID
UP_PORT="$(pick_port)"
for n in tm-local chronyd-local tm-up0 chronyd-up0 tm-up6 chronyd-up6 tm-master tm-member tm-4up0 chronyd-4up0 tm-4up6 chronyd-4up6; do PORT[$n]="$(pick_port)"; done
AKKA_MASTER="$(pick_port)"; AKKA_MEMBER="$(pick_port)"

log "starting 4 upstream chronyds and 12 servers (load average $(loadavg))"
start_chronyd upstream "$UP_PORT"; PID[upstream]="$SERVER_PID"
for u in 2 3 4; do start_chronyd "up$u" "$UP_PORT" "" "127.0.0.$u"; PID[up$u]="$SERVER_PID"; done
start_timemesh tm-local "  listen = [\"127.0.0.1:${PORT[tm-local]}\"]
  allow = [\"127.0.0.0/8\"]
  local { stratum = 1 }"; PID[tm-local]="$SERVER_PID"
start_chronyd chronyd-local "${PORT[chronyd-local]}"; PID[chronyd-local]="$SERVER_PID"
for p in 0 6; do
    start_timemesh "tm-up$p" "  listen = [\"127.0.0.1:${PORT[tm-up$p]}\"]
  allow = [\"127.0.0.0/8\"]
  server = [ { address = \"127.0.0.1\", port = $UP_PORT, iburst = on, minpoll = $p, maxpoll = $p } ]"; PID[tm-up$p]="$SERVER_PID"
    start_chronyd "chronyd-up$p" "${PORT[chronyd-up$p]}" "server 127.0.0.1 port $UP_PORT iburst minpoll $p maxpoll $p"
    PID[chronyd-up$p]="$SERVER_PID"
done
SEEDS="akka.cluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:$AKKA_MASTER\"]"
start_timemesh tm-master "  role = master
  listen = [\"127.0.0.1:${PORT[tm-master]}\"]
  mesh.masters = [\"127.0.0.1:${PORT[tm-master]}\"]
  allow = [\"127.0.0.0/8\"]
  server = [ { address = \"127.0.0.1\", port = $UP_PORT, iburst = on, minpoll = 6, maxpoll = 6 } ]
  local { stratum = 10 }" "akka { remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = $AKKA_MASTER }
  $SEEDS }"; PID[tm-master]="$SERVER_PID"
start_timemesh tm-member "  role = member
  listen = [\"127.0.0.1:${PORT[tm-member]}\"]
  mesh.masters = [\"127.0.0.1:${PORT[tm-master]}\"]
  allow = [\"127.0.0.0/8\"]" "akka { remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = $AKKA_MEMBER }
  $SEEDS }"; PID[tm-member]="$SERVER_PID"

for p in 0 6; do
    TM_SERVERS=""; CHRONY_SERVERS=""
    for u in 1 2 3 4; do
        TM_SERVERS+="${TM_SERVERS:+, }{ address = \"127.0.0.$u\", port = $UP_PORT, iburst = on, minpoll = $p, maxpoll = $p }"
        CHRONY_SERVERS+="server 127.0.0.$u port $UP_PORT iburst minpoll $p maxpoll $p"$'\n'
    done
    start_timemesh "tm-4up$p" "  listen = [\"127.0.0.1:${PORT[tm-4up$p]}\"]
  allow = [\"127.0.0.0/8\"]
  server = [ $TM_SERVERS ]"; PID[tm-4up$p]="$SERVER_PID"
    start_chronyd "chronyd-4up$p" "${PORT[chronyd-4up$p]}" "$CHRONY_SERVERS"; PID[chronyd-4up$p]="$SERVER_PID"
done
T_STARTED="$(date +%s)"

SERVERS=(tm-local chronyd-local tm-up0 chronyd-up0 tm-up6 chronyd-up6 tm-master tm-member tm-4up0 chronyd-4up0 tm-4up6 chronyd-4up6)
LOADED=(tm-local chronyd-local tm-up0 chronyd-up0 tm-up6 chronyd-up6 tm-master tm-member)
UPSTREAMS=(upstream up2 up3 up4)
wait_valid upstream "$UP_PORT" 30000
for n in "${SERVERS[@]}"; do
    wait_valid "$n" "${PORT[$n]}" 60000
    kill -0 "${PID[$n]}" 2>/dev/null || die "$n exited"
done
log "all answer; settling ${SETTLE_S} s"
sleep "$SETTLE_S"

declare -A START_MEM IDLE_TICKS LOAD_MEM
LA_START="$(loadavg)"
for n in "${UPSTREAMS[@]}" "${SERVERS[@]}"; do START_MEM[$n]="$(memory "$n" "${PID[$n]}")"; done

log "idle window ${IDLE_S} s (load average $LA_START)"
declare -A T0
for n in "${UPSTREAMS[@]}" "${SERVERS[@]}"; do T0[$n]="$(ticks "${PID[$n]}")"; done
sleep "$IDLE_S"
for n in "${UPSTREAMS[@]}" "${SERVERS[@]}"; do IDLE_TICKS[$n]=$(( $(ticks "${PID[$n]}") - T0[$n] )); done
LA_IDLE="$(loadavg)"

declare -A LONG_MEM
if [[ "$LONG_S" -gt 0 ]]; then
    left=$(( T_STARTED + LONG_S - $(date +%s) ))
    log "polling until ${LONG_S} s after the start (${left} s more; load average $(loadavg))"
    [[ "$left" -gt 0 ]] && sleep "$left"
    for n in "${SERVERS[@]}"; do LONG_MEM[$n]="$(memory "$n" "${PID[$n]}")"; done
    LA_LONG="$(loadavg)"
fi

# Requests: each server in turn, server pinned to CPU 0 and the load generator to CPU 1 (as run-bench.sh).
declare -A RPS
LA_LOAD_START="$(loadavg)"
for n in "${LOADED[@]}"; do
    while read -r tid; do taskset -p -c 0 "$tid" >/dev/null 2>&1 || true; done < <(ls "/proc/${PID[$n]}/task")
    out="$WORK/$n/load.txt"
    timeout 120 taskset -c 1 "$LOADGEN" --target "127.0.0.1:${PORT[$n]}" --window 64 --duration 60 \
        --max-requests "$REQUESTS" --timeout-ms 200 --spin --label "$n" >"$out" 2>&1 || { cat "$out" >&2; die "load run against $n failed"; }
    RPS[$n]="$(sed -n 's/.*"responses_per_s":\([0-9.]*\).*/\1/p' "$out" | head -n 1)"
    log "$n: $(sed -n 2p "$out")"
    while read -r tid; do taskset -p -c 0-"$(( $(nproc) - 1 ))" "$tid" >/dev/null 2>&1 || true; done < <(ls "/proc/${PID[$n]}/task")
done
sleep 2
declare -A BREAKDOWN ASSEMBLIES
for n in "${SERVERS[@]}"; do
    [[ " ${LOADED[*]} " == *" $n "* ]] && LOAD_MEM[$n]="$(memory "$n" "${PID[$n]}")"
    [[ "$n" == tm-* ]] || continue
    BREAKDOWN[$n]="$(breakdown "${PID[$n]}")"
    ASSEMBLIES[$n]="$(grep -o '[^/]*\.dll$' "/proc/${PID[$n]}/maps" | sort -u | wc -l)"
done
LA_LOAD="$(loadavg)"
for n in "${SERVERS[@]}" upstream; do
    [[ "$n" == upstream ]] && continue
    stop_pid "${PID[$n]}"
done

# Exec to first valid answer: a probe already sending every 10 ms, then a fresh server (run-bench.sh's method).
first_answer_ms() { # first_answer_ms KIND RUN -> prints ms
    local kind="$1" name="start-$1-$2" port pid
    port="$(pick_port)"
    PROBE_PREFIX=(taskset -c 1); probe_arm "$WORK/$name" "$port" 30000 || die "probe for $name did not start"
    PIDS+=("$PROBE_PID")
    probe_fire "$WORK/$name"
    case "$kind" in
        tm-local) start_timemesh "$name" "  listen = [\"127.0.0.1:$port\"]
  allow = [\"127.0.0.0/8\"]
  local { stratum = 1 }" ;;
        chronyd-local) start_chronyd "$name" "$port" ;;
        tm-up0) start_timemesh "$name" "  listen = [\"127.0.0.1:$port\"]
  allow = [\"127.0.0.0/8\"]
  server = [ { address = \"127.0.0.1\", port = $UP_PORT, iburst = on, minpoll = 0, maxpoll = 0 } ]" ;;
        chronyd-up0) start_chronyd "$name" "$port" "server 127.0.0.1 port $UP_PORT iburst minpoll 0 maxpoll 0" ;;
    esac
    pid="$SERVER_PID"
    wait "$PROBE_PID" || { cat "$WORK/$name/probe.txt" >&2; tail -n 20 "$WORK/$name/server.log" >&2; die "$name gave no valid answer"; }
    stop_pid "$pid"
    probe_elapsed_ms "$WORK/$name"
}
declare -A FIRST_MIN FIRST_ALL
LA_FIRST_START="$(loadavg)"
for kind in tm-local chronyd-local tm-up0 chronyd-up0; do
    all=""
    for r in $(seq 1 "$STARTS"); do all+="$(first_answer_ms "$kind" "$r") "; done
    FIRST_ALL[$kind]="$all"
    FIRST_MIN[$kind]="$(tr ' ' '\n' <<<"$all" | awk 'NF { if (m == "" || $1 < m) m = $1 } END { print m }')"
    log "$kind: first valid answer after exec (ms): $all"
done
LA_FIRST="$(loadavg)"

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
report() {
    echo "## Footprint ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "tests/bench/footprint.sh: $(nproc) CPUs, Linux $(uname -r); chronyd $("$CHRONYD" --version | awk '{print $4; exit}') with -x."
    echo "Memory from /proc/PID/smaps_rollup (private = Private_Clean + Private_Dirty), in MB; threads from /proc/PID/status."
    echo "Idle: CPU ticks (utime + stime, $HZ a second) of the process over ${IDLE_S} s, scaled to a minute."
    echo "Load averages (1/5/15 min): at the start of the idle window $LA_START; at its end $LA_IDLE; before the request runs $LA_LOAD_START, after them $LA_LOAD; before the start-up runs $LA_FIRST_START, after them $LA_FIRST."
    echo
    echo "| process | RSS start | Pss start | private start | threads start | idle ticks/min | idle % of a core | RSS after $REQUESTS req | Pss after | private after | threads after | responses/s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in "${SERVERS[@]}" "${UPSTREAMS[@]}"; do
        read -r r p v t <<<"${START_MEM[$n]}"
        local tpm pct lr lp lv lt
        tpm="$(awk -v t="${IDLE_TICKS[$n]}" -v s="$IDLE_S" 'BEGIN { printf "%.1f", t * 60 / s }')"
        pct="$(awk -v t="${IDLE_TICKS[$n]}" -v s="$IDLE_S" -v hz="$HZ" 'BEGIN { printf "%.2f", 100 * t / (s * hz) }')"
        if [[ -n "${LOAD_MEM[$n]:-}" ]]; then
            read -r lr lp lv lt <<<"${LOAD_MEM[$n]}"
            echo "| $n | $(mb "$r") | $(mb "$p") | $(mb "$v") | $t | $tpm | $pct | $(mb "$lr") | $(mb "$lp") | $(mb "$lv") | $lt | ${RPS[$n]} |"
        else
            echo "| $n | $(mb "$r") | $(mb "$p") | $(mb "$v") | $t | $tpm | $pct | – | – | – | – | – |"
        fi
    done
    echo
    if [[ "$LONG_S" -gt 0 ]]; then
        echo "After $(( LONG_S / 60 )) minutes of polling from the start, before any request (load average then $LA_LONG):"
        echo
        echo "| process | RSS | Pss | private | threads |"
        echo "|---|---:|---:|---:|---:|"
        for n in "${SERVERS[@]}"; do
            read -r r p v t <<<"${LONG_MEM[$n]}"
            echo "| $n | $(mb "$r") | $(mb "$p") | $(mb "$v") | $t |"
        done
        echo
    fi
    echo "The four-source servers (tm-4up*, chronyd-4up*) take no requests; their memory is given at the start only."
    echo
    echo "Where each node's memory is after the requests (/proc/PID/smaps; RSS/private MB; JIT code is the runtime's double-mapped"
    echo "executable memory, /memfd:doublemapper; other anonymous holds the GC heap):"
    echo
    for n in "${SERVERS[@]}"; do
        [[ -n "${BREAKDOWN[$n]:-}" ]] && echo "- $n (${ASSEMBLIES[$n]} assemblies mapped): ${BREAKDOWN[$n]}"
    done
    echo
    echo "Exec to first valid answer (minimum of $STARTS fresh starts; all runs in brackets, ms; -up0 = first answer once synchronised to the upstream):"
    echo
    for kind in tm-local chronyd-local tm-up0 chronyd-up0; do
        echo "- $kind: **${FIRST_MIN[$kind]} ms** [${FIRST_ALL[$kind]% }]"
    done
}
report | tee "${OUT:-/dev/null}"
