#!/usr/bin/env bash
# tests/node/demo.sh - `make demo`: start two local MCP servers, put mcpmux in front of
# them, and talk to it the way an agent would. Everything runs on 127.0.0.1 and is
# stopped again at the end. Run from anywhere; `make demo` builds ./mcpmux first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MCPMUX_BIN:-$ROOT/mcpmux}

if [[ ! -x $BIN ]]; then
	echo "demo: $BIN is not built yet; run 'make' (or 'make demo') first" >&2
	exit 1
fi
if [[ ! -d $ROOT/tests/node/node_modules/@modelcontextprotocol/sdk ]]; then
	echo "demo: the test packages are missing; run 'cd tests/node && npm ci' (or 'make demo')" >&2
	exit 1
fi
export MCPMUX_BIN=$BIN
exec node "$ROOT/tests/node/demo.mjs" "$@"
