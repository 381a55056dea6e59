#!/usr/bin/env bash
# tests/fuzz/run.sh - runs the libFuzzer targets that `make fuzz-build` put in build/fuzz.
#
#   run.sh tools CC              exit 0 when CC can build a libFuzzer target, else say
#                                what to install
#   run.sh fuzz SECONDS T...     each target for SECONDS from its corpora; new inputs are
#                                kept in build/fuzz/corpus/T (never in the repository)
#   run.sh check SECONDS T...    the regressions of each target, then each target for
#                                SECONDS from the seed corpus only, with a fixed seed,
#                                then the JSON differential (make fuzz-check)
#
# A crash (or leak, or broken invariant) is saved as build/fuzz/crashes/T/crash-*; the
# script stops with its path. To keep it as a regression: copy it into
# tests/fuzz/regress/T/ (with a name that says what it was).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

OUT=build/fuzz
SEED=20240601	# fixed: the check run replays the same mutations every time

say() { printf 'fuzz: %s\n' "$*" >&2; }

tools() {
	local cc=$1 tmp
	if ! command -v "$cc" >/dev/null 2>&1; then
		say "$cc is not installed: the fuzz targets need clang with libFuzzer"
		say "run packaging/deps.sh (as root it installs clang and libclang-rt-14-dev;" \
			"otherwise it prints the command)"
		exit 1
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	printf '%s\n' '#include <stddef.h>' \
		'int LLVMFuzzerTestOneInput(const unsigned char *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const unsigned char *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$tmp/t.c"
	if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" >"$tmp/log" 2>&1; then
		sed 's/^/  /' "$tmp/log" >&2
		say "$cc cannot link a libFuzzer target (-fsanitize=fuzzer): libclang-rt-14-dev is missing"
		say "run packaging/deps.sh (as root it installs it; otherwise it prints the command)"
		exit 1
	fi
}

# Options every run shares. Memory: -rss_limit_mb and -malloc_limit_mb catch a
# parser that allocates far beyond its input.
common_opts() {
	local t=$1
	local opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=0
		"-artifact_prefix=$OUT/crashes/$t/")
	[[ -f tests/fuzz/$t.dict ]] && opts+=("-dict=tests/fuzz/$t.dict")
	printf '%s\n' "${opts[@]}"
}

# Replays every file of tests/fuzz/regress/T once.
replay() {
	local t=$1 bin=$OUT/fuzz_$1 files
	[[ -d tests/fuzz/regress/$t ]] || return 0
	mapfile -t files < <(find "tests/fuzz/regress/$t" -type f ! -name '*.md' | sort)
	(( ${#files[@]} )) || return 0
	say "$t: replaying ${#files[@]} regression inputs"
	mapfile -t opts < <(common_opts "$t")
	if ! "$bin" "${opts[@]}" -runs=1 "${files[@]}" >"$OUT/logs/$t.regress.log" 2>&1; then
		tail -n 40 "$OUT/logs/$t.regress.log" >&2
		say "$t: a regression input fails again (log: $OUT/logs/$t.regress.log)"
		exit 1
	fi
}

# One timed run. mode check: fresh scratch corpus, fixed seed.
run_one() {
	local mode=$1 secs=$2 t=$3 bin=$OUT/fuzz_$3 scratch log rc=0 start
	[[ -x $bin ]] || { say "$bin is missing: run make fuzz-build"; exit 1; }
	mkdir -p "$OUT/crashes/$t" "$OUT/logs"
	if [[ $mode == check ]]; then
		scratch=$OUT/check/$t
		rm -rf "$scratch"
	else
		scratch=$OUT/corpus/$t
	fi
	mkdir -p "$scratch"
	mapfile -t opts < <(common_opts "$t")
	# T.options: more flags for the timed runs only (a regression is replayed whole).
	[[ -f tests/fuzz/$t.options ]] && opts+=($(<"tests/fuzz/$t.options"))
	[[ $mode == check ]] && opts+=("-seed=$SEED")
	log=$OUT/logs/$t.$mode.log
	start=$SECONDS
	# The scratch directory comes first: libFuzzer writes new inputs there only.
	"$bin" "${opts[@]}" -max_total_time="$secs" "$scratch" "tests/fuzz/corpus/$t" \
		$( [[ -d tests/fuzz/regress/$t ]] && echo "tests/fuzz/regress/$t" ) \
		>"$log" 2>&1 || rc=$?
	if (( rc != 0 )); then
		tail -n 60 "$log" >&2
		say "$t: FAILED (exit $rc) after $((SECONDS - start)) s; log: $log"
		say "$t: the input is in $OUT/crashes/$t/; reproduce with: $bin <file>"
		exit 1
	fi
	say "$t: ok, $((SECONDS - start)) s, $(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n1) runs," \
		"$(find "$scratch" -type f | wc -l) new inputs in $scratch"
}

differential() {
	local py=python3
	command -v "$py" >/dev/null 2>&1 || { say "python3 is missing: run packaging/deps.sh"; exit 1; }
	"$py" tests/fuzz/differential.py build/json_decide tests/fuzz/corpus/json tests/fuzz/regress/json
}

cmd=${1:-}
shift || true
case $cmd in
	tools)
		tools "${1:-clang}"
		;;
	fuzz|check)
		secs=$1
		shift
		for t in "$@"; do mkdir -p "$OUT/crashes/$t" "$OUT/logs"; done
		if [[ $cmd == check ]]; then
			for t in "$@"; do replay "$t"; done
		fi
		for t in "$@"; do run_one "$cmd" "$secs" "$t"; done
		differential
		;;
	*)
		sed -n '2,15p' "$0" >&2
		exit 2
		;;
esac
