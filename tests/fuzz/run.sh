#!/usr/bin/env bash
# Bounded coverage-guided fuzzing: the NTP packet parser, the server handler, the config parser, the strict config file check and the NTS-KE
# record parser under libFuzzer, through SharpFuzz's instrumentation of TimeMesh.Core and TimeMesh.Node
# (tests/fuzz/README.md).
# Installs clang and libFuzzer's runtime from Debian when missing. Exits non-zero when a target crashes or
# when anything it needs is missing. FUZZ_SECONDS (default 15) is the time per target; FUZZ_WORK keeps the
# scratch directory (grown corpus, crash inputs, logs) instead of a temporary one.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
seconds=${FUZZ_SECONDS:-15}
# FUZZ_SEED: libFuzzer's -seed; 0 (the default) lets it pick one. The test command fixes one, so that a crash
# it finds is found again on the next run of the same code (at least as many executions in the time given).
seed=${FUZZ_SEED:-0}
read -r -a targets <<< "${FUZZ_TARGETS:-packet server config configcheck ntske cmdmon}"

runtime=$(compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' | head -1 || true)
clang=$(command -v clang-14 || command -v clang || true)
if [ -z "$runtime" ] || [ -z "$clang" ]; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
  clang=$(command -v clang-14 || command -v clang || true)
  runtime=$(compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' | head -1 || true)
fi
if [ -z "$runtime" ] || [ -z "$clang" ]; then
  echo "fuzz: FAILED: clang or libFuzzer's runtime (libclang_rt.fuzzer) is still missing" >&2
  exit 1
fi

if [ -n "${FUZZ_WORK:-}" ]; then work=$FUZZ_WORK; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi

"$clang" -O1 -fsanitize=fuzzer -o "$work/libfuzzer-dotnet" tests/fuzz/libfuzzer-dotnet.c
dotnet tool restore >/dev/null
rm -rf "$work/bin"
if ! dotnet publish tests/fuzz/TimeMesh.Fuzz -c Release -o "$work/bin" -p:UseAppHost=true >"$work/build.log" 2>&1; then
  grep -E 'error' "$work/build.log" >&2 || tail -20 "$work/build.log" >&2
  echo "fuzz: FAILED: build" >&2
  exit 1
fi
for assembly in TimeMesh.Core.dll TimeMesh.Node.dll; do
  dotnet sharpfuzz "$work/bin/$assembly" >/dev/null || { echo "fuzz: FAILED: could not instrument $assembly" >&2; exit 1; }
done
[ -x "$work/bin/timemesh-fuzz" ] || { echo "fuzz: FAILED: $work/bin/timemesh-fuzz was not built" >&2; exit 1; }

declare -A max_len=([packet]=1200 [server]=4096 [config]=4096 [configcheck]=4096 [ntske]=4200 [cmdmon]=1000)
failed=0
total_runs=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  rm -rf "$corpus" "$work/crashes/$target"
  mkdir -p "$corpus" "$work/crashes/$target"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  seeds=$(ls tests/fuzz/corpus/"$target" | wc -l)
  log="$work/$target.log"
  set +e
  # -timeout=30: an input that sends Akka's parser into its loop restarts the target (a .NET start without tiered
  # compilation); on a loaded machine a run of those restarts took over 10 s and was reported as a hang.
  FUZZ_TARGET_EXE="$work/bin/timemesh-fuzz" FUZZ_TARGET_ARG="$target" DOTNET_TieredCompilation=0 \
    "$work/libfuzzer-dotnet" -max_total_time="$seconds" -seed="$seed" -timeout=30 -max_len="${max_len[$target]}" \
    -print_final_stats=1 -artifact_prefix="$work/crashes/$target/" "$corpus" >"$log" 2>&1
  status=$?
  set -e
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  features=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || echo '?')
  corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+' || echo '?')
  crashes=$(ls "$work/crashes/$target" | wc -l)
  restarts=$(grep -oE 'restarted [0-9]+ times' "$log" | grep -oE '[0-9]+' || echo 0)
  total_runs=$((total_runs + ${runs:-0}))
  echo "fuzz: $target: ${runs:-0} executions in ${seconds}s, $features coverage features (edges), corpus $seeds seeds -> $corp inputs, $crashes crash inputs, $restarts restarts on Akka's HOCON loop, libFuzzer exit $status"
  # A target that ran no further than its seeds did not run at all (a broken harness); how far past them it gets
  # in the time given depends on the machine's load (the config target, Akka's HOCON parser, did 33 runs in 10 s
  # at load 25 in a fresh-clone run, 3 946 in 15 s on a quiet one).
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ] || [ "${runs:-0}" -le "$seeds" ]; then
    failed=1
    echo "fuzz: $target FAILED; libFuzzer's log:" >&2
    tail -40 "$log" >&2
    for f in "$work/crashes/$target"/*; do
      [ -f "$f" ] && { echo "crash input $f:" >&2; xxd "$f" | head -20 >&2; }
    done
  fi
done
echo "fuzz: $total_runs executions in total"
exit $failed
