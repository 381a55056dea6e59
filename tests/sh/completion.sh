#!/usr/bin/env bash
# tests/sh/completion.sh - packaging/bash-completion/mcpmux offers the commands,
# each command's options and subcommands, files after -c, and the stored names
# after `vault rm` (from `mcpmux vault list` in a scratch $HOME).
# usage: tests/sh/completion.sh [path/to/mcpmux]   (default ./mcpmux, or $MCPMUX_BIN)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
MUX=$(realpath "${1:-${MCPMUX_BIN:-./mcpmux}}")
failed=0
fail() { printf 'completion: %s\n' "$*" >&2; failed=1; }

# shellcheck source=/dev/null
source packaging/bash-completion/mcpmux || { echo "completion: cannot source it" >&2; exit 1; }

# offers "WORDS BEFORE THE CURSOR|CURRENT" "expected, space separated, sorted"
offers() {
	local line=$1 want=$2 got
	read -r -a COMP_WORDS <<<"${line%%|*}"
	COMP_WORDS=("$MUX" "${COMP_WORDS[@]:1}" "${line#*|}")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_mcpmux
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
	[[ $got == "$want" ]] || fail "'${line/|/ }': got '$got', want '$want'"
}

T=$(mktemp -d /tmp/mcpmux-completion-XXXXXX)
trap 'rm -rf "$T"' EXIT
export HOME=$T/home
unset MCPMUX_CONFIG XDG_CONFIG_HOME MCPMUX_VAULT_PASSPHRASE
mkdir -p "$HOME"
cd "$T" || exit 1
touch conf-a.ini conf-b.ini other

offers "mcpmux|" "approve check config init serve tools vault"
offers "mcpmux|c" "check config"
offers "mcpmux|-" "--config --help --version -V -c -h"
offers "mcpmux tools|--" "--config --help --json"
offers "mcpmux serve|-" "--config --help -c -h"
offers "mcpmux check|-" "--config --help -c -h"
offers "mcpmux approve|-" "--help -h"
offers "mcpmux config|" "--help -h claude"
offers "mcpmux config claude|-" "--config --help -c -h"
offers "mcpmux vault|" "list rm set"
offers "mcpmux vault -c conf-a.ini|s" "set"
offers "mcpmux vault|-" "--config --help -c -h"
offers "mcpmux tools -c|conf" "conf-a.ini conf-b.ini"
offers "mcpmux -c|conf-b" "conf-b.ini"
offers "mcpmux -c conf-a.ini|t" "tools"
offers "mcpmux tools|--config=conf-a" "conf-a.ini"
offers "mcpmux init|o" "other"
offers "mcpmux init other|" ""

# vault rm completes the stored names
for n in github linear; do
	printf 'secret-%s' "$n" | "$MUX" vault set "$n" >/dev/null 2>&1 || fail "vault set $n failed"
done
offers "mcpmux vault rm|" "github linear"
offers "mcpmux vault rm|l" "linear"
offers "mcpmux vault set|" ""

(( failed )) && { echo "completion: FAILED" >&2; exit 1; }
echo "completion: commands, options, files and vault names complete"
