# benchlib.sh - shared by the network benchmark scripts (sourced, not run).
# shellcheck shell=bash
#
#   bench_tmp NAME        make $TMP (/tmp/NAME.XXXXXX), install the EXIT/INT/TERM
#                         trap that stops every pid in the `pids` array (TERM,
#                         KILL after 5 s) and removes $TMP unless KEEP=1
#   bench_ports BASE N STEP   echo the first base >= BASE (tried in steps of
#                         STEP, 40 tries) whose ports BASE..BASE+N-1 are all
#                         free on 127.0.0.1; exit 1 when none is
#   bench_need WHO FILE...    exit 1 ("WHO: FILE not built") unless every
#                         FILE is executable (usable before bench_tmp)
#   bench_numbers WHO VAR...  exit 1 ("WHO: VAR must be a number") unless
#                         every variable named holds a non-negative integer
#   bench_daemon NAME ARG...  start "$DAEMON" -datadir=$TMP/NAME ARG... in
#                         the background, stdout and stderr to $TMP/NAME.out;
#                         its pid goes into `pids` (stopped by the trap) and
#                         BENCH_PID
#   bench_wait_rpc NAME PORT USER PASSWORD [SECONDS]  wait (20 s by default)
#                         until "$BUILD/dexp2p-cli" getinfo answers on PORT;
#                         exit 1 with NAME's output when its daemon (started
#                         by bench_daemon) dies or the time runs out
# Every loop is bounded.

pids=()
declare -A bench_pid=()   # bench_daemon NAME -> pid

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

bench_need() {
	local who=$1 f
	shift
	for f in "$@"; do
		[ -x "$f" ] || { echo "$who: $f not built" >&2; exit 1; }
	done
}

bench_numbers() {
	local who=$1 v
	shift
	for v in "$@"; do
		[[ ${!v} =~ ^[0-9]+$ ]] || { echo "$who: $v must be a number" >&2; exit 1; }
	done
}

bench_daemon() {
	local name=$1
	shift
	mkdir -p "$TMP/$name"
	${BENCH_WRAP[@]+"${BENCH_WRAP[@]}"} "${DAEMON:?}" -datadir="$TMP/$name" \
		"$@" >"$TMP/$name.out" 2>&1 &
	BENCH_PID=$!
	pids+=("$BENCH_PID")
	bench_pid[$name]=$BENCH_PID
}

bench_wait_rpc() {
	local name=$1 port=$2 user=$3 pw=$4 secs=${5:-20} pid _
	pid=${bench_pid[$name]:?bench_wait_rpc: $name not started by bench_daemon}
	for _ in $(seq 1 $((secs * 10))); do
		if "${BUILD:?}/dexp2p-cli" -rpcport="$port" -rpcuser="$user" \
			-rpcpassword="$pw" getinfo >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$BENCH_NAME: daemon $name died" >&2
			cat "$TMP/$name.out" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "$BENCH_NAME: daemon $name: no RPC answer on port $port within $secs s" >&2
	exit 1
}
