#!/usr/bin/env bash
# test-package.sh - build the Debian package from a copy of this tree, install
# it with dpkg -i, check what it installed, run the installed daemon for a
# short start/stop, then remove and purge it and check nothing is left.
#
# Needs root (dpkg -i) and dpkg-dev/debhelper (scripts/deps.sh).  Refuses to
# run when a dexp2p package is already installed.  The build happens in a
# temporary directory (dpkg-buildpackage writes the .deb next to the tree).
# When PID 1 is systemd the service is also started and stopped through
# systemctl; otherwise (containers) the installed binary is run directly
# with a temporary data directory.  Every wait has a deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$SECONDS

fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
say() { echo "test-package: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i); run as root"
for c in dpkg-buildpackage dh help2man; do
	command -v "$c" >/dev/null || fail "$c missing (make deps)"
done
if dpkg-query -W -f='${Status}' dexp2p 2>/dev/null | grep -q installed; then
	fail "a dexp2p package is already installed; remove it first"
fi

tmp=$(mktemp -d /tmp/dexp2p-pkg.XXXXXX)
installed=0
daemon_pid=""
cleanup() {
	if [ -n "$daemon_pid" ]; then kill -KILL "$daemon_pid" 2>/dev/null || true; fi
	if [ "$installed" = 1 ]; then dpkg -P dexp2p >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# 1. Build from a copy: the files git knows plus new, not ignored, ones.
version=$(sed -n 's|^#define DEX_SUBVERSION "/dexp2p:\(.*\)/"|\1|p' src/node/node.h)
src="$tmp/dexp2p-$version"
mkdir -p "$src"
git ls-files -z -co --exclude-standard | xargs -0 tar cf - | tar xf - -C "$src"
say "building the package in $src"
if ! (cd "$src" && nice dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1); then
	tail -n 40 "$tmp/build.log"
	fail "dpkg-buildpackage failed (log above)"
fi
deb=$(ls "$tmp"/dexp2p_"$version"_*.deb)
say "built $(basename "$deb") in $((SECONDS - t0)) s"

# 2. Its content.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$tmp/content"
for f in /usr/bin/dexp2pd /usr/bin/dexp2p-cli \
	/usr/share/man/man1/dexp2pd.1.gz /usr/share/man/man1/dexp2p-cli.1.gz \
	/usr/share/bash-completion/completions/dexp2pd \
	/usr/share/bash-completion/completions/dexp2p-cli \
	/lib/systemd/system/dexp2pd.service /etc/dexp2p/dexp2p.conf; do
	grep -qx "$f" "$tmp/content" || fail "$f not in the package"
done
dpkg-deb -f "$deb" Depends | grep -q libevent || fail "no libevent in Depends"
# The copyright file names the license the tree declares, and none when it
# declares none (docs/decisions.md "Open points"): a LICENSE or COPYING file
# and "License: unspecified" disagree, and so do no such file and a name.
grep -qx /usr/share/doc/dexp2p/copyright "$tmp/content" || fail "no copyright file in the package"
lic=$(sed -n 's/^License: *//p' debian/copyright | sort -u)
if [ -n "$(find . -maxdepth 1 \( -name 'LICENSE*' -o -name 'COPYING*' \) -print -quit)" ]; then
	[ -n "$lic" ] && ! grep -qx unspecified <<<"$lic" ||
		fail "the tree has a LICENSE/COPYING file, debian/copyright says: ${lic:-nothing}"
else
	[ "$lic" = unspecified ] ||
		fail "no LICENSE/COPYING file, yet debian/copyright names: $lic"
fi

# 3. Install.
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i failed"; }
installed=1
dpkg-query -W -f='${Conffiles}' dexp2p | grep -q /etc/dexp2p/dexp2p.conf ||
	fail "/etc/dexp2p/dexp2p.conf is not a conffile"
/usr/bin/dexp2pd -help | grep -q '^Usage: dexp2pd' || fail "installed dexp2pd -help"
/usr/bin/dexp2p-cli -help | grep -q '^Usage: dexp2p-cli' || fail "installed dexp2p-cli -help"
if command -v man >/dev/null; then
	man -w dexp2pd | grep -q '^/usr/share/man/man1/dexp2pd.1.gz$' || fail "man -w dexp2pd"
	MANWIDTH=80 man dexp2p-cli 2>/dev/null | grep -q 'DEX_broadcast' ||
		fail "man dexp2p-cli has no method list"
fi
if command -v systemd-analyze >/dev/null; then
	out=$(cd "$tmp" && systemd-analyze verify /lib/systemd/system/dexp2pd.service 2>&1) ||
		fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
if [ -f /usr/share/bash-completion/bash_completion ]; then
	bash --norc --noprofile -c '. /usr/share/bash-completion/bash_completion
		__load_completion dexp2p-cli && complete -p dexp2p-cli' |
		grep -q _dexp2p_cli || fail "bash completion for dexp2p-cli not loaded"
fi
say "installed; -help, man, completion, unit checked"

# 4. A short start/stop of the installed daemon.
wait_for() { # seconds, command...: run the command until it succeeds
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
	say "PID 1 is systemd: starting dexp2pd.service"
	systemctl start dexp2pd
	cli=(/usr/bin/dexp2p-cli -datadir=/var/lib/dexp2p -conf=/etc/dexp2p/dexp2p.conf)
	wait_for 30 "${cli[@]}" getinfo || fail "service did not answer getinfo"
	systemctl stop dexp2pd
	systemctl is-active -q dexp2pd && fail "service still active"
else
	say "PID 1 is $(ps -p 1 -o comm=), not systemd: running /usr/bin/dexp2pd directly"
	read -r port rpcport < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
	mkdir "$tmp/node"
	(cd "$tmp/node" && exec /usr/bin/dexp2pd -datadir="$tmp/node" -port="$port" \
		-rpcport="$rpcport" -listen=0 -printtoconsole >"$tmp/node.log" 2>&1) &
	daemon_pid=$!
	cli=(/usr/bin/dexp2p-cli -datadir="$tmp/node" -rpcport="$rpcport")
	wait_for 30 "${cli[@]}" getinfo || { cat "$tmp/node.log"; fail "daemon did not answer getinfo"; }
	"${cli[@]}" getinfo | grep -q '"version"' || fail "getinfo has no version"
	"${cli[@]}" stop | grep -q stopping || fail "stop"
	wait_for 30 bash -c "! kill -0 $daemon_pid" || fail "daemon still running 30 s after stop"
	wait "$daemon_pid" || fail "daemon exit status $?"
	daemon_pid=""
	[ ! -e "$tmp/node/.cookie" ] || fail ".cookie left after stop"
fi
say "start/stop ok"

# 5. Remove (the conffile stays), then purge (it goes).
dpkg -r dexp2p >/dev/null
[ ! -e /usr/bin/dexp2pd ] || fail "/usr/bin/dexp2pd left after dpkg -r"
[ -e /etc/dexp2p/dexp2p.conf ] || fail "conffile removed by dpkg -r"
dpkg -P dexp2p >/dev/null
installed=0
while read -r f; do
	[ ! -e "$f" ] || fail "$f left after dpkg -P"
done < <(grep -v '/$' "$tmp/content")
say "removed and purged; PASS in $((SECONDS - t0)) s"
