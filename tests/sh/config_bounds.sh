#!/usr/bin/env bash
# tests/sh/config_bounds.sh - `mcpmux check -c FILE` on what is not a small
# config file: /dev/zero, /dev/urandom and a 5 MB file of one line each end
# with "FILE: larger than 1 MiB ..." and exit 1, inside a 128 MiB address
# space (an unbounded reader fails that, whatever the machine's speed); a
# FIFO with no writer does not hang and reads as empty; a FIFO whose writer
# waits, and a pipe from <(...), are read.
# usage: tests/sh/config_bounds.sh [path/to/mcpmux]   (default ./mcpmux, or $MCPMUX_BIN)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
MUX=$(realpath "${1:-${MCPMUX_BIN:-./mcpmux}}")
failed=0
fail() { printf 'config_bounds: %s\n' "$*" >&2; failed=1; }

T=$(mktemp -d /tmp/mcpmux-config-bounds-XXXXXX)
writer=
cleanup() {
	[[ -n $writer ]] && kill "$writer" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
export HOME=$T
unset MCPMUX_CONFIG XDG_CONFIG_HOME

# A sanitizer build reserves terabytes of address space: no cap for it.
cap=131072
if ldd "$MUX" 2>/dev/null | grep -q 'libasan'; then
	cap=unlimited
fi

# run NAME WANT_RC FILE: `mcpmux check -c FILE`, output in $out. timeout(1)
# only ends a hang (exit 124), which fails the test.
run() {
	local name=$1 want=$2 file=$3
	out=$(ulimit -v "$cap"; timeout 60 "$MUX" check -c "$file" </dev/null 2>&1)
	local rc=$?
	[[ $rc == "$want" ]] || fail "$name: exit $rc, want $want; output:"$'\n'"${out:0:2000}"
}

too_big="larger than 1 MiB, the limit for a configuration file: is it the right file?"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$T/one-line.ini"
for f in /dev/zero /dev/urandom "$T/one-line.ini"; do
	run "$f" 1 "$f"
	[[ $out == "$f: $too_big" ]] || fail "$f: want exactly '$f: $too_big', got:"$'\n'"${out:0:2000}"
done

mkfifo "$T/idle.fifo"
run "a FIFO with no writer" 0 "$T/idle.fifo"
[[ $out == *"ok (0 connectors)"* ]] || fail "a FIFO with no writer: $out"

ini='[connector "f"]\nurl = http://127.0.0.1:9/mcp\n'
mkfifo "$T/fed.fifo"
# shellcheck disable=SC2059
printf "$ini" >"$T/fed.fifo" &
writer=$!
run "a FIFO with a writer" 1 "$T/fed.fifo"
[[ $out == *"ok (1 connectors)"* ]] || fail "a FIFO with a writer: $out"
wait "$writer" 2>/dev/null
writer=

# shellcheck disable=SC2059
run "a pipe from <(...)" 1 <(printf "$ini")
[[ $out == *"ok (1 connectors)"* ]] || fail "a pipe from <(...): $out"

(( failed )) && { echo "config_bounds: FAILED" >&2; exit 1; }
echo "config_bounds: /dev/zero, /dev/urandom, 5 MB of one line refused; FIFOs and pipes read"
