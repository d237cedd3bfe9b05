#!/usr/bin/env bash
# Measures what a member-only embed pulls: packs the libraries TimeMesh.Hosting depends on, builds and publishes
# a fresh console app (samples/MeshClockApp's code) against the packed TimeMesh.Hosting from a local folder feed,
# and prints the number of packages in its restore graph, the size of its bin and publish folders and the
# number of assemblies in them. The issue-17 figures (docs/packaging.md) come from this script.
#
# Usage: tests/pack/embed-size.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
build_flag=()
if [ "${1:-}" = "--no-build" ]; then build_flag=(--no-build); fi
version=$(sed -n 's|.*<VersionPrefix>\(.*\)</VersionPrefix>.*|\1|p' Directory.Build.props)
run_version="$version-size.$(date -u +%Y%m%d%H%M%S).$$"
packages_dir=${NUGET_PACKAGES:-$HOME/.nuget/packages}
tmp=$(mktemp -d /tmp/timemesh-embed-size.XXXXXX)
cleanup() {
  rm -rf "$tmp"
  for dir in "$packages_dir"/timemesh*; do
    [ -d "$dir/$run_version" ] && rm -rf "${dir:?}/$run_version"
    rmdir "$dir" 2>/dev/null || true
  done
}
trap cleanup EXIT
dotnet pack TimeMesh.sln -c Release --disable-build-servers -o "$tmp/feed" "${build_flag[@]}" -p:PackageVersion="$run_version" -v:q -nologo > "$tmp/pack.log" 2>&1 \
  || { cat "$tmp/pack.log"; echo "FAIL: dotnet pack"; exit 1; }
echo "packed: $(cd "$tmp/feed" && ls ./*.nupkg | sed "s|^\./||; s|\.$run_version\.nupkg$||" | LC_ALL=C sort | tr '\n' ' ')"
hosting_version=$(sed -n 's|.*<PackageVersion Include="Microsoft.Extensions.Hosting" Version="\([^"]*\)".*|\1|p' Directory.Packages.props)
mkdir -p "$tmp/app"
cp samples/MeshClockApp/Program.cs "$tmp/app/"
cat > "$tmp/app/MeshClockApp.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="TimeMesh.Hosting" Version="$run_version" />
    <PackageReference Include="Microsoft.Extensions.Hosting" Version="$hosting_version" />
  </ItemGroup>
</Project>
XML
cat > "$tmp/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="timemesh-local" value="$tmp/feed" />
  </packageSources>
</configuration>
XML
(cd "$tmp/app" && dotnet build -c Release --disable-build-servers -nologo -v:q > "$tmp/build.log" 2>&1) || { cat "$tmp/build.log"; echo "FAIL: build"; exit 1; }
(cd "$tmp/app" && dotnet publish -c Release --disable-build-servers -nologo -v:q -o "$tmp/publish" > "$tmp/publish.log" 2>&1) || { cat "$tmp/publish.log"; echo "FAIL: publish"; exit 1; }
(cd "$tmp/app" && dotnet list package --include-transitive > "$tmp/list.txt")
top=$(grep -c '^   > ' "$tmp/list.txt" || true)
echo "packages in the restore graph: $(grep -cE '^   > ' "$tmp/list.txt") ($(sed -n '/Top-level/,/Transitive/p' "$tmp/list.txt" | grep -c '^   > ') top-level)"
grep -E '^   > ' "$tmp/list.txt" | awk '{print $2}' | LC_ALL=C sort | tr '\n' ' '; echo
frameworks=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(sorted(d.get('runtimeOptions',{}).get('frameworks',[d.get('runtimeOptions',{}).get('framework',{})]) and [f['name'] for f in d['runtimeOptions'].get('frameworks',[d['runtimeOptions'].get('framework')])])))" "$tmp/publish/MeshClockApp.runtimeconfig.json")
echo "shared frameworks: $frameworks"
bin="$tmp/app/bin/Release/net10.0"
echo "bin: $(du -sb "$bin" | cut -f1) bytes ($(du -sh "$bin" | cut -f1)), $(find "$bin" -name '*.dll' | wc -l) assemblies, $(find "$bin" -type f | wc -l) files"
echo "publish: $(du -sb "$tmp/publish" | cut -f1) bytes ($(du -sh "$tmp/publish" | cut -f1)), $(find "$tmp/publish" -name '*.dll' | wc -l) assemblies, $(find "$tmp/publish" -type f | wc -l) files"
echo "assemblies: $(cd "$bin" && ls ./*.dll | sed 's|^\./||' | tr '\n' ' ')"
