#!/usr/bin/env bash
# tests/sh/structure.sh - the shape docs/ARCHITECTURE.md promises:
#   - no function in the connectors (src/conn/) or the request path (router,
#     server, downstream, connector, mux) is longer than a screen (60 lines,
#     from the opening brace at column 0 to the closing one);
#   - no include cycle among the modules (include/*.h and src/**/*.c, a .c
#     counting as its module's .h);
#   - every header starts with its contract: a comment before the include guard.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
bad=0
max=60

long=$(awk -v max=$max '
	/^[A-Za-z_].*\(/ { sig = $0; sigline = FNR }
	/^\{/ { start = FNR; name = sig }
	/^\}/ && start { n = FNR - start + 1; if (n > max) print FILENAME ":" sigline ": " n " lines: " name; start = 0 }
' $(find src/conn -name '*.c') src/router.c src/server.c src/downstream.c src/connector.c src/mux.c)
if [[ -n $long ]]; then
	echo "structure: functions longer than $max lines:"
	echo "$long"
	bad=1
fi

# Module graph: module -> modules it includes (by header name).
declare -A deps
for f in include/*.h $(find src -name '*.c'); do
	m=$(basename "$f"); m=${m%.*}
	for h in $(grep -oE '^#include "[a-z_]+\.h"' "$f" | sed -E 's/.*"([a-z_]+)\.h"/\1/'); do
		[[ $h == "$m" ]] && continue
		deps[$m]+="$h "
	done
done
declare -A state
cycle=""
visit() {
	local m=$1 d
	state[$m]=1
	for d in ${deps[$m]:-}; do
		if [[ ${state[$d]:-0} == 1 ]]; then
			cycle="$cycle $m->$d"
		elif [[ ${state[$d]:-0} == 0 ]]; then
			visit "$d"
		fi
	done
	state[$m]=2
}
for m in "${!deps[@]}"; do
	[[ ${state[$m]:-0} == 0 ]] && visit "$m"
done
if [[ -n $cycle ]]; then
	echo "structure: include cycle(s), each closed by:$cycle"
	bad=1
fi

for h in include/*.h; do
	first=$(grep -m1 -vE '^\s*$' "$h")
	if [[ $first != "/*"* ]]; then
		echo "structure: $h does not start with its contract (a comment)"
		bad=1
	fi
done
exit $bad
