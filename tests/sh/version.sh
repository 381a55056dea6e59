#!/usr/bin/env bash
# tests/sh/version.sh - `mcpmux --version` (and -V, version) prints mcpmux's version
# (the Makefile's VERSION), the libcurl and libsodium versions it runs with, and
# every MCP protocol version of mcp_versions[] in src/protocol.c.
# usage: tests/sh/version.sh [path/to/mcpmux]   (default ./mcpmux, or $MCPMUX_BIN)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
MUX=${1:-${MCPMUX_BIN:-./mcpmux}}
failed=0
fail() { printf 'version: %s\n' "$*" >&2; failed=1; }

out=$("$MUX" --version) || fail "mcpmux --version exited $?"
for alt in -V version; do
	o=$("$MUX" "$alt") || fail "mcpmux $alt exited $?"
	[[ $o == "$out" ]] || fail "mcpmux $alt differs from --version:"$'\n'"$o"
done
mapfile -t lines <<<"$out"
(( ${#lines[@]} == 3 )) || fail "expected 3 lines, got ${#lines[@]}:"$'\n'"$out"

want=$(sed -n 's/^VERSION *:= *//p' Makefile)
[[ ${lines[0]:-} == "mcpmux $want" ]] || fail "line 1 is '${lines[0]:-}', want 'mcpmux $want'"

# The libraries: the versions pkg-config reports for what the binary was built
# against (Debian installs the same versions for run time).
curl_v=$(pkg-config --modversion libcurl 2>/dev/null || true)
sodium_v=$(pkg-config --modversion libsodium 2>/dev/null || true)
if [[ ${lines[1]:-} =~ ^libcurl\ ([0-9][0-9A-Za-z.+~-]*),\ libsodium\ ([0-9][0-9A-Za-z.+~-]*)$ ]]; then
	[[ -z $curl_v || ${BASH_REMATCH[1]} == "$curl_v" ]] ||
		fail "libcurl ${BASH_REMATCH[1]}, but pkg-config says $curl_v"
	[[ -z $sodium_v || ${BASH_REMATCH[2]} == "$sodium_v" ]] ||
		fail "libsodium ${BASH_REMATCH[2]}, but pkg-config says $sodium_v"
else
	fail "line 2 is '${lines[1]:-}', want 'libcurl X, libsodium Y'"
fi

src=$(sed -n '/mcp_versions\[\] *=/,/}/p' src/protocol.c | grep -oE '"[0-9]{4}-[0-9]{2}-[0-9]{2}"' | tr -d '"')
[[ -n $src ]] || fail "no mcp_versions[] found in src/protocol.c"
if [[ ${lines[2]:-} =~ ^MCP\ protocol\ versions:((\ [0-9]{4}-[0-9]{2}-[0-9]{2})+)$ ]]; then
	got=${BASH_REMATCH[1]# }
	[[ $got == "$(echo $src)" ]] || fail "protocol versions '$got', src/protocol.c has '$(echo $src)'"
else
	fail "line 3 is '${lines[2]:-}', want 'MCP protocol versions: YYYY-MM-DD ...'"
fi

(( failed )) && { echo "version: FAILED" >&2; exit 1; }
echo "version: $(echo "$out" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
