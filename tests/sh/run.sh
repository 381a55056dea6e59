#!/usr/bin/env bash
# tests/sh/run.sh - runs every other script in tests/sh/ against ./mcpmux (or
# $MCPMUX_BIN) and ends with "N passed, N failed"; exits 1 if any failed.
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pass=0
fails=0
for t in "$dir"/*.sh; do
	[[ $t == "$dir/run.sh" ]] && continue
	name=$(basename "$t" .sh)
	if "$t" "$@"; then
		echo "ok   $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name"
		fails=$((fails + 1))
	fi
done
echo "$pass passed, $fails failed"
(( fails == 0 ))
