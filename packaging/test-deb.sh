#!/usr/bin/env bash
# packaging/test-deb.sh [DEB] - installs the package built by `make deb` with
# dpkg -i, checks what it installed and runs it, then removes it with
# dpkg --purge. Root only (CI runs it as root on Debian 12; `make deb-test`).
#
#   - the files: binary, man pages (rendered with groff -ww, no warning),
#     bash completion, sample.ini, copyright (License: Apache-2.0, and no second
#     copy of the license); Depends names libcurl4, libsodium23 and libinih1;
#   - /usr/bin/mcpmux --version;
#   - mcpmux init FILE, then mcpmux check -c FILE (a disabled connector: exit 0);
#   - mcpmux check against a live MCP test server (tests/node/servers/test-server.mjs)
#     when Node.js and the test modules are there (after `make check`), with a
#     disabled and an unreachable connector next to it (exit 1, each line right);
#   - dpkg --purge leaves none of its files behind.
#
# The system is left as it was, on success or failure: it refuses to start when
# mcpmux is already installed as a package or any of the package's files exists,
# and a trap purges the package whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'test-deb: %s\n' "$*"; }
passed=0
ok() { passed=$((passed + 1)); say "ok: $*"; }
die() { printf 'test-deb: FAIL: %s\n' "$*" >&2; exit 1; }

deb=${1:-$(ls build/deb/mcpmux_*.deb 2>/dev/null | head -n1)}
[[ -n $deb && -f $deb ]] || die "no package: run make deb (or make deb-test)"
[[ $(id -u) -eq 0 ]] || die "dpkg -i needs root: run it as root (CI does), e.g. sudo make deb-test"
deb=$(realpath "$deb")
pkg=$(dpkg-deb -f "$deb" Package)
version=$(dpkg-deb -f "$deb" Version)
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }')

# --- refuse to touch a system that has it already -----------------------------
if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^[a-z][a-zA-Z]'; then
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg")
	[[ $status == un* ]] || die "package $pkg is already on this system ($status): not touching it"
fi
for f in $files; do
	[[ ! -e $f && ! -L $f ]] || die "$f exists already: installing $pkg would replace it"
done

T=$(mktemp -d /tmp/mcpmux-test-deb-XXXXXX)
server_pid=
installed=0
cleanup() {
	local rc=$?
	[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	if (( installed )) || dpkg-query -W "$pkg" >/dev/null 2>&1; then
		dpkg --purge "$pkg" >/dev/null 2>&1 || say "warning: dpkg --purge $pkg failed"
	fi
	rm -rf "$T"
	if (( rc )); then
		say "FAILED (the package was removed again)"
		echo "test-deb: $passed passed, 1 failed"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- the package itself ------------------------------------------------------
say "package $deb"
depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
for d in libcurl4 libsodium23 libinih1; do
	[[ $depends == *"$d "* || $depends == *"$d" || $depends == *"$d,"* ]] || die "Depends lacks $d"
done
for f in /usr/bin/mcpmux /usr/share/man/man1/mcpmux.1.gz /usr/share/man/man5/mcpmux.ini.5.gz \
	/usr/share/bash-completion/completions/mcpmux /usr/share/doc/mcpmux/examples/sample.ini \
	/usr/share/doc/mcpmux/copyright /usr/share/doc/mcpmux/changelog.Debian.gz; do
	grep -qx "$f" <<<"$files" || die "the package lacks $f"
done
copyright=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/mcpmux/copyright)
grep -qx 'License: Apache-2.0' <<<"$copyright" || die "the package's copyright does not say License: Apache-2.0"
grep -q /usr/share/common-licenses/Apache-2.0 <<<"$copyright" ||
	die "the package's copyright does not point to /usr/share/common-licenses/Apache-2.0"
! grep -qx /usr/share/doc/mcpmux/LICENSE <<<"$files" ||
	die "the package ships LICENSE next to copyright (lintian: extra-license-file)"
ok "Depends and contents"

say "dpkg -i"
installed=1
dpkg -i "$deb" || die "dpkg -i failed"
[[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg") == "ii " ]] || die "$pkg is not installed after dpkg -i"
ok "dpkg -i"

# --- what it installed -------------------------------------------------------
[[ $(command -v mcpmux || true) == /usr/bin/mcpmux ]] || die "mcpmux on PATH is $(command -v mcpmux || echo nothing)"
out=$(/usr/bin/mcpmux --version) || die "mcpmux --version exited $?"
printf '%s\n' "$out" | sed 's/^/  /'
[[ $out == "mcpmux ${version%-*}"$'\n'"libcurl "* ]] || die "unexpected --version output"
[[ $out == *"MCP protocol versions: "* ]] || die "--version names no MCP protocol version"
ok "mcpmux --version"

if command -v groff >/dev/null; then
	for m in /usr/share/man/man1/mcpmux.1.gz /usr/share/man/man5/mcpmux.ini.5.gz; do
		w=$(zcat "$m" | groff -man -ww -z -Tutf8 2>&1) || die "groff failed on $m"
		[[ -z $w ]] || die "groff warns on $m: $w"
	done
	ok "man pages render without warnings"
fi
bash -c 'source /usr/share/bash-completion/completions/mcpmux && complete -p mcpmux' >/dev/null ||
	die "the bash completion does not load"
ok "bash completion loads"

# --- a first run -------------------------------------------------------------
export HOME=$T/home
unset MCPMUX_CONFIG XDG_CONFIG_HOME
mkdir -p "$HOME"
cd "$T"
/usr/bin/mcpmux init "$T/first.ini" >/dev/null || die "mcpmux init failed"
out=$(/usr/bin/mcpmux check -c "$T/first.ini" 2>&1) || die "check of the init config exited $?: $out"
printf '%s\n' "$out" | sed 's/^/  /'
grep -Eq '^example +disabled$' <<<"$out" || die "check: no 'example disabled' line"
ok "mcpmux init + mcpmux check"

# --- a live connector --------------------------------------------------------
server=$ROOT/tests/node/servers/test-server.mjs
if command -v node >/dev/null && [[ -d $ROOT/tests/node/node_modules/@modelcontextprotocol/sdk ]]; then
	node "$server" --port 0 --name deb-test >"$T/server.out" 2>"$T/server.err" &
	server_pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$T/server.out")
		[[ -n $port ]] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $port ]] || die "the test server did not start: $(cat "$T/server.err")"
	# a port that was just free, for a connector that cannot connect
	dead=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
	cat >"$T/live.ini" <<-INI
	[mcpmux]
	connect_timeout = 5

	[connector "live"]
	url = http://127.0.0.1:$port/mcp

	[connector "gone"]
	url = http://127.0.0.1:$dead/mcp

	[connector "parked"]
	url = https://mcp.example.com/mcp
	enabled = no
	INI
	set +e
	out=$(/usr/bin/mcpmux check -c "$T/live.ini" 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out" | sed 's/^/  /'
	[[ $rc == 1 ]] || die "check with an unreachable connector exited $rc, want 1"
	grep -Eq '^live +active +[0-9]+ tools' <<<"$out" || die "check: 'live' is not active"
	grep -Eq '^gone +error +.*refused' <<<"$out" || die "check: 'gone' is not an error (connection refused)"
	grep -Eq '^parked +disabled$' <<<"$out" || die "check: 'parked' is not disabled"
	ok "mcpmux check against a live test server"
else
	say "skipped the live connector (needs node and tests/node/node_modules: run make check first)"
fi

# --- removal -----------------------------------------------------------------
cd "$ROOT"
say "dpkg --purge"
dpkg --purge "$pkg" || die "dpkg --purge failed"
installed=0
dpkg-query -W "$pkg" >/dev/null 2>&1 && [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg") != un* ]] &&
	die "$pkg is still known to dpkg after --purge"
for f in $files; do
	[[ ! -e $f ]] || die "$f is still there after dpkg --purge"
done
[[ ! -e /usr/share/doc/mcpmux ]] || die "/usr/share/doc/mcpmux is still there"
ok "dpkg --purge removed everything"
say "$pkg $version installed, ran and was removed"
echo "test-deb: $passed passed, 0 failed"
