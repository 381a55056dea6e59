#!/usr/bin/env bash
# packaging/debian/build-deb.sh VERSION - builds build/deb/mcpmux_<version>_<arch>.deb
# (`make deb` calls it with the Makefile's VERSION) from a staged
#   make install DESTDIR=build/deb/debian/mcpmux PREFIX=/usr
# with dpkg-dev's own tools: dpkg-shlibdeps computes Depends (libc6, libcurl4,
# libsodium23, libinih1 with the minimum versions their symbols need),
# dpkg-gencontrol writes DEBIAN/control from packaging/debian/control and
# changelog, dpkg-deb --root-owner-group builds it. No root, no debhelper.
# The last line printed is the path of the .deb.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }

VERSION=${1:-}
[[ -n $VERSION ]] || die "usage: packaging/debian/build-deb.sh VERSION (or: make deb)"
SRC=packaging/debian
OUT=build/deb
PKG=$OUT/debian/mcpmux	# dpkg-shlibdeps expects the binaries under debian/<package>/

for t in dpkg-deb dpkg-shlibdeps dpkg-gencontrol dpkg-parsechangelog strip gzip; do
	command -v "$t" >/dev/null || die "$t is missing (Debian: apt-get install dpkg-dev binutils)"
done
[[ -x mcpmux ]] || die "./mcpmux is not built: run make deb"

deb_version=$(dpkg-parsechangelog -l "$SRC/changelog" -SVersion)
[[ ${deb_version%-*} == "$VERSION" ]] ||
	die "$SRC/changelog is at $deb_version but the Makefile's VERSION is $VERSION: add a changelog entry"
# Reproducible: every date in the package is the changelog's.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$SRC/changelog" -STimestamp)
export SOURCE_DATE_EPOCH

rm -rf "$OUT"
mkdir -p "$OUT/debian"
cp "$SRC/control" "$SRC/changelog" "$OUT/debian/"
make --no-print-directory install DESTDIR="$ROOT/$PKG" PREFIX=/usr >/dev/null

# What Debian policy asks of a binary package beyond `make install`.
doc=$PKG/usr/share/doc/mcpmux
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$PKG/usr/bin/mcpmux"
gzip -9n "$PKG/usr/share/man/man1/mcpmux.1" "$PKG/usr/share/man/man5/mcpmux.ini.5"
# The license is in copyright, which points to /usr/share/common-licenses/Apache-2.0:
# a second copy is what lintian calls extra-license-file.
rm "$doc/LICENSE"
install -m 0644 "$SRC/copyright" "$doc/copyright"
gzip -9n -c "$SRC/changelog" >"$doc/changelog.Debian.gz"
gzip -9n -c README.md >"$doc/README.md.gz"
chmod -R u=rwX,go=rX "$PKG"
mkdir -m 0755 "$PKG/DEBIAN"

(
	cd "$OUT"
	dpkg-shlibdeps -Tdebian/substvars debian/mcpmux/usr/bin/mcpmux
	dpkg-gencontrol -pmcpmux -Pdebian/mcpmux -Tdebian/substvars
)
(cd "$PKG" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/md5sums"
find "$PKG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

dpkg-deb --root-owner-group -Zxz --build "$PKG" "$OUT/" >/dev/null
deb=$(ls "$OUT"/mcpmux_*.deb)
echo "build-deb: $(dpkg-deb -f "$deb" Package Version Architecture Depends | tr '\n' ' ')"
echo "$deb"
