#!/usr/bin/env bash
# bench/fleet.sh: the same HTTP load against three deployments of strata,
# in one run, to show what the shared L2 and the NGINX hop cost per request:
#
#   single     one node, embedded (L1 only, no Redis)
#   single+L2  one node with a Redis Cluster as L2 (redis.addrs), directly
#   fleet      three nodes sharing that Redis Cluster, behind NGINX running
#              the shipped deploy/nginx/strata-http.conf (consistent hashing
#              on the key)
#
# The Redis Cluster is six redis-server processes (three masters, three
# replicas) made with redis-cli --cluster create --cluster-replicas 1. NGINX
# runs the shipped file as is but for the three upstream addresses and the
# listen port. Each setup gets the same workload from strata bench --target
# http: KEYS keys preloaded through the address under test (so reads hit and
# each key lands on its node), then Zipf(ZIPF_S) keys, READ_RATIO reads and
# the rest PUTs, CONNS connections, closed loop, WARMUP then DURATION
# measured. The Redis Cluster is flushed between the two setups that use it.
#
# It prints a table of throughput and p50/p99 latency with their ratios to
# the single node, and writes each run's JSON report to OUT.
#
# Usage: bench/fleet.sh            (from the repository root or anywhere)
# Environment (defaults in brackets):
#   STRATA_BIN   strata binary to use [go build ./cmd/strata into a temp dir]
#   NGINX_BIN    nginx binary [nginx on PATH, else /usr/sbin/nginx]
#   DURATION [15s]  WARMUP [2s]  CONNS [32]  KEYS [50000]  ZIPF_S [0.99]
#   READ_RATIO [0.95]  VALUE_SIZE [64]
#   OUT          directory for reports [a new /tmp/strata-fleet-bench.* dir]
#
# Every process (the load generator, up to three nodes, six redis-servers
# and NGINX) shares this machine's cores, so the fleet cannot be faster here
# than one node: the figures show the cost of the L2 and of the proxy hop,
# not the capacity of a fleet. Everything started is stopped by PID on exit,
# including on Ctrl-C.
set -euo pipefail

DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-32}
KEYS=${KEYS:-50000}
ZIPF_S=${ZIPF_S:-0.99}
READ_RATIO=${READ_RATIO:-0.95}
VALUE_SIZE=${VALUE_SIZE:-64}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_init fleet
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/strata-fleet-bench.XXXXXX")}
mkdir -p "$OUT"

die() {
	echo "fleet.sh: $*" >&2
	exit 1
}

# --- binaries ---------------------------------------------------------------
for cmd in redis-server redis-cli curl python3; do
	command -v "$cmd" >/dev/null || die "$cmd not found (apt-get install redis-server redis-tools curl python3)"
done
nginx=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $nginx ]] || die "nginx not found (apt-get install nginx, or set NGINX_BIN)"
if [[ -n ${STRATA_BIN:-} ]]; then
	strata=$STRATA_BIN
	[[ -x $strata ]] || die "STRATA_BIN=$strata is not an executable"
else
	command -v go >/dev/null || die "go is not installed; set STRATA_BIN to a strata binary"
	echo "building strata ..." >&2
	(cd "$repo" && go build -o "$tmp/strata" ./cmd/strata) || die "go build ./cmd/strata failed"
	strata=$tmp/strata
fi
"$strata" bench --help >/dev/null 2>&1 || die "$strata has no 'bench' command"

# --- process helpers ------------------------------------------------------------

# forget PID...: drops PIDs from $pids once they have exited and been
# waited for, so that the exit trap never signals a PID that was reused.
forget() {
	local pid keep=()
	for pid in "${pids[@]}"; do
		[[ " $* " == *" $pid "* ]] || keep+=("$pid")
	done
	pids=("${keep[@]}")
}

# stop PID...: stops processes this script started, before the end of the
# run: TERM, up to 10 s, then KILL.
stop() {
	bench_stop TERM "$@"
	forget "$@"
}

# run CMD...: runs CMD and returns its status, as a child that the exit
# trap stops too. It runs in the background while the script waits for it,
# because bash runs the INT trap only after a foreground command ends, and
# not at all when that command handles SIGINT itself, as strata bench does:
# Ctrl-C would otherwise go on to the next step.
run() {
	local pid rc=0
	"$@" &
	pid=$!
	pids+=("$pid")
	wait "$pid" || rc=$?
	forget "$pid"
	return "$rc"
}

# start_node NAME [REDIS_ADDRS]: starts a strata node (HTTP only) and sets
# node_pid and node_addr. With REDIS_ADDRS it uses that Redis Cluster as L2.
start_node() {
	local name=$1 redis=${2:-} port log
	port=$(free_port)
	log=$OUT/$name.log
	local args=(serve --resp-addr "" --http-addr "127.0.0.1:$port" --log-level warn)
	if [[ -n $redis ]]; then
		args+=(--redis-addrs "$redis")
	fi
	"$strata" "${args[@]}" >"$log" 2>&1 &
	node_pid=$!
	pids+=("$node_pid")
	node_addr=127.0.0.1:$port
	wait_port "$port" "$node_pid" "strata $name" "$log"
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://$node_addr/readyz" 2>/dev/null && return
		kill -0 "$node_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "error: strata $name is not ready (/readyz); its log:" >&2
	tail -n 30 "$log" >&2 || true
	exit 1
}

# l1_counts ADDR...: prints the L1 hits and misses of each node, "hits
# misses" per line, from its /metrics.
l1_counts() {
	local addr
	for addr; do
		curl -fsS "http://$addr/metrics" | awk '
			/^strata_keyspace_hits_total\{tier="L1"\} /   { h = $2 }
			/^strata_keyspace_misses_total\{tier="L1"\} / { m = $2 }
			END { printf "%.0f %.0f\n", h, m }'
	done
}

# measure NAME URL NODE_ADDR...: preloads the key set through URL, then
# measures the workload; writes $OUT/NAME.json (the report), NAME.txt (its
# text) and NAME.l1 (each node's L1 hits and misses during warm-up and
# measurement, "hits misses" per node).
measure() {
	local name=$1 url=$2
	shift 2
	local common=(--target http --url "$url" --keys "$KEYS" --key-prefix fleet: --value-size "$VALUE_SIZE"
		--conns "$CONNS" --timeout 5s)
	local t0=$SECONDS
	echo "--- $name: preloading $KEYS keys through $url" >&2
	# A write the node cannot complete fails the preload (strata answers 503
	# when an L2 call exceeds redis.timeout, which a busy machine can
	# cause); writing the keys again is harmless, so try up to 3 times.
	local try
	for try in 1 2 3; do
		if run "$strata" bench "${common[@]}" --label "$name-preload" --preload --requests 1 --read-ratio 1 --warmup 0s \
			--json "$OUT/$name-preload.json" >/dev/null 2>"$OUT/$name-preload.progress"; then
			break
		fi
		((try < 3)) || die "preload of $name failed 3 times: $(tail -n 3 "$OUT/$name-preload.progress")"
		echo "    preload failed ($(tail -n 1 "$OUT/$name-preload.progress" | sed 's/.*refused/refused/')); again" >&2
	done
	echo "    preloaded in $((SECONDS - t0))s; measuring $DURATION after $WARMUP warm-up" >&2
	l1_counts "$@" >"$OUT/$name.l1-before"
	run "$strata" bench "${common[@]}" --label "$name" --dist zipf --zipf-s "$ZIPF_S" --read-ratio "$READ_RATIO" \
		--warmup "$WARMUP" --duration "$DURATION" --json "$OUT/$name.json" \
		>"$OUT/$name.txt" 2>"$OUT/$name.progress" ||
		die "bench of $name failed: $(tail -n 3 "$OUT/$name.progress")"
	l1_counts "$@" >"$OUT/$name.l1-after"
	paste -d' ' "$OUT/$name.l1-before" "$OUT/$name.l1-after" |
		awk '{ print $3 - $1, $4 - $2 }' >"$OUT/$name.l1"
}

cores=$(nproc 2>/dev/null || echo "?")
echo "strata bench --target http: $KEYS keys preloaded, Zipf s=$ZIPF_S, $(awk -v r="$READ_RATIO" 'BEGIN { print r * 100 }')% reads, ${VALUE_SIZE}B values, $CONNS conns, closed loop, $WARMUP warm-up + $DURATION"
echo "machine: $cores cores; reports in $OUT"

# --- 1. one node, embedded ------------------------------------------------------
start_node single
single_addr=$node_addr single_pid=$node_pid
measure single "http://$single_addr/v1/kv/{key}" "$single_addr"
stop "$single_pid"

# --- Redis Cluster: 3 masters + 3 replicas -------------------------------------
echo "--- starting a Redis Cluster of 6 redis-servers" >&2
redis_ports=()
for i in 1 2 3 4 5 6; do
	port=$(free_port)
	bus=$(free_port) # explicit: the default port+10000 may be above 65535
	dir=$tmp/redis-$i
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-port "$bus" \
		--cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
		--save "" --appendonly no --repl-diskless-sync-delay 0 --protected-mode no --dir "$dir" \
		>"$OUT/redis-$i.log" 2>&1 &
	pids+=($!)
	wait_port "$port" "$!" "redis-server $i" "$OUT/redis-$i.log"
	redis_ports+=("$port")
done
redis_addrs=()
for p in "${redis_ports[@]}"; do redis_addrs+=("127.0.0.1:$p"); done
redis-cli --cluster create "${redis_addrs[@]}" --cluster-replicas 1 --cluster-yes \
	>"$OUT/redis-cluster-create.log" 2>&1 ||
	die "redis-cli --cluster create failed: $(tail -n 5 "$OUT/redis-cluster-create.log")"

# cluster_ready: every node sees the cluster OK with all six nodes, and every
# replica has finished its first sync (so it does not compete for CPU).
cluster_ready() {
	local p info
	for p in "${redis_ports[@]}"; do
		info=$(redis-cli -p "$p" cluster info 2>/dev/null) || return 1
		[[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:6* ]] || return 1
		info=$(redis-cli -p "$p" info replication 2>/dev/null) || return 1
		[[ $info == *role:master* || $info == *master_link_status:up* ]] || return 1
	done
}
for _ in $(seq 300); do
	cluster_ready && break
	sleep 0.1
done
cluster_ready || die "the Redis Cluster did not become ready in 30s; see $OUT/redis-*.log"
seeds=$(IFS=,; echo "${redis_addrs[*]}")

# flush_cluster empties every master, so that each setup starts from an
# empty L2.
flush_cluster() {
	local p
	for p in "${redis_ports[@]}"; do
		if [[ $(redis-cli -p "$p" role | head -n 1) == master ]]; then
			redis-cli -p "$p" flushall >/dev/null
		fi
	done
}

# --- 2. one node with the L2, directly ----------------------------------------
flush_cluster
start_node single-l2 "$seeds"
l2_addr=$node_addr l2_pid=$node_pid
measure single+L2 "http://$l2_addr/v1/kv/{key}" "$l2_addr"
stop "$l2_pid"

# --- 3. three nodes with the L2, behind NGINX -----------------------------------
flush_cluster
fleet_addrs=()
for i in 1 2 3; do
	start_node "fleet-$i" "$seeds"
	fleet_addrs+=("$node_addr")
done

ngx=$tmp/nginx
mkdir -p "$ngx/logs" "$ngx/tmp"
ngx_port=$(free_port)
# The shipped file with only the placeholders replaced; each must occur
# exactly once, or the shipped file changed and this script must follow.
shipped=$repo/deploy/nginx/strata-http.conf
subst=()
placeholders=("server 127.0.0.1:8081 " "server 127.0.0.1:8082 " "server 127.0.0.1:8083 " "listen 80;")
replacements=("server ${fleet_addrs[0]} " "server ${fleet_addrs[1]} " "server ${fleet_addrs[2]} " "listen 127.0.0.1:$ngx_port;")
for i in "${!placeholders[@]}"; do
	n=$(grep -cF -- "${placeholders[$i]}" "$shipped" || true)
	[[ $n == 1 ]] || die "$shipped: '${placeholders[$i]}' occurs $n times, want 1"
	subst+=(-e "s|${placeholders[$i]}|${replacements[$i]}|")
done
sed "${subst[@]}" "$shipped" >"$ngx/strata-http.conf"
user_line=""
if [[ $(id -u) == 0 ]]; then
	user_line="user root;" # workers must write to $tmp, which only root can
fi
# The main context as deploy/nginx/nginx.conf has it, with paths in $ngx
# and no access log (the shipped nginx.conf logs every request; that is a
# cost of logging, not of the hop).
cat >"$ngx/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
	client_body_temp_path $ngx/tmp/body;
	proxy_temp_path $ngx/tmp/proxy;
	fastcgi_temp_path $ngx/tmp/fastcgi;
	uwsgi_temp_path $ngx/tmp/uwsgi;
	scgi_temp_path $ngx/tmp/scgi;
	access_log off;
	server_tokens off;
	include $ngx/strata-http.conf;
}
EOF
"$nginx" -t -p "$ngx" -c "$ngx/nginx.conf" >"$ngx/logs/test.log" 2>&1 ||
	die "nginx -t failed: $(cat "$ngx/logs/test.log")"
cp "$ngx/nginx.conf" "$ngx/strata-http.conf" "$OUT/"
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' >"$OUT/nginx.log" 2>&1 &
pids+=($!)
wait_port "$ngx_port" "$!" nginx "$OUT/nginx.log"

measure fleet "http://127.0.0.1:$ngx_port/v1/kv/{key}" "${fleet_addrs[@]}"

# --- table ------------------------------------------------------------------------
echo
python3 - "$OUT" "$cores" <<'PY'
import json, sys

out, cores = sys.argv[1], sys.argv[2]
setups = [("single", "1 node, embedded (no Redis)"),
          ("single+L2", "1 node + Redis Cluster L2"),
          ("fleet", "3 nodes + L2 behind NGINX")]
rows = []
for name, desc in setups:
    r = json.load(open(f"{out}/{name}.json"))
    l1 = [tuple(map(int, line.split())) for line in open(f"{out}/{name}.l1")]
    hits, misses = sum(h for h, _ in l1), sum(m for _, m in l1)
    rows.append(dict(name=name, desc=desc, ops=r["ops_per_sec"], p50=r["latency_us"]["p50"],
                     p99=r["latency_us"]["p99"], errors=r["errors"], kinds=r.get("errors_by_kind") or {},
                     l1=hits / (hits + misses) if hits + misses else float("nan"),
                     share=[h + m for h, m in l1]))  # L1 lookups: reads that reached each node

def us(v):
    return f"{v / 1000:.2f}ms" if v >= 1000 else f"{v}µs"

base = rows[0]
print(f"{'setup':<10} {'':<28} {'ops/s':>9} {'x':>6} {'p50':>9} {'x':>6} {'p99':>9} {'x':>6} {'L1 hits':>8} {'errors':>7}")
for r in rows:
    print(f"{r['name']:<10} {r['desc']:<28} {r['ops']:>9.0f} {r['ops'] / base['ops']:>6.2f} "
          f"{us(r['p50']):>9} {r['p50'] / base['p50']:>6.2f} {us(r['p99']):>9} {r['p99'] / base['p99']:>6.2f} "
          f"{100 * r['l1']:>7.1f}% {r['errors']:>7}")
print("(x = ratio to the single node: above 1 is faster for ops/s, slower for p50/p99; L1 hits = share of the")
print(" nodes' own reads answered from their L1 during warm-up and measurement, the rest went to Redis)")
fleet = rows[2]
total = sum(fleet["share"])
if total:
    print("fleet: reads per node " + " / ".join(f"{100 * s / total:.0f}%" for s in fleet["share"]))
for r in rows:
    if r["errors"]:
        print(f"{r['name']}: errors {r['kinds']}")
l2, fl = rows[1], rows[2]
print(f"What it means here: all processes (load generator, strata nodes, 6 redis-servers, NGINX) share {cores} cores, "
      f"so the fleet cannot be faster than one node on this machine; the L2 takes throughput to "
      f"{l2['ops'] / base['ops']:.2f}x and p99 to {l2['p99'] / base['p99']:.2f}x of the single node, "
      f"and the NGINX hop (with 3 nodes) from there to {fl['ops'] / base['ops']:.2f}x and {fl['p99'] / base['p99']:.2f}x: "
      "that is the per-request cost of the L2 and of the proxy, not a fleet's capacity (see bench/README.md).")
PY
