#!/usr/bin/env bash
# Builds timemesh as one self-contained file per runtime: no .NET installation needed on the target.
#
# Usage: packaging/single-file/build.sh [--rid linux-x64|linux-arm64]... [--compress] [--out DIR]
#   --rid          runtime identifier, repeatable (default: both)
#   --compress     compress the bundled assemblies (EnableCompressionInSingleFile): the file is less than half
#                  the size, but each start decompresses them into private memory: +~35 MB RSS, +~0.3 s to
#                  the first answer here (docs/packaging.md)
#   --out          output folder (default: artifacts/single-file); the files are named timemesh-VERSION-RID
# Prints each file and its size.
#
# Native libraries (libe_sqlite3.so for the SQLite drift state) are inside the file too and are extracted
# at the first start to $DOTNET_BUNDLE_EXTRACT_BASE_DIR (default: ~/.net), which must be writable by the
# user that runs it. Not trimmed: Akka.NET loads actor-ref providers, serializers and persistence plugins
# by the type names in its HOCON, which the trimmer cannot see (docs/packaging.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
rids=()
compress=false
out=artifacts/single-file
while [ $# -gt 0 ]; do
    case "$1" in
        --rid) rids+=("$2"); shift 2 ;;
        --compress) compress=true; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64)
version=$(sed -n 's|.*<VersionPrefix>\(.*\)</VersionPrefix>.*|\1|p' Directory.Build.props)
mkdir -p "$out"
for rid in "${rids[@]}"; do
    case "$rid" in linux-x64|linux-arm64) ;; *) echo "build.sh: --rid must be linux-x64 or linux-arm64, not '$rid'" >&2; exit 2 ;; esac
    work=$(mktemp -d /tmp/timemesh-singlefile.XXXXXX)
    nice -n 19 dotnet publish src/TimeMesh/TimeMesh.csproj -c Release -r "$rid" --self-contained \
        -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
        -p:EnableCompressionInSingleFile=$compress \
        -o "$work" --disable-build-servers -nologo -v:q > "$work.log" 2>&1 \
        || { cat "$work.log" >&2; rm -rf "$work" "$work.log"; echo "build.sh: dotnet publish -r $rid failed" >&2; exit 1; }
    # Besides the file: symbols and XML docs of the TimeMesh assemblies, which nothing reads at run time.
    extra=$(cd "$work" && ls | grep -vx timemesh | grep -vE '\.(pdb|xml)$' || true)
    [ -z "$extra" ] || { echo "build.sh: the publish of $rid left files the run needs beside the executable: $extra" >&2; exit 1; }
    install -m 0755 "$work/timemesh" "$out/timemesh-$version-$rid"
    rm -rf "$work" "$work.log"
    printf '%s %s bytes\n' "$out/timemesh-$version-$rid" "$(stat -c %s "$out/timemesh-$version-$rid")"
    # On a machine of its architecture: the parts the node loads by name when a config asks (TimeMesh.Control,
    # TimeMesh.Nts, TimeMesh.Persistence.PostgreSql) are found inside the bundle.
    host_rid=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
    if [ "$rid" = "$host_rid" ]; then
        parts=$(mktemp /tmp/timemesh-singlefile-parts.XXXXXX.hocon)
        printf '%s\n' 'timemesh {' '  listen = ["127.0.0.1:11123"]' '  allow = ["127.0.0.0/8"]' \
            '  server = [ { address = "127.0.0.1", nts = on } ]' '  control.listen = "127.0.0.1:11130"' \
            '  persistence { provider = postgresql, connection-string = "Host=127.0.0.1;Database=timemesh" }' '}' > "$parts"
        extract=$(mktemp -d /tmp/timemesh-singlefile-extract.XXXXXX)
        DOTNET_BUNDLE_EXTRACT_BASE_DIR=$extract "$out/timemesh-$version-$rid" check-config --quiet "$parts" \
            || { rm -rf "$parts" "$extract"; echo "build.sh: the $rid single file does not load its optional parts (NTS, monitoring endpoint, PostgreSQL)" >&2; exit 1; }
        rm -rf "$parts" "$extract"
        echo "ok: the $rid single file loads its optional parts (NTS, monitoring endpoint, PostgreSQL)"
    fi
done
