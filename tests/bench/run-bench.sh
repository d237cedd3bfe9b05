#!/usr/bin/env bash
# Loopback NTP benchmark: chronyd 4.x vs TimeMesh, same load generator, same run.
#
#   tests/bench/run-bench.sh [--out FILE] [--duration S] [--windows "1 64 128"] [--rounds N]
#                            [--chronyd-only] [--with-bare] [--no-build] [--quiet-wait S] [--retries N]
#                            [--key TYPE]
#
# Builds Release once, installs chrony if it is missing, starts chronyd (-x: it never touches the clock)
# and `timemesh run` on random free loopback ports, pins every server to CPU 0 and the load generator to
# CPU 1 with taskset, and for each window runs the load against chronyd and TimeMesh alternately.
# Then reports TimeMesh's VmRSS and the time from process start to the first valid answer for both.
# Every load run is bounded (duration, request cap, `timeout`); everything started here is killed on exit.
# Before each load run it waits (at most --quiet-wait S, default 60) for the machine to be below 10 % busy;
# a run during which other processes took more than 15 % of a CPU is repeated (at most --retries N,
# default 2) and, if never quiet, kept and flagged in the report.
# --with-bare adds the load generator's own bare batched responder (`timemesh-loadgen --respond`) as a
# third row: the ceiling of this machine's loopback with this load generator, not a real server.
# --key TYPE (MD5, SHA1, SHA256, SHA512, AES128, AES256, ...): every request carries a MAC under a random key of
# that type (made by `chronyc keygen`), which chronyd and TimeMesh both load from one keyfile; a reply counts
# only with a MAC under that key id and of the right length (the load generator does not verify digests).
# Traffic goes to 127.0.0.1 only. Prints a markdown report, also written to --out FILE.
set -euo pipefail

OUT=""
DURATION=5
WINDOWS="1 64 128"
ROUNDS=1
CHRONYD_ONLY=0
WITH_BARE=0
BUILD=1
WARMUP_MS=300
QUIET_WAIT_S=60
RETRIES=2
OTHER_MAX_PCT=15
KEY_TYPE=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --windows) WINDOWS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --chronyd-only) CHRONYD_ONLY=1; shift ;;
        --with-bare) WITH_BARE=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --quiet-wait) QUIET_WAIT_S="$2"; shift 2 ;;
        --retries) RETRIES="$2"; shift 2 ;;
        --key) KEY_TYPE="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "--duration must be seconds" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "--rounds must be 1-99" >&2; exit 2; }
[[ "$QUIET_WAIT_S" =~ ^[0-9]{1,4}$ ]] || { echo "--quiet-wait must be seconds" >&2; exit 2; }
[[ "$RETRIES" =~ ^[0-9]$ ]] || { echo "--retries must be 0-9" >&2; exit 2; }
[[ -z "$KEY_TYPE" || "$KEY_TYPE" =~ ^[A-Z0-9-]{2,12}$ ]] || { echo "--key must be a keyfile type such as SHA256 or AES128" >&2; exit 2; }
[[ -z "$KEY_TYPE" || "$WITH_BARE" == 0 ]] || { echo "--key and --with-bare do not go together (the bare responder does not sign)" >&2; exit 2; }
for w in $WINDOWS; do [[ "$w" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "bad window '$w'" >&2; exit 2; }; done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tests/bench/probe-lib.sh
source "$REPO/tests/bench/probe-lib.sh"
PROBE_PREFIX=()
LOADGEN="$REPO/tests/bench/TimeMesh.LoadGen/bin/Release/net10.0/timemesh-loadgen"
TIMEMESH="$REPO/src/TimeMesh/bin/Release/net10.0/timemesh"
WORK="$(mktemp -d /tmp/timemesh-bench.XXXXXX)"
chmod 755 "$WORK"
RESULTS="$WORK/results.tsv"
if [[ -n "$OUT" && "$OUT" != /* ]]; then OUT="$PWD/$OUT"; fi
cd "$WORK"   # every path below is absolute; nothing is left behind in the caller's directory
: > "$RESULTS"

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] ERROR: $*" >&2; exit 1; }

# ---- process bookkeeping: only what this script started is ever killed, by pid ----
PIDS=()
stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
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

# ---- CPU pinning ----
if [[ "$(nproc)" -ge 2 ]]; then
    SERVER_CPU=0; LOAD_CPU=1
    PIN_SERVER=(taskset -c "$SERVER_CPU"); PIN_LOAD=(taskset -c "$LOAD_CPU")
    PINNING="every server on CPU $SERVER_CPU, the load generator on CPU $LOAD_CPU (taskset)"
else
    PIN_SERVER=(); PIN_LOAD=()
    PINNING="no pinning (only $(nproc) CPU)"
fi

# ---- build once ----
if [[ "$BUILD" == 1 ]]; then
    log "building the load generator (Release)"
    dotnet build -c Release "$REPO/tests/bench/TimeMesh.LoadGen" -nologo -v q >"$WORK/build-loadgen.log" 2>&1 \
        || { cat "$WORK/build-loadgen.log" >&2; die "load generator build failed"; }
    if [[ "$CHRONYD_ONLY" == 0 ]]; then
        log "building timemesh (Release)"
        dotnet build -c Release "$REPO/src/TimeMesh" -nologo -v q >"$WORK/build-timemesh.log" 2>&1 \
            || { cat "$WORK/build-timemesh.log" >&2; die "timemesh build failed (src/TimeMesh)"; }
    fi
fi
[[ -x "$LOADGEN" ]] || die "load generator missing: $LOADGEN"
if [[ "$CHRONYD_ONLY" == 0 && ! -x "$TIMEMESH" ]]; then
    die "timemesh binary missing: $TIMEMESH (build src/TimeMesh, or pass --chronyd-only)"
fi

# ---- chrony ----
if ! command -v chronyd >/dev/null 2>&1; then
    log "installing chrony"
    # Keep the package's service from starting: a chronyd started by the package would steer the clock.
    POLICY=/usr/sbin/policy-rc.d
    POLICY_MADE=0
    if [[ ! -e "$POLICY" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$POLICY"; chmod 755 "$POLICY"; POLICY_MADE=1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chrony >/dev/null || {
        [[ "$POLICY_MADE" == 1 ]] && rm -f "$POLICY"; die "could not install chrony"; }
    [[ "$POLICY_MADE" == 1 ]] && rm -f "$POLICY"
fi
CHRONYD="$(command -v chronyd)"
CHRONY_VERSION="$("$CHRONYD" --version 2>/dev/null | awk '{print $4; exit}')"

# ---- symmetric key (--key): one keyfile for chronyd, TimeMesh and the load generator ----
KEYFILE=""; LOAD_KEY=(); CHRONY_KEY_LINE=""; TIMEMESH_KEY_LINE=""
if [[ -n "$KEY_TYPE" ]]; then
    KEYFILE="$WORK/bench.keys"
    chronyc keygen 1 "$KEY_TYPE" 160 > "$KEYFILE" || die "chronyc keygen cannot make a $KEY_TYPE key"
    grep -q "^1 $KEY_TYPE HEX:" "$KEYFILE" || die "chronyc keygen printed no $KEY_TYPE key: $(cat "$KEYFILE")"
    # chronyd reads it as _chrony after dropping root, so the one shared file is world-readable here;
    # TimeMesh refuses such a keyfile unless told otherwise (insecure-file-permissions, docs/security.md).
    chmod 644 "$KEYFILE"
    LOAD_KEY=(--keyfile "$KEYFILE" --key-id 1)
    CHRONY_KEY_LINE="keyfile $KEYFILE"
    TIMEMESH_KEY_LINE="keyfile = \"$KEYFILE\", insecure-file-permissions = on"
    log "requests signed with a $KEY_TYPE key (key 1 of $KEYFILE)"
fi

# ---- helpers ----
pick_port() {
    local p try
    for try in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if [[ -z "$(ss -Hauln "sport = :$p" 2>/dev/null)" ]]; then echo "$p"; return 0; fi
    done
    die "no free port found"
}

json_get() { # json_get LINE KEY: a string or number field of the load generator's one-line JSON
    local v
    v="$(sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1")"
    [[ -n "$v" ]] || v="$(sed -n "s/.*\"$2\":\([^,}\"]*\).*/\1/p" <<<"$1")"
    echo "$v"
}

SERVER_PID=""
start_chronyd() { # start_chronyd PORT NAME -> SERVER_PID
    local port="$1" dir="$WORK/$2"
    mkdir -p "$dir"
    if id _chrony >/dev/null 2>&1; then chown _chrony "$dir"; fi
    cat > "$dir/chrony.conf" <<EOF
port $port
bindaddress 127.0.0.1
local stratum 1
allow 127.0.0.1
cmdport 0
bindcmdaddress /
pidfile $dir/chronyd.pid
driftfile $dir/chrony.drift
$CHRONY_KEY_LINE
EOF
    "${PIN_SERVER[@]}" "$CHRONYD" -x -d -f "$dir/chrony.conf" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

start_timemesh() { # start_timemesh PORT NAME -> SERVER_PID
    local port="$1" dir="$WORK/$2"
    [[ -x "$TIMEMESH" ]] || die "timemesh binary missing: $TIMEMESH"
    mkdir -p "$dir/data"
    cat > "$dir/timemesh.conf" <<EOF
timemesh {
  listen = ["127.0.0.1:$port"]
  allow = ["127.0.0.0/8"]
  local { stratum = 1 }
  data-dir = "$dir/data"
  $TIMEMESH_KEY_LINE
}
EOF
    "${PIN_SERVER[@]}" "$TIMEMESH" run --config "$dir/timemesh.conf" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

start_bare() { # start_bare PORT NAME -> SERVER_PID: the load generator's own bare responder (a ceiling, not a server)
    local port="$1" dir="$WORK/$2" secs
    mkdir -p "$dir"
    secs="$(awk -v d="$DURATION" -v r="$ROUNDS" -v n="$(wc -w <<<"$WINDOWS")" 'BEGIN { s = (d + 1) * r * n * 3 * (1 + '"$RETRIES"') + 300; printf "%d", (s > 3600 ? 3600 : s) }')"
    "${PIN_SERVER[@]}" "$LOADGEN" --respond --target "127.0.0.1:$port" --duration "$secs" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

wait_ready() { # wait_ready PORT NAME PID TIMEOUT_MS
    local port="$1" name="$2" pid="$3" ms="$4"
    PROBE_PREFIX=()
    if ! probe_until_valid "$port" "$ms" "$WORK/$name/ready.txt"; then
        echo "--- $name log ---" >&2; tail -n 30 "$WORK/$name/server.log" >&2 || true
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up"
        die "$name did not answer on 127.0.0.1:$port within $ms ms"
    fi
}

# Busy share of all CPUs over ~1 s, from /proc/stat (user+nice+system+irq+softirq+steal over total).
cpu_busy_pct() {
    local a b
    a=($(head -n 1 /proc/stat)); sleep 1; b=($(head -n 1 /proc/stat))
    awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); total = 0
        for (i = 2; i <= n; i++) total += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%d", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# Other work on this machine skews every number: wait (bounded) until it is quiet, and note it if it never is.
NOISY_RUNS=0
wait_quiet() {
    local busy=0 i
    (( QUIET_WAIT_S == 0 )) && return 0
    for i in $(seq 1 "$QUIET_WAIT_S"); do
        busy="$(cpu_busy_pct)"
        (( busy <= 10 )) && return 0
        (( i == 1 )) && log "machine busy (${busy} % CPU) before a run; waiting up to ${QUIET_WAIT_S} s for quiet"
    done
    log "WARNING: machine still ${busy} % busy; running anyway"
}

vmrss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Busy and total jiffies of the whole machine: "busy total" (user nice system irq softirq steal; all fields).
machine_ticks() { awk 'NR == 1 { t = 0; for (i = 2; i <= NF; i++) t += $i; print $2 + $3 + $4 + $7 + $8 + $9, t; exit }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_load() { # run_load SERVER PORT WINDOW ROUND SERVER_PID
    local server="$1" port="$2" window="$3" round="$4" spid="$5" line out attempt m0 m1 s0 s1 other scpu noisy=0
    local hz; hz="$(getconf CLK_TCK)"
    for attempt in $(seq 1 $((RETRIES + 1))); do
        out="$WORK/load-$server-$window-$round-$attempt.txt"
        m0=($(machine_ticks)); s0="$(proc_ticks "$spid")"
        timeout "$(awk -v d="$DURATION" 'BEGIN{printf "%d", d + 60}')" "${PIN_LOAD[@]}" "$LOADGEN" \
            --target "127.0.0.1:$port" --window "$window" --duration "$DURATION" --warmup-ms "$WARMUP_MS" \
            --timeout-ms 200 --spin --label "$server" "${LOAD_KEY[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "load run against $server (window $window) failed"; }
        m1=($(machine_ticks)); s1="$(proc_ticks "$spid")"
        line="$(head -n 1 "$out")"
        [[ "$line" == "{"* ]] || { cat "$out" >&2; die "no result from the load run against $server"; }
        # CPU used by everything but this server and this load generator, in % of one CPU over the run
        # (it includes softirq work the kernel does not charge to either process).
        other="$(awk -v b="$((m1[0] - m0[0]))" -v t="$((m1[1] - m0[1]))" -v s="$((s1 - s0))" -v l="$(json_get "$line" cpu_s)" \
            -v hz="$hz" -v n="$(nproc)" 'BEGIN { wall = t / n; o = b - s - l * hz; printf "%d", (wall > 0 ? 100 * o / wall : 0) }')"
        scpu="$(awk -v s="$((s1 - s0))" -v t="$((m1[1] - m0[1]))" -v n="$(nproc)" -v hz="$hz" 'BEGIN { printf "%d", (t > 0 ? 100 * s * n / t : 0) }')"
        log "$(sed -n 2p "$out") [server CPU ${scpu} %, load generator CPU $(json_get "$line" cpu_s) s, other CPU use ${other} %]"
        if (( other <= OTHER_MAX_PCT )); then noisy=0; break; fi
        noisy=1
        if (( attempt <= RETRIES )); then log "other work took ${other} % of a CPU during this run; repeating it"; wait_quiet; fi
    done
    (( noisy )) && NOISY_RUNS=$((NOISY_RUNS + 1))
    echo "$line" >> "$WORK/results.jsonl"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$window" "$round" \
        "$(json_get "$line" responses_per_s)" "$(json_get "$line" loss_pct)" "$(json_get "$line" lost)" \
        "$(json_get "$line" sent)" "$(json_get "$line" p50_us)" "$(json_get "$line" p99_us)" "$other" "$noisy" "$scpu" >> "$RESULTS"
}

# ---- throughput: both servers up, loads alternate ----
SERVERS=(chronyd)
[[ "$CHRONYD_ONLY" == 0 ]] && SERVERS+=(timemesh)
[[ "$WITH_BARE" == 1 ]] && SERVERS+=(bare)
declare -A PORT PID
for s in "${SERVERS[@]}"; do
    PORT[$s]="$(pick_port)"
    "start_$s" "${PORT[$s]}" "$s"
    PID[$s]="$SERVER_PID"
done
for s in "${SERVERS[@]}"; do
    wait_ready "${PORT[$s]}" "$s" "${PID[$s]}" 30000
    log "$s answers on 127.0.0.1:${PORT[$s]} (pid ${PID[$s]})"
done

for round in $(seq 1 "$ROUNDS"); do
    for w in $WINDOWS; do
        order=("${SERVERS[@]}")
        if (( round % 2 == 0 )) && [[ ${#SERVERS[@]} -ge 2 ]]; then order=("${SERVERS[1]}" "${SERVERS[0]}" "${SERVERS[@]:2}"); fi
        for s in "${order[@]}"; do
            kill -0 "${PID[$s]}" 2>/dev/null || { tail -n 30 "$WORK/$s/server.log" >&2; die "$s died"; }
            wait_quiet
            run_load "$s" "${PORT[$s]}" "$w" "$round" "${PID[$s]}"
        done
    done
done

RSS_TM=""; RSS_CHRONY="$(vmrss_kb "${PID[chronyd]}")"
[[ "$CHRONYD_ONLY" == 0 ]] && RSS_TM="$(vmrss_kb "${PID[timemesh]}")"
for s in "${SERVERS[@]}"; do stop_pid "${PID[$s]}"; done

# ---- start-up: fresh process -> first valid answer ----
STARTUP_MS=""; STARTUP_INVALID=0; STARTUP_FIRST_INVALID=""; STARTUP_FIRST_INVALID_MS=""
startup_ms() { # startup_ms SERVER -> STARTUP_MS (runs in this shell so cleanup knows every pid)
    local server="$1" name="start-$1" port pid
    port="$(pick_port)"
    PROBE_PREFIX=("${PIN_LOAD[@]}"); probe_arm "$WORK/$name" "$port" 30000 || die "probe for $server did not start"
    PIDS+=("$PROBE_PID")
    probe_fire "$WORK/$name"
    "start_$server" "$port" "$name"
    pid="$SERVER_PID"
    if ! wait "$PROBE_PID"; then
        cat "$WORK/$name/probe.txt" >&2; tail -n 30 "$WORK/$name/server.log" >&2 || true
        die "$server gave no valid answer after start"
    fi
    stop_pid "$pid"
    local first; first="$(head -n 1 "$WORK/$name/probe.txt")"
    STARTUP_MS="$(json_get "$first" elapsed_ms)"
    STARTUP_INVALID="$(json_get "$first" invalid)"
    STARTUP_FIRST_INVALID="$(json_get "$first" first_invalid)"
    STARTUP_FIRST_INVALID_MS="$(json_get "$first" first_invalid_ms)"
    log "$server: first valid answer $STARTUP_MS ms after process start ($STARTUP_INVALID invalid replies before it)"
}
describe_invalid() { # text for the invalid replies a server sent before its first valid one
    if [[ "$STARTUP_INVALID" != 0 ]]; then echo " (before it, from $STARTUP_FIRST_INVALID_MS ms on, $STARTUP_INVALID invalid replies: $STARTUP_FIRST_INVALID)"; fi
}
startup_ms chronyd
START_CHRONY="$STARTUP_MS ms$(describe_invalid)"
START_TM=""
if [[ "$CHRONYD_ONLY" == 0 ]]; then startup_ms timemesh; START_TM="$STARTUP_MS ms$(describe_invalid)"; fi

# ---- report ----
report() {
    echo "## Loopback NTP benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(uname -m), Linux $(uname -r)); chronyd $CHRONY_VERSION (\`-x\`, \`local stratum 1\`, no ratelimit) vs \`timemesh run\` (\`local { stratum = 1 }\`, no ratelimit)."
    echo "Pinning: $PINNING. Load: tests/bench/TimeMesh.LoadGen, one thread, sendmmsg/recvmmsg in batches of 64, busy-polling (\`--spin\`),"
    echo "${DURATION} s per run after a ${WARMUP_MS} ms warm-up, requests unanswered after 200 ms counted lost; $ROUNDS round(s), servers alternating per window."
    if [[ -n "$KEY_TYPE" ]]; then
        echo "Every request carried a MAC under a random 160-bit (AES: the cipher's length) $KEY_TYPE key from \`chronyc keygen\`, loaded by both servers; only replies with a MAC under that key counted."
    fi
    echo "Responses/s, p50, p99 and server CPU (share of one CPU used by the server process during the run) are medians over the rounds; loss is summed."
    if [[ "$WITH_BARE" == 1 ]]; then
        echo "\`bare\` is the load generator's own batched responder (\`timemesh-loadgen --respond\`, no access control or client log): the ceiling of this setup, not a server to compare with."
    fi
    echo
    if (( NOISY_RUNS > 0 )); then
        echo "**Warning:** in $NOISY_RUNS load run(s) other processes took more than ${OTHER_MAX_PCT} % of a CPU even after $RETRIES repeat(s); treat those numbers as noisy."
        echo
    fi
    echo "| server | window | responses/s | loss | p50 µs | p99 µs | server CPU |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    # medians over rounds; loss summed over rounds
    awk -F'\t' '
        function median(list,   n, a, i, j, t) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { k = $1 SUBSEP $2; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
          rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $8; p99[k] = p99[k] " " $9; cpu[k] = cpu[k] " " $12; lost[k] += $6; sent[k] += $7 }
        END {
            for (i = 1; i <= m; i++) { k = order[i]; split(k, f, SUBSEP)
                printf "| %s | %s | %.0f | %.3f %% (%d of %d) | %.1f | %.1f | %d %% |\n", f[1], f[2], median(rps[k]), (sent[k] ? 100 * lost[k] / sent[k] : 0), lost[k], sent[k], median(p50[k]), median(p99[k]), median(cpu[k]) }
        }' "$RESULTS" | sort -t'|' -k2,2 -k3,3n
    if [[ "$CHRONYD_ONLY" == 0 ]]; then
        echo
        echo "| window | TimeMesh/chronyd (responses/s) |"
        echo "|---:|---:|"
        awk -F'\t' '
            { v[$1, $2, $3] = $4; w[$2] = 1; r[$3] = 1 }
            END {
                for (win in w) {
                    n = 0
                    for (rd in r) if (v["chronyd", win, rd] > 0) ratios[++n] = v["timemesh", win, rd] / v["chronyd", win, rd]
                    for (i = 2; i <= n; i++) { t = ratios[i]; for (j = i - 1; j >= 1 && ratios[j] > t; j--) ratios[j + 1] = ratios[j]; ratios[j + 1] = t }
                    med = n % 2 ? ratios[(n + 1) / 2] : (ratios[n / 2] + ratios[n / 2 + 1]) / 2
                    printf "| %s | %.2f× |\n", win, med
                    delete ratios
                }
            }' "$RESULTS" | sort -t'|' -k2,2n
        echo
        echo "TimeMesh VmRSS after the load runs: $(awk -v k="$RSS_TM" 'BEGIN{printf "%.1f", k / 1024}') MB (chronyd: $(awk -v k="$RSS_CHRONY" 'BEGIN{printf "%.1f", k / 1024}') MB)."
        echo
        echo "Process start → first valid answer (fresh process, probe every 10 ms): TimeMesh ${START_TM}; chronyd ${START_CHRONY}."
    else
        echo
        echo "chronyd VmRSS after the load runs: $(awk -v k="$RSS_CHRONY" 'BEGIN{printf "%.1f", k / 1024}') MB."
        echo
        echo "Process start → first valid answer (fresh process, probe every 10 ms): chronyd ${START_CHRONY}. (TimeMesh not run: --chronyd-only.)"
    fi
}

report > "$WORK/report.md"
cat "$WORK/report.md"
if [[ -n "$OUT" ]]; then
    mkdir -p "$(dirname "$OUT")"
    cp "$WORK/report.md" "$OUT"
    log "report written to $OUT"
fi
