#!/usr/bin/env bash
# Builds the timemesh Debian package with dpkg-deb from a self-contained .NET build (no dotnet package
# needed on the target): /usr/bin/timemesh (a link into /usr/lib/timemesh), the conffile
# /etc/timemesh/timemesh.hocon (closed: no allow), the unit derived from deploy/systemd/timemesh.service,
# /var/lib/timemesh, and maintainer scripts that create the _timemesh user and leave the unit disabled
# when another time daemon runs or is enabled (packaging/deb/README.Debian, docs/packaging.md).
#
# Usage: packaging/deb/build.sh [--arch amd64|arm64] [--out DIR] [--publish-dir DIR]
#   --arch         Debian architecture (default: this machine's); amd64 = linux-x64, arm64 = linux-arm64
#   --out          where the .deb goes (default: artifacts/deb)
#   --publish-dir  use this `dotnet publish -r RID --self-contained` output instead of publishing
# Environment: DEB_MAINTAINER ("Name <address>") for the Maintainer field and the changelog.
# Needs: the .NET 10 SDK (the linux-x64/linux-arm64 runtime packs restore from NuGet), dpkg-deb, python3,
# binutils (readelf; strip for amd64) and for arm64 binutils-aarch64-linux-gnu or llvm (llvm-strip).
# Prints the path of the .deb last.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
out=$repo/artifacts/deb
publish_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --publish-dir) publish_dir=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$arch" in
    amd64) rid=linux-x64 ;;
    arm64) rid=linux-arm64 ;;
    *) echo "build.sh: --arch must be amd64 or arm64, not '$arch'" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
fail() { echo "build.sh: $*" >&2; exit 1; }

version=$(sed -n 's|.*<VersionPrefix>\(.*\)</VersionPrefix>.*|\1|p' Directory.Build.props)
[ -n "$version" ] || fail "no VersionPrefix in Directory.Build.props"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# Every file gets the commit's time, so the same commit gives the same package bytes.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
maintainer=${DEB_MAINTAINER:-TimeMesh contributors <timemesh@example.org>}

work=$(mktemp -d /tmp/timemesh-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

# 1. The self-contained build: the runtime, ASP.NET Core and every dependency in one directory.
if [ -z "$publish_dir" ]; then
    publish_dir=$work/publish
    nice -n 19 dotnet publish src/TimeMesh/TimeMesh.csproj -c Release -r "$rid" --self-contained \
        -p:PublishSingleFile=false -o "$publish_dir" --disable-build-servers -nologo -v:q \
        > "$work/publish.log" 2>&1 || { cat "$work/publish.log" >&2; fail "dotnet publish -r $rid failed"; }
fi
[ -x "$publish_dir/timemesh" ] || fail "$publish_dir/timemesh is missing: not a publish output"
[ -f "$publish_dir/libcoreclr.so" ] || fail "$publish_dir is not self-contained (no libcoreclr.so)"
want_machine=$([ "$arch" = amd64 ] && echo "X86-64" || echo "AArch64")
readelf -h "$publish_dir/timemesh" | grep -q "Machine:.*$want_machine" || fail "$publish_dir/timemesh is not an $arch executable"

# 2. The file tree.
install -d "$root/usr/lib/timemesh" "$root/usr/bin" "$root/etc/timemesh" "$root/var/lib/timemesh" \
    "$root/lib/systemd/system" "$root/usr/share/doc/timemesh" "$root/usr/share/man/man1" "$root/DEBIAN"
cp -a "$publish_dir/." "$root/usr/lib/timemesh/"
rm -f "$root"/usr/lib/timemesh/*.pdb "$root"/usr/lib/timemesh/*.dbg
# Only the executables keep their x bit (shared libraries and assemblies do not need it).
find "$root/usr/lib/timemesh" -type d -exec chmod 0755 {} +
find "$root/usr/lib/timemesh" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/lib/timemesh/timemesh"
[ -f "$root/usr/lib/timemesh/createdump" ] && chmod 0755 "$root/usr/lib/timemesh/createdump"
# Strip the ELF files as dh_strip does: the .comment section everywhere, and the symbols that linking does
# not need (libe_sqlite3.so comes with its symbol table).
case "$arch" in
    amd64) strip_candidates="x86_64-linux-gnu-strip llvm-strip" ;;
    arm64) strip_candidates="aarch64-linux-gnu-strip llvm-strip" ;;
esac
strip_tool=""
for candidate in $strip_candidates; do
    if command -v "$candidate" >/dev/null; then strip_tool=$candidate; break; fi
done
[ -n "$strip_tool" ] || fail "no strip for $arch: apt-get install binutils-$([ "$arch" = amd64 ] && echo x86-64 || echo aarch64)-linux-gnu (or llvm)"
while IFS= read -r -d '' elf; do
    if [ "$(head -c 4 "$elf" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        case "$elf" in
            *.so) "$strip_tool" --remove-section=.comment --remove-section=.note --strip-unneeded "$elf" ;;
            *) "$strip_tool" --remove-section=.comment --remove-section=.note "$elf" ;;
        esac
    fi
done < <(find "$root/usr/lib/timemesh" -type f -print0)
# The apphost resolves its own link, so the runtime beside the real file is found.
ln -s ../lib/timemesh/timemesh "$root/usr/bin/timemesh"

install -m 0644 packaging/deb/timemesh.hocon "$root/etc/timemesh/timemesh.hocon"
install -m 0644 src/TimeMesh.Node/reference.conf "$root/usr/share/doc/timemesh/reference.conf"
install -m 0644 packaging/deb/README.Debian "$root/usr/share/doc/timemesh/README.Debian"
gzip -9n < packaging/deb/timemesh.1 > "$root/usr/share/man/man1/timemesh.1.gz"
chmod 0644 "$root/usr/share/man/man1/timemesh.1.gz"

# The unit of deploy/systemd with the package's paths and user; each change must apply exactly once, so
# a changed source unit stops the build instead of shipping a unit that points elsewhere.
unit_src=deploy/systemd/timemesh.service
unit=$root/lib/systemd/system/timemesh.service
for line in 'ExecStart=/opt/timemesh/timemesh run --config /etc/timemesh/timemesh.hocon' 'User=timemesh' 'Group=timemesh' \
            'StateDirectory=timemesh' 'ConfigurationDirectory=timemesh'; do
    [ "$(grep -cxF "$line" "$unit_src")" = 1 ] || fail "$unit_src: expected the line '$line' once"
done
{
    echo "# Installed by the timemesh Debian package: $unit_src with /usr/bin/timemesh and the _timemesh user."
    echo "# Change it with \`systemctl edit timemesh\` (an override survives upgrades)."
    sed -n '/^\[Unit\]$/,$p' "$unit_src" | sed \
        -e 's|^Description=.*|&\nDocumentation=man:timemesh(1) file:/usr/share/doc/timemesh/README.Debian|' \
        -e 's|^ExecStart=/opt/timemesh/timemesh |ExecStart=/usr/bin/timemesh |' \
        -e 's|^User=timemesh$|User=_timemesh|' \
        -e 's|^Group=timemesh$|Group=_timemesh|' \
        -e 's|root:timemesh|root:_timemesh|g; s|keys timemesh 0600|keys _timemesh 0600|; s|members of the timemesh group|members of the _timemesh group|'
} > "$unit"
chmod 0644 "$unit"

# Licences: Apache-2.0 for TimeMesh, the packages it ships, and the .NET runtime's own notices.
runtime_version=$(python3 -c 'import json, sys
frameworks = json.load(open(sys.argv[1]))["runtimeOptions"]["includedFrameworks"]
print(next(f["version"] for f in frameworks if f["name"] == "Microsoft.NETCore.App"))' "$root/usr/lib/timemesh/timemesh.runtimeconfig.json")
{
    cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: TimeMesh

Files: *
Copyright: TimeMesh contributors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

Files: usr/lib/timemesh/*
Copyright: Microsoft Corporation and the .NET Foundation (the .NET runtime and ASP.NET Core $runtime_version),
 the authors of the NuGet packages listed below
License: various
 usr/lib/timemesh is a self-contained .NET build: TimeMesh's assemblies, the .NET runtime and the
 ASP.NET Core shared framework (MIT; their third-party notices are in
 /usr/share/doc/timemesh/dotnet-runtime-THIRD-PARTY-NOTICES.txt and
 aspnetcore-THIRD-PARTY-NOTICES.txt), and the packages of TimeMesh's THIRD-PARTY-NOTICES.txt, which
 follows.
 .
EOF
    sed -e 's/^$/./' -e 's/^/ /' THIRD-PARTY-NOTICES.txt
} > "$root/usr/share/doc/timemesh/copyright"
packs=${NUGET_PACKAGES:-$HOME/.nuget/packages}
for pack in microsoft.netcore.app.runtime microsoft.aspnetcore.app.runtime; do
    notice=$(ls "$packs/$pack.$rid/$runtime_version"/THIRD-PARTY-NOTICES.* 2>/dev/null | head -n 1 || true)
    [ -n "$notice" ] || fail "no THIRD-PARTY-NOTICES in $packs/$pack.$rid/$runtime_version"
    name=$([ "$pack" = microsoft.netcore.app.runtime ] && echo dotnet-runtime || echo aspnetcore)
    install -m 0644 "$notice" "$root/usr/share/doc/timemesh/$name-THIRD-PARTY-NOTICES.txt"
done
sed -e "s|@VERSION@|$version|" -e "s|@COMMIT@|$commit|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@DATE@|$(date -u -R -d "@$SOURCE_DATE_EPOCH")|" packaging/deb/changelog.in \
    | gzip -9n > "$root/usr/share/doc/timemesh/changelog.gz"
chmod 0644 "$root/usr/share/doc/timemesh/changelog.gz"

# 3. Control files. The lowest glibc that every ELF file accepts, from their symbol versions.
glibc=$(find "$root/usr/lib/timemesh" -type f \( -name '*.so' -o -name timemesh -o -name createdump \) -print0 \
    | xargs -0 readelf -W --dyn-syms 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ -n "$glibc" ] || fail "no GLIBC symbol versions found in the ELF files"
installed_kb=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: timemesh
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: adduser, libc6 (>= $glibc), libgcc-s1, libstdc++6, libssl3 | libssl3t64
Suggests: chrony
Section: net
Priority: optional
Description: distributed NTP server for closed networks, on Akka.NET
 TimeMesh is an NTP server that keeps time from upstream servers like chronyd
 and serves it to its network; several nodes form a self-healing mesh (Akka.NET
 cluster) in which members follow an elected master. It reads chrony's
 configuration (timemesh import-chrony), answers chronyc-style queries
 (timemesh sources, tracking, clients) and checks its host (timemesh doctor).
 .
 This package is a self-contained .NET build: it needs no dotnet package. As
 installed the node answers no one (no allow) and never steers the system
 clock; it is not started when another time daemon runs or is enabled.
EOF
echo /etc/timemesh/timemesh.hocon > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "packaging/deb/$script" "$root/DEBIAN/$script"; done
# The one lintian finding that cannot be fixed here, with the reason (docs/packaging.md).
install -d "$root/usr/share/lintian/overrides"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/timemesh"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$out/timemesh_${version}_$arch.deb
nice -n 19 dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
