#!/usr/bin/env bash
# tests/sh/license.sh - mcpmux is Apache-2.0 everywhere it says so: LICENSE is
# the license's text (the same bytes as Debian's common-licenses copy, where
# there is one), packaging/debian/copyright (DEP-5), the RPM spec, the Homebrew
# formula and README.md name it; `make install` puts LICENSE with the docs and
# `make uninstall` takes every installed file away again.
# usage: tests/sh/license.sh   (runs make install/uninstall into a scratch DESTDIR)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
failed=0
fail() { printf 'license: %s\n' "$*" >&2; failed=1; }

common=/usr/share/common-licenses/Apache-2.0
if [[ ! -f LICENSE ]]; then
	fail "no LICENSE file"
elif [[ -f $common ]]; then
	cmp -s LICENSE "$common" || fail "LICENSE differs from $common"
else
	grep -q 'Version 2.0, January 2004' LICENSE || fail "LICENSE is not the Apache License 2.0"
fi

copyright=packaging/debian/copyright
grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$copyright" ||
	fail "$copyright is not DEP-5"
# "Files: *" says Apache-2.0, and a stand-alone License paragraph gives it
awk '/^Files: \*$/ { f = 1; next } /^$/ { f = 0 } f && /^License: Apache-2.0$/ { ok = 1 } END { exit !ok }' \
	"$copyright" || fail "$copyright: Files: * is not License: Apache-2.0"
awk 'BEGIN { para = 1 } /^$/ { para = 1; next } para && /^License: Apache-2.0$/ { ok = 1 } { para = 0 }
	END { exit !ok }' "$copyright" || fail "$copyright has no stand-alone License: Apache-2.0 paragraph"
grep -q "$common" "$copyright" || fail "$copyright does not point to $common"
grep -qi 'not-yet-chosen\|not yet chosen' "$copyright" && fail "$copyright still says no license was chosen"

grep -Eq '^License: +Apache-2\.0$' packaging/rpm/mcpmux.spec || fail "the RPM spec's License is not Apache-2.0"
grep -Eq '^%license +LICENSE$' packaging/rpm/mcpmux.spec || fail "the RPM spec does not ship LICENSE as %license"
grep -Eq '^ +license "Apache-2\.0"$' packaging/homebrew/mcpmux.rb || fail "the Homebrew formula has no license \"Apache-2.0\""
grep -q 'Apache License, Version 2.0' README.md || fail "README.md does not name the license"

T=$(mktemp -d /tmp/mcpmux-license-XXXXXX)
trap 'rm -rf "$T"' EXIT
if make --no-print-directory -s install DESTDIR="$T" PREFIX=/usr >"$T.log" 2>&1; then
	cmp -s LICENSE "$T/usr/share/doc/mcpmux/LICENSE" || fail "make install: no LICENSE in /usr/share/doc/mcpmux"
	make --no-print-directory -s uninstall DESTDIR="$T" PREFIX=/usr >>"$T.log" 2>&1 || fail "make uninstall failed: $(cat "$T.log")"
	left=$(find "$T" ! -type d)
	[[ -z $left ]] || fail "make uninstall left: $left"
else
	fail "make install failed: $(cat "$T.log")"
fi
rm -f "$T.log"

(( failed )) && { echo "license: FAILED" >&2; exit 1; }
echo "license: Apache-2.0 in LICENSE, copyright, spec, formula, README; installed and uninstalled"
