#!/usr/bin/env bash
# bench/postgres.sh — reading resource keys through strata vs the same
# queries straight against PostgreSQL (pgbench), in one run, at the same
# client concurrency.
#
# Starts its own PostgreSQL 15 (as the postgres user, in a temporary
# directory, on a free port) with USERS users and about ORDERS_PER_USER
# orders each, and a strata node with two resources:
#
#   point:{id}  SELECT row_to_json(u)::text FROM users u WHERE u.id = $1
#               (a primary-key point select: PostgreSQL's best case)
#   feed:{id}   the user with their 20 latest orders, aggregated to JSON
#               (a realistic read)
#
# For each resource it warms strata (every key read once), then measures
#   strata:   strata bench --target resp --read-ratio 1 --dist zipf over USERS keys
#   postgres: pgbench -M prepared with a custom script, random_zipfian over
#             the same ids
# with CONNS clients for DURATION each, and prints throughput and p99 and
# the ratios strata/postgres (throughput) and postgres/strata (p99: how many
# times lower strata's tail is). Both servers are stopped by PID on exit.
#
# pgbench's random_zipfian needs a skew > 1, so both sides use ZIPF_S
# (default 1.01, close to YCSB's 0.99). Client and servers share the
# machine: on a small machine the client's CPU is part of what is measured,
# for both sides alike.
#
# Usage: bench/postgres.sh
# Environment (defaults in brackets):
#   STRATA_BIN       strata binary [built from ./cmd/strata into a temp dir]
#   USERS            rows in users and keys per resource [100000]
#   ORDERS_PER_USER  average orders per user [30]
#   CONNS            client connections on both sides [32]
#   DURATION         measured time per case [20s]
#   ZIPF_S           Zipf skew [1.01]
#   PG_BIN           PostgreSQL binaries [/usr/lib/postgresql/15/bin]
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-100000}
ORDERS_PER_USER=${ORDERS_PER_USER:-30}
CONNS=${CONNS:-32}
DURATION=${DURATION:-20s}
ZIPF_S=${ZIPF_S:-1.01}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

for b in "$PG_BIN/postgres" "$PG_BIN/initdb" "$PG_BIN/psql" "$PG_BIN/pgbench"; do
	if [[ ! -x $b ]]; then
		echo "error: $b not found (apt-get install postgresql-15 postgresql-contrib)" >&2
		exit 1
	fi
done
command -v runuser >/dev/null || { echo "error: runuser not found (util-linux)" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "error: no postgres user (apt-get install postgresql-15 creates it)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init pgbench INT # postgres: SIGINT is a fast shutdown; strata: graceful

if [[ -z ${STRATA_BIN:-} ]]; then
	echo "building strata..."
	go build -o "$tmp/strata" ./cmd/strata
	STRATA_BIN=$tmp/strata
fi

# --- PostgreSQL ---------------------------------------------------------
pg_port=$(free_port)
pgdata=$tmp/pgdata
mkdir -p "$pgdata" "$tmp/sock"
chown postgres: "$pgdata" "$tmp/sock"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$PG_BIN/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C -N >"$tmp/initdb.log" 2>&1
cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$tmp/sock'
shared_buffers = 256MB
max_connections = 200
fsync = off
full_page_writes = off
synchronous_commit = off
log_min_messages = warning
CONF
as_pg "$PG_BIN/postgres" -D "$pgdata" >"$tmp/postgres.log" 2>&1 &
pg_pid=$!
pids+=("$pg_pid")
wait_port "$pg_port" "$pg_pid" postgres "$tmp/postgres.log"
# runuser does not pass SIGINT on: stop the server itself, by the PID it
# wrote, or it would outlive the script.
pids=("$(head -n 1 "$pgdata/postmaster.pid")" "${pids[@]}")
psql() { "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
until psql -d postgres -c 'SELECT 1' >/dev/null 2>&1; do sleep 0.1; done
psql -d postgres -c 'CREATE DATABASE app'
echo "loading $USERS users and ~$((USERS * ORDERS_PER_USER)) orders..."
psql -d app <<SQL
CREATE TABLE users (
	id      int8 PRIMARY KEY,
	name    text NOT NULL,
	email   text NOT NULL,
	created timestamptz NOT NULL
);
INSERT INTO users
	SELECT i, 'user ' || i, 'user' || i || '@example.com', '2024-01-01'::timestamptz + i * interval '1 minute'
	FROM generate_series(0, $USERS - 1) AS i;
CREATE TABLE orders (
	id        int8 PRIMARY KEY,
	user_id   int8 NOT NULL REFERENCES users,
	status    text NOT NULL,
	total     numeric(10, 2) NOT NULL,
	placed_at timestamptz NOT NULL
);
INSERT INTO orders
	SELECT i, (i::int8 * 7919) % $USERS, (ARRAY['open', 'paid', 'shipped'])[1 + i % 3],
		(i % 10000) / 100.0, '2024-01-01'::timestamptz + (i % 500000) * interval '1 minute'
	FROM generate_series(1, $USERS * $ORDERS_PER_USER) AS i;
CREATE INDEX orders_user_latest ON orders (user_id, placed_at DESC);
VACUUM ANALYZE;
SQL

point_sql='SELECT row_to_json(u)::text FROM users u WHERE u.id = $1'
feed_sql="SELECT json_build_object('user', row_to_json(u), 'orders', (SELECT coalesce(json_agg(o), '[]'::json) FROM (SELECT id, status, total, placed_at FROM orders WHERE user_id = u.id ORDER BY placed_at DESC LIMIT 20) o))::text FROM users u WHERE u.id = \$1"

# --- strata ---------------------------------------------------------------
resp_port=$(free_port)
http_port=$(free_port)
cat >"$tmp/strata.yaml" <<YAML
resp:
  addr: 127.0.0.1:$resp_port
http:
  addr: 127.0.0.1:$http_port
cache:
  max_memory: 1gb
log:
  level: warn
postgres:
  dsn: postgres://postgres@127.0.0.1:$pg_port/app?sslmode=disable
resources:
  point:
    key: "point:{id}"
    query: "$point_sql"
    ttl: 1h
  feed:
    key: "feed:{id}"
    query: "$feed_sql"
    ttl: 1h
YAML
"$STRATA_BIN" serve --config "$tmp/strata.yaml" >"$tmp/strata.log" 2>&1 &
strata_pid=$!
pids+=("$strata_pid")
wait_port "$resp_port" "$strata_pid" strata "$tmp/strata.log"

# --- measurements -------------------------------------------------------
declare -A ops p99

# run_strata NAME PREFIX: warm every key, then measure.
run_strata() {
	echo "strata:   $1 (warming $USERS keys)"
	"$STRATA_BIN" bench --target resp --addr "127.0.0.1:$resp_port" --keys "$USERS" --key-prefix "$2" \
		--dist uniform --read-ratio 1 --conns "$CONNS" --requests $((USERS * 5)) --warmup 0s --json - >/dev/null
	"$STRATA_BIN" bench --target resp --addr "127.0.0.1:$resp_port" --keys "$USERS" --key-prefix "$2" \
		--dist zipf --zipf-s "$ZIPF_S" --read-ratio 1 --conns "$CONNS" --duration "$DURATION" \
		--json "$tmp/strata-$1.json" >/dev/null
	read -r ops["strata-$1"] p99["strata-$1"] < <(python3 - "$tmp/strata-$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("errors"):
    print("strata bench reported errors:", r.get("errors_by_kind"), file=sys.stderr)
    sys.exit(1)
print(r["ops_per_sec"], r["latency_us"]["p99"])
PY
)
}

# run_pgbench NAME SQL: the same query, prepared, Zipf over the same ids.
run_pgbench() {
	echo "postgres: $1"
	local dir=$tmp/pgbench-$1
	mkdir -p "$dir"
	printf '\\set id random_zipfian(0, %d, %s)\n%s;\n' $((USERS - 1)) "$ZIPF_S" "${2//\$1/:id}" >"$dir/script.sql"
	local secs=${DURATION%s}
	# Warm PostgreSQL's buffers as strata's cache was warmed.
	(cd "$dir" && "$PG_BIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -n -M prepared -c "$CONNS" -j 2 \
		-T 5 -f script.sql app >/dev/null 2>&1)
	(cd "$dir" && "$PG_BIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -n -M prepared -c "$CONNS" -j 2 \
		-T "$secs" -l --log-prefix=lat -f script.sql app >"$dir/out.txt" 2>&1) || { cat "$dir/out.txt" >&2; exit 1; }
	read -r ops["pg-$1"] p99["pg-$1"] < <(python3 - "$dir" <<'PY'
import glob, re, sys
d = sys.argv[1]
out = open(d + "/out.txt").read()
tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
lat = []
for f in glob.glob(d + "/lat*"):
    for line in open(f):
        lat.append(int(line.split()[2]))  # latency in µs
lat.sort()
print(tps, lat[int(len(lat) * 0.99)] if lat else 0)
PY
)
}

run_strata point "point:"
run_pgbench point "$point_sql"
run_strata feed "feed:"
run_pgbench feed "$feed_sql"

echo
echo "$CONNS connections each, $DURATION per case, Zipf s=$ZIPF_S over $USERS keys; p99 in µs"
printf '%-8s %14s %14s %9s %12s %12s %11s\n' case "strata ops/s" "pg ops/s" "x tput" "strata p99" "pg p99" "pg/strata"
for c in point feed; do
	python3 - "$c" "${ops[strata-$c]}" "${ops[pg-$c]}" "${p99[strata-$c]}" "${p99[pg-$c]}" <<'PY'
import sys
c, so, po, sp, pp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"{c:<8} {so:14.0f} {po:14.0f} {so / po:8.2f}x {sp:12.0f} {pp:12.0f} {pp / max(sp, 1):10.2f}x")
PY
done
echo "(x tput = strata/postgres throughput; pg/strata = how many times lower strata's p99 is)"
