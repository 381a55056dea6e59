#!/usr/bin/env bash
# tests/sh/first_run.sh - a new user's first minutes, in a scratch $HOME:
# no config -> the message suggests `mcpmux init`; `mcpmux init` writes a
# 0600 file in a 0700 directory that `mcpmux check` accepts; a second init
# refuses and leaves the file alone; `mcpmux init FILE && mcpmux check -c FILE`;
# `mcpmux config claude` prints JSON with absolute paths.
# usage: tests/sh/first_run.sh [path/to/mcpmux]   (default ./mcpmux, or $MCPMUX_BIN)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
MUX=$(realpath "${1:-${MCPMUX_BIN:-./mcpmux}}")
failed=0
fail() { printf 'first_run: %s\n' "$*" >&2; failed=1; }

T=$(mktemp -d /tmp/mcpmux-first-run-XXXXXX)
trap 'rm -rf "$T"' EXIT
export HOME=$T/home
unset MCPMUX_CONFIG XDG_CONFIG_HOME
mkdir -p "$HOME"
cd "$T" || exit 1
user_cfg=$HOME/.config/mcpmux/mcpmux.ini
has_etc=0
[[ -e /etc/mcpmux/mcpmux.ini ]] && has_etc=1

# run NAME WANT_RC CMD...: output in $out (stdout+stderr)
run() {
	local name=$1 want=$2
	shift 2
	out=$("$@" </dev/null 2>&1)
	local rc=$?
	[[ $rc == "$want" ]] || fail "$name: exit $rc, want $want; output:"$'\n'"$out"
}
expect() { [[ $out == *"$2"* ]] || fail "$1: no '$2' in:"$'\n'"$out"; }

if (( has_etc )); then
	echo "first_run: /etc/mcpmux/mcpmux.ini exists here: skipping the default-path steps" >&2
else
	run "check with no config" 1 "$MUX" check
	expect "check with no config" "no config file found"
	expect "check with no config" "mcpmux init"
	expect "check with no config" "$user_cfg"

	run "init" 0 "$MUX" init
	expect "init" "wrote $user_cfg"
	expect "init" "mcpmux check"
	expect "init" "mcpmux config claude"
	[[ $(stat -c %a "$user_cfg" 2>/dev/null) == 600 ]] || fail "init: $user_cfg is not mode 600"
	for d in "$HOME/.config" "$HOME/.config/mcpmux"; do
		[[ $(stat -c %a "$d" 2>/dev/null) == 700 ]] || fail "init: $d is not mode 700"
	done

	run "check after init" 0 "$MUX" check
	expect "check after init" "config $user_cfg: ok"
	[[ $out =~ (^|$'\n')example\ +disabled ]] || fail "check after init: no 'example disabled' line in:"$'\n'"$out"

	sum=$(sha256sum "$user_cfg")
	run "second init" 1 "$MUX" init
	expect "second init" "already exists"
	[[ $(sha256sum "$user_cfg") == "$sum" ]] || fail "second init changed $user_cfg"
fi

run "init FILE" 0 "$MUX" init sub/dir/mine.ini
[[ -f sub/dir/mine.ini ]] || fail "init FILE: sub/dir/mine.ini not written"
run "check -c FILE" 0 "$MUX" check -c sub/dir/mine.ini
run "init FILE again" 1 "$MUX" init sub/dir/mine.ini
run "init two files" 2 "$MUX" init a.ini b.ini

# config claude: JSON, absolute command and config paths, from a relative -c.
if command -v node >/dev/null 2>&1; then
	json=$("$MUX" config claude -c sub/dir/mine.ini 2>/dev/null) || fail "config claude exited $?"
	got=$(printf '%s' "$json" | node -e '
		let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
			const e = JSON.parse(s).mcpServers.mux;
			console.log([e.command, ...e.args].join("\n"));
		});' 2>&1) || fail "config claude: not the expected JSON: $got"$'\n'"$json"
	want=$(printf '%s\n' "$MUX" serve -c "$(realpath sub/dir/mine.ini)")
	[[ $got == "$want" ]] || fail "config claude: command and args are"$'\n'"$got"$'\n'"want"$'\n'"$want"
else
	fail "node is not installed: cannot check the JSON of config claude"
fi

(( failed )) && { echo "first_run: FAILED" >&2; exit 1; }
echo "first_run: init, check and config claude behave"
