#!/usr/bin/env bash
# Checks the timemesh .deb as Debian and an admin would: lintian (no errors), then in a throwaway Debian
# root (never on this machine): install beside a running "chronyd" (the unit must stay disabled and the
# admin be told), purge; install on a clean root (unit enabled, _timemesh user, modes), timemesh
# --version / doctor / check-config, `timemesh run` as _timemesh on a loopback config answering an NTP
# query, remove (config and state kept), purge (nothing of the package left, file list as before).
#
# Usage: tests/deb/check.sh [--deb FILE] [--base TAR] [--no-lintian]
#   --deb   the package (default: build it with packaging/deb/build.sh for this machine's architecture)
#   --base  a root tarball made by mmdebstrap (default: /tmp/timemesh-deb-base/bookworm.tar, made once
#           with `mmdebstrap --variant=minbase --include=adduser,libssl3` from the configured apt mirror)
# Needs root, dpkg-deb, lintian, mmdebstrap (for the base), ip, unshare, setpriv, python3.
#
# The root runs in a network namespace of its own (tmdeb-PID, loopback only), in its own PID and mount
# namespaces, with CAP_SYS_TIME dropped from the bounding set: nothing in it can set this machine's clock.
# Prints "ok: ..." per check; the last line is "deb check passed".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

deb=""
base=/tmp/timemesh-deb-base/bookworm.tar
run_lintian=1
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) deb=$(realpath "$2"); shift 2 ;;
        --base) base=$2; shift 2 ;;
        --no-lintian) run_lintian=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
fail() { echo "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
[ "$(id -u)" = 0 ] || fail "needs root (chroot, network namespace)"

tmp=$(mktemp -d /tmp/timemesh-debcheck.XXXXXX)
ns=tmdeb-$$
root=$tmp/root
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# What a fresh Debian machine lacks, from Debian (as tests/run-all.sh does for its tools).
missing=""
for tool in lintian:lintian mmdebstrap:mmdebstrap setpriv:util-linux ip:iproute2 readelf:binutils; do
    command -v "${tool%%:*}" >/dev/null || missing+=" ${tool#*:}"
done
if [ -n "$missing" ]; then
    echo "installing from Debian:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > "$tmp/apt.log" 2>&1 \
        || { apt-get update -q > /dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > "$tmp/apt.log" 2>&1; } \
        || { tail -n 20 "$tmp/apt.log"; fail "apt-get install$missing"; }
fi

if [ -z "$deb" ]; then
    t=$(now)
    deb=$(bash packaging/deb/build.sh --out "$tmp/out" | tail -n 1) || fail "packaging/deb/build.sh"
    echo "time: build $(took "$t") s"
fi
[ -f "$deb" ] || fail "no package at $deb"
arch=$(dpkg-deb -f "$deb" Architecture)
echo "package: $deb ($(stat -c %s "$deb") bytes, $arch, Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB)"

# 1. lintian: no errors; warnings and notes are printed.
if [ "$run_lintian" = 1 ]; then
    t=$(now)
    lintian --display-info --show-overrides "$deb" > "$tmp/lintian.txt" 2>&1 || true
    grep -v '^N:' "$tmp/lintian.txt" | grep -v 'running with root privileges' | sed 's/^/lintian: /' || true
    echo "time: lintian $(took "$t") s"
    ! grep -q '^E:' "$tmp/lintian.txt" || fail "lintian reports errors"
    echo "ok: lintian: no errors ($(grep -c "^W:" "$tmp/lintian.txt" || true) warnings, $(grep -c "^I:" "$tmp/lintian.txt" || true) notes, $(grep -c "^O:" "$tmp/lintian.txt" || true) overridden: packaging/deb/lintian-overrides)"
fi

# 2. The throwaway root.
[ "$arch" = "$(dpkg --print-architecture)" ] || { echo "skip: the install test needs an $arch machine"; echo "deb check passed"; exit 0; }
# A directory there is what an older version of this script left (mmdebstrap made one): made again as a tarball.
[ -d "$base" ] && rm -rf "$base"
if [ ! -f "$base" ]; then
    t=$(now)
    mkdir -p "$(dirname "$base")"
    # --format=tar: the output name ends in .part, from which mmdebstrap would guess a directory.
    mmdebstrap --variant=minbase --format=tar --include=adduser,libssl3 bookworm "$base.part" > "$tmp/mmdebstrap.log" 2>&1 \
        || { tail -n 20 "$tmp/mmdebstrap.log"; fail "mmdebstrap"; }
    mv "$base.part" "$base"
    echo "time: mmdebstrap $(took "$t") s"
fi
mkdir -p "$root"
tar -C "$root" -xf "$base"
cp "$deb" "$root/tmp/timemesh.deb"
ip netns add "$ns"
ip -n "$ns" link set lo up
# in_root SCRIPT: runs /bin/sh -c SCRIPT in the root: its own network (loopback only), PID and mount
# namespaces, a fresh /proc, no CAP_SYS_TIME.
in_root() {
    ip netns exec "$ns" setpriv --bounding-set -sys_time --inh-caps -sys_time \
        unshare --mount --pid --fork --mount-proc="$root/proc" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" /bin/sh -c "$1"
}
capbnd=$(in_root 'sed -n "s/^CapBnd:\t//p" /proc/self/status')
(( (16#$capbnd >> 25) & 1 )) && fail "CAP_SYS_TIME is still in the root's bounding set ($capbnd)"
echo "ok: throwaway root: bookworm minbase, own network/PID/mount namespaces, CAP_SYS_TIME dropped (CapBnd $capbnd)"
listing='find / -xdev \( -path /proc -o -path /tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /run \) -prune -o -print | grep -vE "^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$" | LC_ALL=C sort'
in_root "$listing" > "$tmp/files-before.txt"
enabled_link=/etc/systemd/system/multi-user.target.wants/timemesh.service

# 3. Another time daemon runs: installed, not enabled, the admin told; then purged.
t=$(now)
in_root 'cp /bin/sleep /tmp/chronyd && /tmp/chronyd 600 & sleep 0.5; dpkg -i /tmp/timemesh.deb; rc=$?; kill $!; exit $rc' \
    > "$tmp/install-beside.log" 2>&1 || { cat "$tmp/install-beside.log"; fail "dpkg -i beside a running chronyd"; }
echo "time: dpkg -i $(took "$t") s"
sed 's/^/  | /' "$tmp/install-beside.log"
grep -q 'timemesh: another time daemon is running or enabled' "$tmp/install-beside.log" || fail "postinst did not name the running chronyd"
grep -q 'chronyd runs (pid' "$tmp/install-beside.log" || fail "postinst did not pass on doctor's chronyd finding"
[ ! -e "$root$enabled_link" ] && [ ! -L "$root$enabled_link" ] || fail "timemesh.service was enabled beside a running chronyd"
echo "ok: beside a running chronyd the unit is installed but not enabled, and postinst says why"
in_root 'dpkg --purge timemesh' > "$tmp/purge-1.log" 2>&1 || { cat "$tmp/purge-1.log"; fail "dpkg --purge"; }

# 4. A clean root: installed and enabled.
in_root 'dpkg -i /tmp/timemesh.deb' > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i"; }
sed 's/^/  | /' "$tmp/install.log"
[ -L "$root$enabled_link" ] || fail "timemesh.service was not enabled on a root without another time daemon"
echo "ok: without another time daemon the unit is enabled ($enabled_link)"
facts=$(in_root 'getent passwd _timemesh; stat -c "%U:%G %a %n" /etc/timemesh/timemesh.hocon /var/lib/timemesh; readlink -f /usr/bin/timemesh; dpkg-statoverride --list')
echo "$facts" | sed 's/^/  | /'
grep -qE '^_timemesh:x:[0-9]+:[0-9]+::/var/lib/timemesh:/usr/sbin/nologin$' <<<"$facts" || fail "no _timemesh system user with home /var/lib/timemesh"
grep -qx 'root:_timemesh 640 /etc/timemesh/timemesh.hocon' <<<"$facts" || fail "the config is not root:_timemesh 0640"
grep -qx '_timemesh:_timemesh 700 /var/lib/timemesh' <<<"$facts" || fail "/var/lib/timemesh is not _timemesh 0700"
grep -qx '/usr/lib/timemesh/timemesh' <<<"$facts" || fail "/usr/bin/timemesh does not lead to /usr/lib/timemesh/timemesh"
unit=$root/lib/systemd/system/timemesh.service
grep -qx 'ExecStart=/usr/bin/timemesh run --config /etc/timemesh/timemesh.hocon' "$unit" || fail "the unit's ExecStart is not the installed binary and conffile"
grep -qx 'User=_timemesh' "$unit" && grep -qx 'Group=_timemesh' "$unit" || fail "the unit does not run as _timemesh"
grep -qx 'StateDirectory=timemesh' "$unit" || fail "the unit's StateDirectory is not /var/lib/timemesh"
grep -qE '^\s*allow\s*=\s*\[\s*\]' "$root/etc/timemesh/timemesh.hocon" || fail "the shipped config is not closed (allow = [])"
grep -qx '/etc/timemesh/timemesh.hocon' "$root/var/lib/dpkg/info/timemesh.conffiles" || fail "the config is not a conffile"
echo "ok: _timemesh user, config root:_timemesh 0640 (closed, a conffile), /var/lib/timemesh 0700, unit paths match"

version=$(in_root 'timemesh --version') || fail "timemesh --version"
echo "timemesh --version: $version"
[[ "$version" == "$(dpkg-deb -f "$deb" Version)+"* ]] || fail "timemesh --version printed '$version'"
in_root 'timemesh check-config --quiet /etc/timemesh/timemesh.hocon' || fail "the shipped config does not load"
echo "ok: timemesh runs from /usr/bin and loads the shipped config"
# The parts the node loads by name when a config asks (TimeMesh.Control, TimeMesh.Nts, Akka.Management through
# Cluster Bootstrap, TimeMesh.Persistence.PostgreSql) are in the package: a config using each one loads.
cat > "$root/tmp/parts.hocon" <<'HOCON'
timemesh {
  listen = ["127.0.0.1:11123"]
  allow = ["127.0.0.0/8"]
  server = [ { address = "127.0.0.1", nts = on } ]
  control.listen = "127.0.0.1:11130"
  persistence { provider = postgresql, connection-string = "Host=127.0.0.1;Database=timemesh" }
}
HOCON
in_root 'timemesh check-config --quiet /tmp/parts.hocon' || fail "a config with NTS, the monitoring endpoint and PostgreSQL does not load: a part is missing from the package"
echo "ok: the optional parts load (NTS source, monitoring endpoint, PostgreSQL drift store)"
set +e
in_root 'timemesh doctor' > "$tmp/doctor.txt" 2>&1
doctor_rc=$?
set -e
sed 's/^/  | /' "$tmp/doctor.txt"
grep -q '^ok *time-daemon: no chronyd' "$tmp/doctor.txt" || fail "doctor did not find the root free of time daemons"
grep -qE '^[0-9]+ failed, [0-9]+ warnings, [0-9]+ ok$' "$tmp/doctor.txt" || fail "doctor printed no summary (exit $doctor_rc)"
echo "ok: timemesh doctor runs in the root (exit $doctor_rc)"

# 5. timemesh run as _timemesh on a loopback config; an NTP query from outside the root (same namespace).
port=11923
cat > "$root/tmp/loopback.hocon" <<EOF
timemesh {
  listen = ["127.0.0.1:$port"]
  allow = ["127.0.0.0/8"]
  local { stratum = 10 }
  data-dir = "/var/lib/timemesh"
  cmdport = 0
  control { listen = off, socket = off }
}
EOF
chmod 0644 "$root/tmp/loopback.hocon"
in_root 'setpriv --reuid _timemesh --regid _timemesh --init-groups sh -c "echo \"node user \$(id -un)\"; exec timemesh run --config /tmp/loopback.hocon" > /tmp/node.log 2>&1 &
         node=$!; i=0
         while [ ! -e /tmp/stop ] && [ $i -lt 900 ]; do sleep 0.2; i=$((i + 1)); done
         kill -TERM $node; wait $node; echo "node exit code $?" >> /tmp/node.log' &
runner=$!
t=$(now)
stratum=$(ip netns exec "$ns" python3 tests/docker/ntp-query.py 127.0.0.1 "$port" 120) || { touch "$root/tmp/stop"; wait "$runner" || true; cat "$root/tmp/node.log"; fail "no NTP answer from timemesh run in the root"; }
echo "time: exec to first NTP answer in the root $(took "$t") s"
touch "$root/tmp/stop"
wait "$runner" || true
sed 's/^/  | /' "$root/tmp/node.log" | head -n 20
[ "$stratum" = 10 ] || fail "the answer's stratum is $stratum, not the configured local stratum 10"
grep -qx 'node exit code 0' "$root/tmp/node.log" || fail "timemesh run did not exit 0 on SIGTERM"
grep -qx 'node user _timemesh' "$root/tmp/node.log" || fail "the node did not run as _timemesh"
grep -q 'TimeMesh node started: .*data in /var/lib/timemesh' "$root/tmp/node.log" || fail "the node did not start on /var/lib/timemesh"
echo "ok: timemesh run as _timemesh (data in /var/lib/timemesh) answered an NTP query at stratum 10 and exited 0 on SIGTERM"

# 6. remove keeps config, state and user; purge leaves nothing of the package.
# A node that ran long enough keeps its drift state in data-dir (timemesh.db); the short run above wrote
# none, so a file of the node's user stands in for it: dpkg removes a package's directory only when empty.
in_root 'setpriv --reuid _timemesh --regid _timemesh --init-groups touch /var/lib/timemesh/timemesh.db' || fail "_timemesh cannot write /var/lib/timemesh"
in_root 'dpkg --remove timemesh' > "$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log"; fail "dpkg --remove"; }
[ ! -e "$root/usr/bin/timemesh" ] && [ ! -e "$root/usr/lib/timemesh" ] || fail "remove left the program"
[ -f "$root/etc/timemesh/timemesh.hocon" ] && [ -f "$root/var/lib/timemesh/timemesh.db" ] || fail "remove took the config or the state"
echo "ok: dpkg --remove takes the program, keeps the config and the state"
in_root 'dpkg --purge timemesh' > "$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg --purge"; }
in_root 'getent passwd _timemesh; getent group _timemesh; dpkg-statoverride --list; dpkg -l timemesh 2>/dev/null | grep ^ii' > "$tmp/after-purge.txt" || true
[ ! -s "$tmp/after-purge.txt" ] || { cat "$tmp/after-purge.txt"; fail "purge left the user, a statoverride or the package"; }
in_root "$listing" > "$tmp/files-after.txt"
if ! diff -u "$tmp/files-before.txt" "$tmp/files-after.txt" > "$tmp/files.diff"; then
    cat "$tmp/files.diff"; fail "purge left files behind (or took some)"
fi
echo "ok: dpkg --purge: no file, user, group or statoverride of the package left ($(wc -l < "$tmp/files-before.txt") paths as before)"
echo "deb check passed"
