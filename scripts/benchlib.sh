# benchlib.sh - shared by the network benchmark scripts (sourced, not run).
# shellcheck shell=bash
#
#   bench_tmp NAME        make $TMP (/tmp/NAME.XXXXXX), install the EXIT/INT/TERM
#                         trap that stops every pid in the `pids` array (TERM,
#                         KILL after 5 s) and removes $TMP unless KEEP=1
#   bench_ports BASE N STEP   echo the first base >= BASE (tried in steps of
#                         STEP, 40 tries) whose ports BASE..BASE+N-1 are all
#                         free on 127.0.0.1; exit 1 when none is
# Every loop is bounded.

pids=()

bench_cleanup() {
	local pid _
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 50); do              # up to 5 s each
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "# $BENCH_NAME: datadirs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}

bench_tmp() {
	BENCH_NAME=$1
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bench_ports() {
	local base=$1 n=$2 step=$3 ok p
	for _ in $(seq 1 40); do
		ok=1
		for p in $(seq "$base" $((base + n - 1))); do
			if port_busy "$p"; then ok=0; break; fi
		done
		[ $ok = 1 ] && { echo "$base"; return 0; }
		base=$((base + step))
	done
	echo "$BENCH_NAME: no free ports" >&2
	exit 1
}
