#!/usr/bin/env bash
# Packs TimeMesh and uses the packages as a .NET user would: installs the timemesh tool from the local
# folder feed into a throw-away --tool-path and runs it, then builds a fresh console app (the code of
# samples/MeshClockApp), the snippet of the package's readme and every csharp block of docs/embedding.md against
# the packed TimeMesh.Hosting, every
# other package coming from the machine's usual NuGet sources. Prints "ok: ..." per check and the seconds each step took; the last line
# is "pack check passed".
#
# Usage: tests/pack/check.sh [--no-build]
#   --no-build  pack what `dotnet build TimeMesh.sln -c Release` (or the tests' build) already made.
#
# The packages get a version of their own for this run (<VersionPrefix>-check.<time>.<pid>), so the
# machine's global package folder never holds a TimeMesh package that a later run could take for its
# own; this run's entries are removed again at exit. The assemblies keep the real version, which is
# what `timemesh --version` prints.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

build_flag=()
if [ "${1:-}" = "--no-build" ]; then build_flag=(--no-build); fi

version=$(sed -n 's|.*<VersionPrefix>\(.*\)</VersionPrefix>.*|\1|p' Directory.Build.props)
[ -n "$version" ] || { echo "FAIL: no VersionPrefix in Directory.Build.props"; exit 1; }
run_version="$version-check.$(date -u +%Y%m%d%H%M%S).$$"
packages_dir=${NUGET_PACKAGES:-$HOME/.nuget/packages}
ids=(timemesh timemesh.core timemesh.net timemesh.node timemesh.hosting timemesh.persistence.postgresql)

tmp=$(mktemp -d /tmp/timemesh-pack.XXXXXX)
cleanup() {
  rm -rf "$tmp"
  for id in "${ids[@]}"; do
    rm -rf "${packages_dir:?}/$id/$run_version"
    rmdir "$packages_dir/$id" 2>/dev/null || true   # only when no other version is left there
  done
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. Pack the solution: only the projects marked packable make packages.
t=$(now)
dotnet pack TimeMesh.sln -c Release -o "$tmp/feed" "${build_flag[@]}" -p:PackageVersion="$run_version" -v:q -nologo \
  > "$tmp/pack.log" 2>&1 || { cat "$tmp/pack.log"; fail "dotnet pack"; }
echo "time: pack $(took "$t") s"

expected="TimeMesh.Control TimeMesh.Core TimeMesh.Hosting TimeMesh.Net TimeMesh.Node TimeMesh.Nts TimeMesh.Persistence.PostgreSql timemesh"
got=$(cd "$tmp/feed" && ls ./*.nupkg | sed "s|^\./||; s|\.$run_version\.nupkg$||" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$expected" ] || fail "packages: expected '$expected', got '$got'"
for id in $expected; do
  pkg="$tmp/feed/$id.$run_version.nupkg"
  [ -f "$tmp/feed/$id.$run_version.snupkg" ] || fail "$id: no symbol package (.snupkg)"
  printf 'package: %s %s bytes, symbols %s bytes\n' "$id.$run_version.nupkg" "$(stat -c %s "$pkg")" "$(stat -c %s "$tmp/feed/$id.$run_version.snupkg")"
  nuspec=$(unzip -p "$pkg" "$id.nuspec")
  # The listing in a variable: grep -q on a pipe would end unzip early and pipefail would call that a failure.
  files=$(unzip -Z1 "$pkg")
  grep -q '<license type="expression">Apache-2.0</license>' <<<"$nuspec" || fail "$id: licence is not Apache-2.0"
  grep -q '<readme>README.md</readme>' <<<"$nuspec" || fail "$id: no package readme"
  grep -qx 'README.md' <<<"$files" || fail "$id: README.md is not in the package"
  desc=$(sed -n 's|.*<description>\(.*\)</description>.*|\1|p' <<<"$nuspec")
  { [ -n "$desc" ] && [ "$desc" != "Package Description" ]; } || fail "$id: no description of its own"
  grep -q '<tags>.*ntp.*</tags>' <<<"$nuspec" || fail "$id: no tags"
  if [ "$id" = timemesh ]; then
    grep -q '<packageType name="DotnetTool"' <<<"$nuspec" || fail "timemesh is not a .NET tool package"
    grep -qx 'tools/net10.0/any/DotnetToolSettings.xml' <<<"$files" || fail "timemesh: no DotnetToolSettings.xml"
    grep -qx 'THIRD-PARTY-NOTICES.txt' <<<"$files" || fail "timemesh: no THIRD-PARTY-NOTICES.txt"
  else
    grep -qx "lib/net10.0/$id.xml" <<<"$files" || fail "$id: no XML documentation"
  fi
done
hosting_nuspec=$(unzip -p "$tmp/feed/TimeMesh.Hosting.$run_version.nupkg" TimeMesh.Hosting.nuspec)
grep -q "<dependency id=\"TimeMesh.Node\" version=\"$run_version\"" <<<"$hosting_nuspec" \
  || fail "TimeMesh.Hosting does not depend on TimeMesh.Node of the same version"
echo "ok: 8 packages (timemesh tool, 7 libraries) with licence, readme, description, tags, symbols and XML docs"

# THIRD-PARTY-NOTICES.txt names every package (at its restored version) whose binaries the tool carries.
missing=$(python3 - "$repo/src/TimeMesh/obj/project.assets.json" "$repo/THIRD-PARTY-NOTICES.txt" <<'PY'
import json, sys
assets = json.load(open(sys.argv[1]))["targets"]["net10.0"]
notices = open(sys.argv[2], encoding="utf-8").read()
for key, lib in sorted(assets.items()):
    if lib.get("type") != "package": continue
    files = [f for f in list(lib.get("runtime", {})) + list(lib.get("runtimeTargets", {})) if not f.endswith("_._")]
    name, version = key.split("/")
    if files and f"- {name} {version}" not in notices: print(f"{name} {version}")
PY
) || fail "reading the tool's dependency graph"
[ -z "$missing" ] || fail "THIRD-PARTY-NOTICES.txt lacks: $(tr '\n' ' ' <<<"$missing")"
echo "ok: THIRD-PARTY-NOTICES.txt lists every package the tool ships"

# 2. The tool, installed from the folder feed into a tool path of its own.
t=$(now)
dotnet tool install timemesh --tool-path "$tmp/tool" --add-source "$tmp/feed" --version "$run_version" \
  > "$tmp/tool.log" 2>&1 || { cat "$tmp/tool.log"; fail "dotnet tool install"; }
echo "time: tool install $(took "$t") s"
printed=$("$tmp/tool/timemesh" --version)
echo "timemesh --version: $printed"
[[ "$printed" =~ ^${version//./\\.}\+[0-9a-f]{40}$ ]] || fail "timemesh --version printed '$printed', not $version+<commit>"
if head=$(git -C "$repo" rev-parse HEAD 2>/dev/null); then
  [ "$printed" = "$version+$head" ] || fail "timemesh --version names commit ${printed#*+}, HEAD is $head"
fi
echo "ok: the installed tool prints its version and commit"
"$tmp/tool/timemesh" check-config --quiet hocon/quickstart.hocon || fail "timemesh check-config hocon/quickstart.hocon"
echo "ok: the installed tool checks hocon/quickstart.hocon"

# 3. Fresh console apps on the packed TimeMesh.Hosting, built together (one restore, one build): the code of
# samples/MeshClockApp, the snippet of the package's readme, and each csharp block of docs/embedding.md, as a
# user would paste them.
hosting_version=$(sed -n 's|.*<PackageVersion Include="Microsoft.Extensions.Hosting" Version="\([^"]*\)".*|\1|p' Directory.Packages.props)
mkdir -p "$tmp/app" "$tmp/readme-app"
cp samples/MeshClockApp/Program.cs "$tmp/app/"
sed -n '/^```csharp$/,/^```$/p' src/TimeMesh.Hosting/README.md | sed '1d;$d' > "$tmp/readme-app/Program.cs"
[ -s "$tmp/readme-app/Program.cs" ] || fail "no csharp block in src/TimeMesh.Hosting/README.md"
projects=(app/MeshClockApp readme-app/ReadmeApp)
# Every csharp block of docs/embedding.md is a whole program: each becomes a console app of its own.
docs_snippets=$(python3 - "$repo/docs/embedding.md" "$tmp" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"^```csharp\n(.*?)^```$", text, re.S | re.M)
for i, code in enumerate(blocks, 1):
    os.makedirs(f"{sys.argv[2]}/docs-{i}", exist_ok=True)
    open(f"{sys.argv[2]}/docs-{i}/Program.cs", "w", encoding="utf-8").write(code)
print(len(blocks))
PY
) || fail "reading the csharp blocks of docs/embedding.md"
[ "$docs_snippets" -ge 1 ] || fail "no csharp block in docs/embedding.md"
for i in $(seq 1 "$docs_snippets"); do projects+=("docs-$i/DocsSnippet$i"); done
for project in "${projects[@]}"; do
  cat > "$tmp/$project.csproj" <<XML
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
done
{ echo '<Solution>'; for project in "${projects[@]}"; do echo "  <Project Path=\"$project.csproj\" />"; done; echo '</Solution>'; } > "$tmp/apps.slnx"
# The folder feed beside the machine's own sources (the user-level NuGet.Config still applies).
cat > "$tmp/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="timemesh-local" value="$tmp/feed" />
  </packageSources>
</configuration>
XML
t=$(now)
(cd "$tmp" && dotnet build apps.slnx -c Release -nologo -v:q > "$tmp/apps.log" 2>&1) || { cat "$tmp/apps.log"; fail "the console apps do not build"; }
echo "time: console apps restore+build $(took "$t") s"
for app in app readme-app; do
  assets="$tmp/$app/obj/project.assets.json"
  grep -q "\"TimeMesh.Hosting/$run_version\"" "$assets" || fail "$app did not restore TimeMesh.Hosting $run_version"
  grep -q "\"TimeMesh.Node/$run_version\"" "$assets" || fail "$app did not restore TimeMesh.Node $run_version"
  [ -f "$tmp/$app/bin/Release/net10.0/TimeMesh.Hosting.dll" ] || fail "TimeMesh.Hosting.dll is not in $app's output"
done
# A member embed carries no PostgreSQL client: that comes only with TimeMesh.Persistence.PostgreSql.
! grep -q '"Npgsql/' "$tmp/app/obj/project.assets.json" || fail "the console app on TimeMesh.Hosting restored Npgsql"
[ ! -f "$tmp/app/bin/Release/net10.0/Npgsql.dll" ] || fail "Npgsql.dll is in the console app's output"
# Nor Kestrel: the HTTP endpoints come only with TimeMesh.Control, so the app does not run on Microsoft.AspNetCore.App.
! grep -q '"TimeMesh.Control/' "$tmp/app/obj/project.assets.json" || fail "the console app on TimeMesh.Hosting restored TimeMesh.Control"
! grep -q 'Microsoft.AspNetCore.App' "$tmp/app/bin/Release/net10.0/MeshClockApp.runtimeconfig.json" \
  || fail "the console app on TimeMesh.Hosting runs on Microsoft.AspNetCore.App"
# Nor Cluster Bootstrap (Akka.Management and the Kubernetes client come with TimeMesh.Control only), nor NTS's key
# exchange (BouncyCastle comes with TimeMesh.Nts only).
for package in Akka.Management Akka.Discovery.KubernetesApi KubernetesClient TimeMesh.Nts BouncyCastle.Cryptography; do
  ! grep -q "\"$package/" "$tmp/app/obj/project.assets.json" || fail "the console app on TimeMesh.Hosting restored $package"
done
echo "ok: a fresh console app builds against the packed TimeMesh.Hosting (and carries no Npgsql, no ASP.NET Core, no Akka.Management, no BouncyCastle)"
echo "ok: the snippet in TimeMesh.Hosting's package readme builds"
for i in $(seq 1 "$docs_snippets"); do
  [ -f "$tmp/docs-$i/bin/Release/net10.0/TimeMesh.Hosting.dll" ] || fail "docs/embedding.md's csharp block $i did not build"
done
echo "ok: all $docs_snippets csharp blocks of docs/embedding.md build"
echo "pack check passed"
