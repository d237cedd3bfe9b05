#!/usr/bin/env bash
# Fail-over time of a TLS mesh with authenticated mesh NTP on (authenticate = auto) and off: 2 masters (each with its
# own chronyd upstream, -x) and 1 member as `timemesh run` processes on loopback addresses of their own. Once the
# member serves time from a master, that master is killed with SIGKILL; reported is the time from the kill until the
# member serves synchronised time (leap != 3) whose reference id is the other master.
#   tests/bench/mesh-nts-failover.sh [--runs N (default 3)] [--modes "auto off"]
# Bounded: each wait gives up after 60 s; everything started here is killed on exit. Loopback only.
set -euo pipefail
RUNS=3; MODES="auto off"
while [[ $# -gt 0 ]]; do case "$1" in --runs) RUNS="$2"; shift 2;; --modes) MODES="$2"; shift 2;; *) echo "unknown $1" >&2; exit 2;; esac; done
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TM="$REPO/src/TimeMesh/bin/Release/net10.0/timemesh"
WORK="$(mktemp -d /tmp/timemesh-nts-failover.XXXXXX)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
# query IP PORT -> "leap refid_ip" or "none"
query() { python3 - "$1" "$2" <<'PY'
import socket, sys, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
try:
    s.sendto(b'\x23' + 47 * b'\0', (sys.argv[1], int(sys.argv[2]))); d = s.recv(512)
    print(d[0] >> 6, socket.inet_ntoa(d[12:16]))
except Exception:
    print("none")
PY
}
for mode in $MODES; do
  for run in $(seq 1 "$RUNS"); do
    NET="127.$(( 100 + RANDOM % 150 )).$(( 1 + RANDOM % 250 ))"; A=$NET.1; B=$NET.2; M=$NET.3
    BASE=$(( 20000 + RANDOM % 20000 )); NTP=$BASE; UP=$((BASE+1)); KE=$((BASE+2)); CL=$((BASE+3))
    D="$WORK/$mode-$run"; mkdir -p "$D"
    "$TM" cert init --dir "$D/ca" >/dev/null
    "$TM" cert issue --dir "$D/ca" --role master --name a --ip $A --format pem --out "$D" >/dev/null
    "$TM" cert issue --dir "$D/ca" --role master --name b --ip $B --format pem --out "$D" >/dev/null
    "$TM" cert issue --dir "$D/ca" --role member --name m --ip $M --format pem --out "$D" >/dev/null
    for ip in $A $B; do
      printf 'port %s\nbindaddress %s\nlocal stratum 1\nallow 127.0.0.0/8\ncmdport 0\nbindcmdaddress /\npidfile %s/up-%s.pid\n' $UP $ip "$D" $ip > "$D/up-$ip.conf"
      chronyd -x -d -u root -f "$D/up-$ip.conf" > "$D/up-$ip.log" 2>&1 & PIDS+=($!)
    done
    for n in a b m; do
      case $n in a) ip=$A; role=master; extra="server = [ { address = \"$A\", port = $UP, iburst = on, minpoll = 0, maxpoll = 1 } ]";;
                 b) ip=$B; role=master; extra="server = [ { address = \"$B\", port = $UP, iburst = on, minpoll = 0, maxpoll = 1 } ]";;
                 m) ip=$M; role=member; extra="mesh.masters = [\"$A:$NTP\", \"$B:$NTP\"]";; esac
      cat > "$D/$n.hocon" <<CONF
timemesh {
  role = $role
  listen = ["$ip:$NTP"]
  allow = ["127.0.0.0/8"]
  $extra
  data-dir = "$D/data-$n"
  control.listen = off
  mesh.authenticate = $mode
  mesh.nts-port = $KE
  cluster-tls { certificate = "$D/$n.pem", key = "$D/$n-key.pem", ca = "$D/ca/ca.pem" }
}
akka {
  loglevel = INFO
  remote.dot-netty.tcp { hostname = "$ip", port = $CL }
  cluster.seed-nodes = ["akka.ssl.tcp://timemesh@$A:$CL", "akka.ssl.tcp://timemesh@$B:$CL"]
}
CONF
      "$TM" run --config "$D/$n.hocon" > "$D/$n.log" 2>&1 & PIDS+=($!); eval "PID_$n=$!"
    done
    # Wait until the member serves synchronised time from a master, and both masters have answered it.
    followed=""; t0=$(date +%s)
    while [[ $(( $(date +%s) - t0 )) -lt 60 ]]; do
      read -r leap ref <<<"$(query $M $NTP)"
      if [[ "$leap" != "none" && "$leap" != 3 && ( "$ref" == "$A" || "$ref" == "$B" ) ]]; then followed=$ref; break; fi
      sleep 0.2
    done
    [[ -n "$followed" ]] || { echo "$mode run $run: the member never synchronised"; continue; }
    sleep 6   # both masters warm (polled every 1-4 s)
    read -r leap ref <<<"$(query $M $NTP)"; followed=$ref
    if [[ "$followed" == "$A" ]]; then victim=$PID_a; other=$B; else victim=$PID_b; other=$A; fi
    kill -9 "$victim"; k=$(date +%s%N); result="timeout"
    while [[ $(( ($(date +%s%N) - k) / 1000000000 )) -lt 60 ]]; do
      read -r leap ref <<<"$(query $M $NTP)"
      if [[ "$leap" != "none" && "$leap" != 3 && "$ref" == "$other" ]]; then result=$(( ($(date +%s%N) - k) / 1000000 )); break; fi
      sleep 0.05
    done
    echo "mode=$mode run=$run killed=$followed failover_ms=$result"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; PIDS=(); sleep 1
  done
done
