#!/bin/sh
# The official MCP conformance suite's CLIENT scenarios, with mcpmux as the
# client (through conformance-client.mjs). Fails if any scenario fails.
# Uses $MCPMUX_BIN if set, else <repo>/mcpmux.
#   tests/node/conformance.sh                  every scenario once
#   tests/node/conformance.sh SCENARIO N       one scenario N times in a row
#                                              (make conformance-repeat: sse-retry 20 times)
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
cd "$DIR" || exit 2
SUITE="$DIR/node_modules/.bin/conformance"
if [ ! -x "$SUITE" ]; then
	echo "conformance.sh: $SUITE not found; run 'npm ci' in $DIR" >&2
	exit 2
fi
BIN=${MCPMUX_BIN:-"$DIR/../../mcpmux"}
if [ ! -x "$BIN" ]; then
	echo "conformance.sh: mcpmux binary not found at $BIN (build it, or set MCPMUX_BIN)" >&2
	exit 2
fi

scenarios="initialize tools_call sse-retry"
repeat=1
if [ $# -ge 1 ]; then
	scenarios=$1
	repeat=${2:-1}
fi
runs=""
i=0
while [ "$i" -lt "$repeat" ]; do
	runs="$runs $scenarios"
	i=$((i + 1))
done

status=0
passed=0
total=0
for scenario in $runs; do
	total=$((total + 1))
	out=$(mktemp)
	"$SUITE" client --command "node $DIR/conformance-client.mjs" \
		--scenario "$scenario" --timeout 60000 >"$out" 2>&1
	rc=$?
	cat "$out"
	# The suite exits non-zero on any failed check, warning, timeout or client
	# error, and prints "OVERALL: PASSED" only when none happened.
	if [ "$rc" -eq 0 ] && grep -q "OVERALL: PASSED" "$out"; then
		echo "conformance: $scenario PASSED"
		passed=$((passed + 1))
	else
		echo "conformance: $scenario FAILED (exit $rc)" >&2
		status=1
	fi
	rm -f "$out"
done
echo "conformance: $passed of $total runs passed"
exit $status
