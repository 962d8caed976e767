#!/usr/bin/env bash
# bench/redis-benchmark.sh — strata next to redis-server under redis-benchmark.
#
# Starts strata (embedded mode, L1 only) and a redis-server (no persistence)
# on free loopback ports, runs the same redis-benchmark SET/GET workload
# against each at pipeline depths 1 and 16, alternating between the two
# servers so that drift in the machine's load hits both alike, repeats
# ROUNDS times and prints the median throughput and latency of each case.
#
# Usage: bench/redis-benchmark.sh
# Environment (defaults in brackets):
#   STRATA_BIN  strata binary to test [built from ./cmd/strata into a temp dir]
#   N           requests per run [200000]
#   DATASIZE    value size in bytes [16]
#   CLIENTS     parallel connections [50]
#   KEYSPACE    random key space (-r) [100000]
#   PIPELINES   pipeline depths to test [1 16]
#   ROUNDS      repetitions; the median is reported [3]
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
DATASIZE=${DATASIZE:-16}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-3}

for cmd in redis-server redis-benchmark; do
	if ! command -v "$cmd" >/dev/null; then
		echo "error: $cmd not found (apt-get install redis-server redis-tools)" >&2
		exit 1
	fi
done

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init bench

if [[ -z ${STRATA_BIN:-} ]]; then
	echo "building strata..."
	go build -o "$tmp/strata" ./cmd/strata
	STRATA_BIN=$tmp/strata
fi

strata_port=$(free_port)
strata_http=$(free_port)
"$STRATA_BIN" serve --resp-addr "127.0.0.1:$strata_port" --http-addr "127.0.0.1:$strata_http" \
	--max-memory 1gb >"$tmp/strata.log" 2>&1 &
pids+=($!)
wait_port "$strata_port" "$!" strata "$tmp/strata.log"

redis_port=$(free_port)
while [[ $redis_port == "$strata_port" || $redis_port == "$strata_http" ]]; do redis_port=$(free_port); done
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
	--protected-mode no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port" "$!" redis-server "$tmp/redis.log"

echo "strata $("$STRATA_BIN" --version 2>/dev/null | head -n 1 || true) on :$strata_port; $(redis-server --version | cut -d' ' -f1-3) on :$redis_port"
echo "redis-benchmark -c $CLIENTS -n $N -d $DATASIZE -r $KEYSPACE -t set,get, pipelines: $PIPELINES, rounds: $ROUNDS"

# run SERVER PORT P: one redis-benchmark run (SET, then GET of the keys just
# set); appends "rps p50 p99" to $tmp/<SERVER>-<TEST>-P<P> for each test.
run() {
	local out
	if ! out=$(redis-benchmark -h 127.0.0.1 -p "$2" -c "$CLIENTS" -n "$N" -d "$DATASIZE" \
		-r "$KEYSPACE" -P "$3" -t set,get --csv --precision 3 2>"$tmp/bench.err"); then
		echo "error: redis-benchmark against $1 failed:" >&2
		cat "$tmp/bench.err" >&2
		exit 1
	fi
	# redis-benchmark 6.2+ prints a header and latency columns in CSV:
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
	# "p95_latency_ms","p99_latency_ms","max_latency_ms". Older versions
	# print only "test","rps"; then latencies are reported as n/a.
	awk -F'","' -v dir="$tmp" -v server="$1" -v p="$3" '
		{ gsub(/^"|"$/, "") }
		$1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == "SET" || $1 == "GET" {
			rps = $2
			p50 = ("p50_latency_ms" in col) ? $col["p50_latency_ms"] : "n/a"
			p99 = ("p99_latency_ms" in col) ? $col["p99_latency_ms"] : "n/a"
			print rps, p50, p99 >> (dir "/" server "-" $1 "-P" p)
		}' <<<"$out"
}

for round in $(seq "$ROUNDS"); do
	for p in $PIPELINES; do
		# Alternate which server goes first, so neither always runs on a
		# warmer (or more tired) machine.
		if ((round % 2)); then order="strata redis"; else order="redis strata"; fi
		for server in $order; do
			if [[ $server == strata ]]; then port=$strata_port; else port=$redis_port; fi
			run "$server" "$port" "$p"
			for pid in "${pids[@]}"; do
				if ! kill -0 "$pid" 2>/dev/null; then
					echo "error: a server died during the benchmark; logs:" >&2
					tail -n 20 "$tmp/strata.log" "$tmp/redis.log" >&2
					exit 1
				fi
			done
		done
		printf 'round %d/%d P=%s done\n' "$round" "$ROUNDS" "$p" >&2
	done
done

# median FILE COLUMN prints the median of a column (n/a stays n/a).
median() {
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0 || v[1] == "n/a") { print "n/a"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

echo
printf '%-8s %14s %14s %7s %11s %11s %11s %11s %9s\n' case "strata ops/s" "redis ops/s" ratio \
	"strata p50" "redis p50" "strata p99" "redis p99" "p99 ratio"
for p in $PIPELINES; do
	for test in SET GET; do
		s=$tmp/strata-$test-P$p r=$tmp/redis-$test-P$p
		s_rps=$(median "$s" 1) r_rps=$(median "$r" 1)
		s_p50=$(median "$s" 2) r_p50=$(median "$r" 2)
		s_p99=$(median "$s" 3) r_p99=$(median "$r" 3)
		printf '%-8s %14.0f %14.0f %7s %11s %11s %11s %11s %9s\n' "$test P=$p" "$s_rps" "$r_rps" \
			"$(ratio "$s_rps" "$r_rps")" "$s_p50" "$r_p50" "$s_p99" "$r_p99" "$(ratio "$s_p99" "$r_p99")"
	done
done
echo "(medians of $ROUNDS rounds; latencies in ms; ratio = strata / redis: above 1 is faster for ops/s, slower for p99)"
