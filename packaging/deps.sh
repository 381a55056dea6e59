#!/usr/bin/env bash
# packaging/deps.sh - install what building and testing mcpmux need (Debian 12).
#
#   packaging/deps.sh          install whatever is missing (apt as root; npm ci in tests/node)
#   packaging/deps.sh --check  say nothing and exit 0 when everything is there;
#                              otherwise install as root, or print the command and exit 1
#
# Build:  build-essential pkg-config libcurl4-openssl-dev libjsmn-dev libsodium-dev libinih-dev
# Tests:  libcmocka-dev, Node.js >= 18 with npm, tmux, valgrind, ca-certificates, groff-base
#         (tests/sh/man_sync.sh renders the man pages), clang and libclang-rt-14-dev
#         (libFuzzer and the sanitizers for make fuzz-check), python3 (the JSON
#         differential, tests/fuzz/differential.py), and the
#         test-only npm packages pinned in tests/node/package-lock.json.
# An existing Node.js >= 18 is kept as it is, wherever it came from.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_DIR="$ROOT/tests/node"
NODE_MIN=18
APT_PKGS=(build-essential pkg-config libcurl4-openssl-dev libjsmn-dev libsodium-dev
          libinih-dev libcmocka-dev tmux valgrind ca-certificates groff-base
          clang libclang-rt-14-dev python3)
export DEBIAN_FRONTEND=noninteractive

usage() {
	cat <<'EOF'
usage: packaging/deps.sh [--check]

  (no option)  install the missing build and test dependencies
               (apt-get as root; prints the sudo command otherwise),
               then the test-only npm packages (npm ci in tests/node)
  --check      exit 0 silently when everything is present; otherwise
               behave as without option (non-root: print the command, exit 1)
EOF
}

mode=install
case "${1:-}" in
	"") ;;
	--check) mode=check ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
esac

say() { printf 'deps: %s\n' "$*" >&2; }

# --- what is missing ---------------------------------------------------------

missing_apt=()
find_missing_apt() {
	missing_apt=()
	local status
	# One dpkg-query call for all packages; unknown packages print nothing here.
	status=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${APT_PKGS[@]}" 2>/dev/null || true)
	local p
	for p in "${APT_PKGS[@]}"; do
		if ! grep -qE "^ii +${p}(:[a-z0-9]+)?\$" <<<"$status"; then
			missing_apt+=("$p")
		fi
	done
	# Node.js: keep whatever node >= 18 is on PATH.
	local v major
	if command -v node >/dev/null 2>&1 && v=$(node --version 2>/dev/null); then
		major=${v#v}; major=${major%%.*}
		if ! [[ $major =~ ^[0-9]+$ ]] || (( major < NODE_MIN )); then
			missing_apt+=(nodejs npm)
		elif ! command -v npm >/dev/null 2>&1; then
			missing_apt+=(npm)
		fi
	else
		missing_apt+=(nodejs npm)
	fi
}

node_modules_ok() {
	local stamp="$NODE_DIR/node_modules/.package-lock.json"
	[[ -f $stamp ]] || return 1
	# A lock file newer than the installed tree means npm ci has not run since it changed.
	[[ ! -f $NODE_DIR/package-lock.json || ! $NODE_DIR/package-lock.json -nt $stamp ]]
}

find_missing_apt
if [[ $mode == check && ${#missing_apt[@]} -eq 0 ]] && node_modules_ok; then
	exit 0
fi

# --- install -----------------------------------------------------------------

if (( ${#missing_apt[@]} > 0 )); then
	if [[ $(id -u) -ne 0 ]]; then
		say "missing: ${missing_apt[*]}"
		say "install them with:"
		printf '  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
			"${missing_apt[*]}" >&2
		if ! node_modules_ok; then
			say "then install the test-only npm packages with:"
			printf '  (cd %s && npm ci --no-audit --no-fund)\n' "$NODE_DIR" >&2
		fi
		exit 1
	fi
	say "installing: ${missing_apt[*]}"
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing_apt[@]}"
	hash -r
	find_missing_apt
	if (( ${#missing_apt[@]} > 0 )); then
		say "still missing after apt-get install: ${missing_apt[*]}"
		if [[ " ${missing_apt[*]} " == *" nodejs "* ]] && command -v node >/dev/null 2>&1; then
			say "node on PATH is $(command -v node) $(node --version 2>/dev/null || echo '(no version)'); mcpmux's tests need Node.js >= $NODE_MIN"
		fi
		exit 1
	fi
fi

if ! node_modules_ok; then
	if [[ ! -f $NODE_DIR/package-lock.json ]]; then
		say "tests/node/package-lock.json is missing; cannot install the test packages"
		exit 1
	fi
	# npm ci needs no root: run it as whoever called us.
	say "installing the test-only npm packages (npm ci in tests/node)"
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund)
	node_modules_ok || { say "npm ci did not produce tests/node/node_modules"; exit 1; }
fi

[[ $mode == check ]] || say "all build and test dependencies are present"
exit 0
