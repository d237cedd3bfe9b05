#!/usr/bin/env bash
# Runs every TimeMesh test. Installs what the tests need from Debian when it is missing (chrony for the
# interop tests, postgresql for the persistence tests, chromium for the status page, nftables for the chaos suite), then builds and tests the whole solution in Release.
# Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chronyd >/dev/null 2>&1 || need+=(chrony)
# systemd-analyze verify checks deploy/systemd/timemesh.service (systemd is installed, never booted).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# tests/docker/check.sh reads compose.yaml with PyYAML and wires namespaces with ip (iproute2).
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The chaos suite (tests/TimeMesh.Chaos) partitions its namespaces with nft.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
# The status page tests load the page in headless Chromium.
[ -x /usr/bin/chromium ] || need+=(chromium)
# The persistence tests start a throwaway PostgreSQL cluster of their own (initdb + pg_ctl on a loopback port).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from Debian: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Installing the package may start a system chronyd that would discipline this machine's clock; the tests
# run their own with -x only. Stop any chronyd that runs without -x.
for pid in $(pgrep -x chronyd || true); do
  # -x never steers the clock; -Q only measures and prints. Anything else would discipline it.
  if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qE '(^| )-[a-zA-Z]*[xQ]'; then
    echo "stopping system chronyd (pid $pid): tests must never let a daemon steer this machine's clock"
    (command -v systemctl >/dev/null 2>&1 && systemctl stop chrony >/dev/null 2>&1) || kill "$pid" || true
  fi
done

log=$(mktemp)
# TIMEMESH_TEST_RESULTS=DIR keeps the trx files (per-test outcomes and durations) in DIR; by default they go with the run.
if [ -n "${TIMEMESH_TEST_RESULTS:-}" ]; then
  results=$TIMEMESH_TEST_RESULTS; mkdir -p "$results"
  trap 'rm -f "$log"' EXIT
else
  results=$(mktemp -d)
  trap 'rm -f "$log"; rm -rf "$results"' EXIT
fi
started=$(date +%s)
set +e
dotnet test TimeMesh.sln -c Release --blame-hang-timeout 5m --results-directory "$results" --logger "trx;LogFilePrefix=tests" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Where the time went (the suite's budget is 20 minutes): the slowest tests, from the runs' trx files.
echo "build and tests took $(( $(date +%s) - started )) s; the slowest tests:"
python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
ns = '{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}'
rows = []
for f in glob.glob(sys.argv[1] + '/**/*.trx', recursive=True):
    for r in ET.parse(f).getroot().iter(ns + 'UnitTestResult'):
        h, m, s = (r.get('duration') or '0:0:0').split(':')
        rows.append((int(h) * 3600 + int(m) * 60 + float(s), r.get('outcome'), r.get('testName')))
for seconds, outcome, name in sorted(rows, reverse=True)[:12]:
    print(f"  {seconds:7.1f} s  {outcome:7}  {name[:140]}")
PY
# Every failed test by name, with the start of its message: CI shows only the end of this output.
python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
ns = '{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}'
failed = []
for f in glob.glob(sys.argv[1] + '/**/*.trx', recursive=True):
    for r in ET.parse(f).getroot().iter(ns + 'UnitTestResult'):
        if r.get('outcome') == 'Failed':
            message = r.find(f'{ns}Output/{ns}ErrorInfo/{ns}Message')
            text = (message.text or '') if message is not None else ''
            failed.append((r.get('testName'), ' '.join(text.split())[:300]))
if failed:
    print(f"failed tests ({len(failed)}):")
    for name, text in failed:
        print(f"  {name[:160]}\n      {text}")
PY

# Sum dotnet test's per-assembly lines ("Passed!  - Failed: 0, Passed: 80, Skipped: 0, ...").
awk '
  /(Passed|Failed)! +- +Failed: / {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { v = $(i+1); gsub(/,/, "", v); failed += v }
      if ($i == "Passed:")  { v = $(i+1); gsub(/,/, "", v); passed += v }
      if ($i == "Skipped:") { v = $(i+1); gsub(/,/, "", v); skipped += v }
    }
    found = 1
  }
  END {
    if (!found) { print "0 passed, 1 failed"; exit }
    printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
  }' "$log"
if [ "$status" -ne 0 ]; then
  echo "dotnet test exited with $status" >&2
  exit "$status"
fi
if ! grep -qE '(Passed|Failed)! +- +Failed: ' "$log"; then
  echo "no test ran" >&2
  exit 1
fi
