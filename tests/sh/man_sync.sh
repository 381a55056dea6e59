#!/usr/bin/env bash
# tests/sh/man_sync.sh - the man pages say what the program does, no more, no less:
#   mcpmux.1      every command, subcommand and option of `mcpmux --help` and
#                 `mcpmux CMD --help` is a tag in COMMANDS / OPTIONS, and back;
#   mcpmux.ini.5  every section and key of the tables in src/config.c
#                 (plus approval.<glob>, label.<glob>) is a tag, and back;
#   both render with groff -man -ww and no warning.
# usage: tests/sh/man_sync.sh [path/to/mcpmux]   (default ./mcpmux, or $MCPMUX_BIN)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
MUX=${1:-${MCPMUX_BIN:-./mcpmux}}
MAN1=man/mcpmux.1
MAN5=man/mcpmux.ini.5
failed=0

fail() { printf 'man_sync: %s\n' "$*" >&2; failed=1; }

# Sorted, unique, one per line, from words on stdin.
set_of() { tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort -u; }

# same LABEL "A-set" "B-set" WHAT-A WHAT-B
same() {
	local only_a only_b
	only_a=$(LC_ALL=C comm -23 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d'))
	only_b=$(LC_ALL=C comm -13 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d'))
	[[ -z $only_a ]] || fail "$1: in $4 but not in $5: $(echo $only_a)"
	[[ -z $only_b ]] || fail "$1: in $5 but not in $4: $(echo $only_b)"
}

# Options in help text: -x or --word, not inside a word (Ctrl-C, read-only).
flags_in() { grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]//'; }

# roff with \- and \(dq made plain, so that bold chunks read as text.
plain() { sed -e 's/\\-/-/g' -e 's/\\(dq/"/g' "$1"; }

# "SECTION<TAB>tag line" for each .TP tag outside .RS blocks.
tags() {
	plain "$1" | awk '
		/^\.SH/ { sec = $0; sub(/^\.SH +/, "", sec); gsub(/"/, "", sec); depth = 0; want = 0; next }
		/^\.RS/ { depth++; next }
		/^\.RE/ { depth--; next }
		/^\.TP/ { want = (depth == 0); next }
		want { print sec "\t" $0; want = 0 }'
}

# The bold chunks of a roff line (\fB...), one per line.
bold() { grep -oE '\\fB[^\\]*' | sed -e 's/^\\fB//' -e 's/ *$//' | sed '/^$/d'; }

# --- the program's side ------------------------------------------------------

[[ -x $MUX ]] || { echo "man_sync: $MUX is not built" >&2; exit 1; }
main_help=$("$MUX" --help) || fail "mcpmux --help exited $?"
help_cmds=$(printf '%s\n' "$main_help" |
	awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' | set_of)
[[ -n $help_cmds ]] || fail "no commands found in mcpmux --help"
all_help=$main_help
declare -A help_sub help_flags
for c in $help_cmds; do
	h=$("$MUX" "$c" --help) || fail "mcpmux $c --help exited $?"
	all_help+=$'\n'$h
	usage=$(printf '%s\n' "$h" | sed -n "s/^usage: mcpmux $c\\b//p" | head -n1)
	[[ -n $usage || $(printf '%s\n' "$h" | head -n1) == "usage: mcpmux $c" ]] ||
		fail "mcpmux $c --help: no 'usage: mcpmux $c' line"
	words=$(printf '%s\n' "$usage" | tr '[]|' '   ')
	help_sub[$c]=$(for w in $words; do [[ $w =~ ^[a-z][a-z-]*$ ]] && echo "$w"; done | set_of)
	help_flags[$c]=$(for w in $words; do [[ $w == -* ]] && echo "$w"; done | set_of)
done
help_all_flags=$(printf '%s\n' "$all_help" | flags_in | set_of)

# --- mcpmux.1 ----------------------------------------------------------------

[[ -f $MAN1 ]] || { echo "man_sync: $MAN1 is missing" >&2; exit 1; }
declare -A man_sub man_flags
man_cmds=
man_all_flags=
while IFS=$'\t' read -r sec tag; do
	chunks=$(printf '%s\n' "$tag" | bold)
	case $sec in
	COMMANDS)
		first=$(printf '%s\n' "$chunks" | head -n1)
		c=${first%% *}
		man_cmds+=" $c"
		rest=$( { printf '%s\n' "${first#"$c"}"; printf '%s\n' "$chunks" | tail -n +2; } | tr ' ' '\n' | sed '/^$/d')
		man_sub[$c]+=" $(printf '%s\n' "$rest" | grep -v '^-' | tr '\n' ' ')"
		man_flags[$c]+=" $(printf '%s\n' "$rest" | grep '^-' | tr '\n' ' ')"
		man_all_flags+=" $(printf '%s\n' "$rest" | grep '^-' | tr '\n' ' ')"
		;;
	OPTIONS)
		man_all_flags+=" $(printf '%s\n' "$chunks" | tr ' ' '\n' | grep '^-' | sed 's/=.*//' | tr '\n' ' ')"
		;;
	esac
done < <(tags "$MAN1")
man_cmds=$(echo "$man_cmds" | set_of)
# SYNOPSIS: its bold words are commands (after "mcpmux") and options.
synopsis=$(plain "$MAN1" | awk '/^\.SH/ { on = ($2 == "SYNOPSIS"); next } on' | bold | tr ' ' '\n')
syn_cmds=$(printf '%s\n' "$synopsis" | grep -v '^-' | grep -vx mcpmux | set_of)
man_all_flags+=" $(printf '%s\n' "$synopsis" | grep '^-' | tr '\n' ' ')"
man_all_flags=$(echo "$man_all_flags" | set_of)

same "commands" "$help_cmds" "$man_cmds" "mcpmux --help" "$MAN1 COMMANDS"
same "options" "$help_all_flags" "$man_all_flags" "the --help outputs" "$MAN1"
help_syn=$( { echo "$help_cmds"; for c in $help_cmds; do echo "${help_sub[$c]}"; done; } | set_of)
same "SYNOPSIS words" "$help_syn" "$syn_cmds" "the --help outputs" "$MAN1 SYNOPSIS"
for c in $help_cmds; do
	same "subcommands of $c" "${help_sub[$c]}" "$(echo "${man_sub[$c]:-}" | set_of)" \
		"mcpmux $c --help" "$MAN1 COMMANDS"
	same "options of $c" "${help_flags[$c]}" "$(echo "${man_flags[$c]:-}" | set_of)" \
		"mcpmux $c --help" "$MAN1 COMMANDS"
done

# --- mcpmux.ini.5 ------------------------------------------------------------

[[ -f $MAN5 ]] || { echo "man_sync: $MAN5 is missing" >&2; exit 1; }
table() {
	awk -v t="static const struct key $1_keys[] = {" \
		'index($0, t) == 1 { on = 1; next } on && /^};/ { on = 0 } on' src/config.c |
		grep -oE '\{ "[a-z_]+"' | sed -E 's/\{ "(.*)"/\1/' | set_of
}
declare -A src_keys man_keys
src_keys[mcpmux]=$(table mcpmux)
src_keys[vault]=$(table vault)
src_keys[connector]=$( { table connector
	awk '/^static int rule_key\(/ { on = 1 } on && /^}/ { on = 0 } on' src/config.c |
		grep -oE 'strncmp\(name, "[a-z_]+\."' | sed -E 's/.*"(.*)"/\1/'; } | set_of)
src_sections=$(awk '/^static void start_section\(/ { on = 1 } on && /^}/ { on = 0 } on' src/config.c |
	grep -oE 'name, "[a-z]+"' | sed -E 's/.*"(.*)"/\1/' | set_of)
for s in mcpmux vault connector; do
	[[ -n ${src_keys[$s]} ]] || fail "no keys found for [$s] in src/config.c"
done

while IFS=$'\t' read -r sec tag; do
	[[ $sec =~ ^THE\ \[([a-z]+) ]] || continue
	s=${BASH_REMATCH[1]}
	key=$(printf '%s\n' "$tag" | sed -E 's/^\.B[IR]? +//; s/^\\fB//; s/[ \\].*//')
	man_keys[$s]+=" $key"
done < <(tags "$MAN5")
man_sections=$(plain "$MAN5" | sed -nE 's/^\.SH "?THE \[([a-z]+).*/\1/p' | set_of)
same "sections" "$src_sections" "$man_sections" "src/config.c" "$MAN5"
for s in $src_sections; do
	same "keys of [$s]" "${src_keys[$s]:-}" "$(echo "${man_keys[$s]:-}" | set_of)" \
		"src/config.c" "$MAN5"
done

# --- rendering ---------------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
	for f in "$MAN1" "$MAN5"; do
		for dev in ps utf8; do
			out=$(groff -man -ww -z -T"$dev" "$f" 2>&1)
			[[ -z $out ]] || fail "groff -man -ww -T$dev $f warns:"$'\n'"$out"
		done
	done
else
	fail "groff is not installed (packaging/deps.sh installs groff-base)"
fi

if (( failed )); then
	echo "man_sync: FAILED" >&2
	exit 1
fi
echo "man_sync: $(echo $help_cmds | wc -w) commands, $(echo $help_all_flags | wc -w) options," \
	"$(echo ${src_keys[mcpmux]} ${src_keys[vault]} ${src_keys[connector]} | wc -w) config keys in sync"
