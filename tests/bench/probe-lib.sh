# Shared by tests/bench/run-bench.sh, footprint.sh and start-time.sh (sourced, not run): waiting for an NTP server's
# first valid answer with timemesh-loadgen --probe (one request every 10 ms, loopback only). Needs LOADGEN set to
# the load generator. PROBE_PREFIX (an array, may be empty) goes before the load generator, e.g. (taskset -c 1).
#
#   probe_until_valid PORT TIMEOUT_MS OUT        until a server already started answers validly; 0 / non-0
#   probe_arm DIR PORT TIMEOUT_MS                a probe sending before the server exists: PROBE_PID, files in DIR
#   probe_fire DIR                               call right before exec'ing the server: the time counted from
#   probe_elapsed_ms DIR                         after `wait $PROBE_PID`: ms from probe_fire to the first valid answer

probe_until_valid() {
    timeout $(( $2 / 1000 + 30 )) "${PROBE_PREFIX[@]}" "$LOADGEN" --probe --target "127.0.0.1:$1" --timeout-ms "$2" >"$3" 2>&1
}

probe_arm() {
    local dir="$1" port="$2" ms="$3" _
    mkdir -p "$dir"
    rm -f "$dir/probe.ready" "$dir/start.ns"
    "${PROBE_PREFIX[@]}" "$LOADGEN" --probe --target "127.0.0.1:$port" --timeout-ms "$ms" \
        --ready-file "$dir/probe.ready" --start-file "$dir/start.ns" >"$dir/probe.txt" 2>"$dir/probe.err" &
    PROBE_PID=$!
    # The probe's own start-up (JIT) is not counted: the server starts once the probe is sending.
    for _ in $(seq 1 200); do [[ -e "$dir/probe.ready" ]] && return 0; sleep 0.05; done
    echo "the probe on 127.0.0.1:$port did not start within 10 s" >&2
    return 1
}

probe_fire() { date +%s%N > "$1/start.ns"; }

probe_elapsed_ms() { head -n 1 "$1/probe.txt" | sed -n 's/.*"elapsed_ms":\([0-9.]*\).*/\1/p'; }
