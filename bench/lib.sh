# bench/lib.sh: what the side-by-side benchmark scripts share. Source it
# after `set -euo pipefail`; then call bench_init once.
#
# bench_init NAME [SIGNAL] makes the temp dir $tmp (0755, so servers running
# as another user can use it) and arranges that on exit every PID in $pids
# gets SIGNAL (default TERM; postgres takes INT as a fast shutdown), up to 10
# seconds to exit, then SIGKILL, and $tmp is removed.

# shellcheck shell=bash

bench_init() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-$1.XXXXXX")
	chmod 755 "$tmp"
	pids=()
	bench_stop_signal=${2:-TERM}
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	bench_stop "$bench_stop_signal" "${pids[@]}"
	rm -rf "$tmp"
}

# bench_stop SIGNAL PID... sends SIGNAL to each PID, gives them 10 seconds
# to exit, then SIGKILL, and reaps them.
bench_stop() {
	local sig=$1 pid
	shift
	for pid; do kill "-$sig" "$pid" 2>/dev/null || true; done
	for pid; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# port_free PORT succeeds when nothing accepts connections on it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a TCP port on 127.0.0.1 that nothing listens on and that
# this script has not handed out before.
bench_chosen=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if [[ $bench_chosen != *" $p "* ]] && port_free "$p"; then
			bench_chosen+="$p "
			echo "$p"
			return
		fi
	done
	echo "error: no free port found" >&2
	return 1
}

# wait_port PORT PID NAME LOG waits up to 30 s until PORT accepts
# connections, and exits with the tail of LOG if PID dies first or time
# runs out.
wait_port() {
	local port=$1 pid=$2 name=$3 log=$4
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "error: $name exited during startup; its log:" >&2
			tail -n 30 "$log" >&2 || true
			exit 1
		fi
		if ! port_free "$port"; then
			return
		fi
		sleep 0.1
	done
	echo "error: $name did not listen on port $port within 30s; its log:" >&2
	tail -n 30 "$log" >&2 || true
	exit 1
}
