#!/usr/bin/env bash
# bench/nginx.sh: strata's HTTP front end against nginx serving the same
# value as a static file, the ceiling for "answer a small GET over HTTP/1.1
# keep-alive" on this machine.
#
# One run, same machine, same load generator (strata bench --target http),
# alternating between the servers each round so that drift in the machine's
# load hits all of them alike:
#
#   nginx          GET /value            a static file of VALUE_SIZE bytes
#   strata-1key    GET /v1/kv/{key}      one preloaded key holding the same bytes
#   strata-zipf    GET /v1/kv/{key}      KEYS preloaded keys, Zipf(ZIPF_S) choice
#
# It prints each run's report, strata/nginx ratios of throughput and p99 per
# round, and writes JSON reports and comparison plots to OUT.
#
# Usage: bench/nginx.sh            (from the repository root or anywhere)
# Environment (defaults in brackets):
#   STRATA_BIN   strata binary to use [go build ./cmd/strata into a temp dir]
#   NGINX_BIN    nginx binary [nginx on PATH, else /usr/sbin/nginx]
#   DURATION [10s]  WARMUP [1s]  CONNS [50]  VALUE_SIZE [64]
#   KEYS [100000]   ZIPF_S [0.99]  ROUNDS [2]
#   OUT          directory for reports and plots [a new /tmp/strata-nginx-bench.* dir]
#
# Both servers and the generator share the machine's cores: the figures
# compare servers under the same conditions, not their absolute capacity.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-50}
VALUE_SIZE=${VALUE_SIZE:-64}
KEYS=${KEYS:-100000}
ZIPF_S=${ZIPF_S:-0.99}
ROUNDS=${ROUNDS:-2}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_init nginx-run
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/strata-nginx-bench.XXXXXX")}
mkdir -p "$OUT"

die() {
	echo "nginx.sh: $*" >&2
	exit 1
}

# --- binaries ---------------------------------------------------------------
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

nginx=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $nginx ]] || die "nginx not found (apt-get install nginx, or set NGINX_BIN)"

# --- nginx --------------------------------------------------------------------
ngx_port=$(free_port)
ngx=$tmp/nginx
mkdir -p "$ngx/www" "$ngx/logs" "$ngx/tmp"
# The value strata bench writes is VALUE_SIZE bytes of 'x' (loadgen.Value).
head -c "$VALUE_SIZE" /dev/zero | tr '\0' x >"$ngx/www/value"
user_line=""
if [[ $(id -u) == 0 ]]; then
	user_line="user root;" # workers must read $tmp, which only root can
fi
cat >"$ngx/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $ngx/tmp/body;
	proxy_temp_path $ngx/tmp/proxy;
	fastcgi_temp_path $ngx/tmp/fastcgi;
	uwsgi_temp_path $ngx/tmp/uwsgi;
	scgi_temp_path $ngx/tmp/scgi;
	sendfile on;
	tcp_nopush off;
	tcp_nodelay on;
	keepalive_timeout 75s;
	keepalive_requests 10000000;
	open_file_cache max=16;
	open_file_cache_valid 60s;
	server {
		listen 127.0.0.1:$ngx_port;
		root $ngx/www;
		location / { default_type application/octet-stream; }
	}
}
EOF
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' >"$ngx/logs/stdout.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")
wait_port "$ngx_port" "$ngx_pid" nginx "$ngx/logs/stdout.log"

# --- strata -------------------------------------------------------------------
resp_port=$(free_port)
http_port=$(free_port)
# STRATA_BIN is ours, not a setting: strata serve rejects unknown STRATA_*.
env -u STRATA_BIN "$strata" serve --resp-addr "127.0.0.1:$resp_port" --http-addr "127.0.0.1:$http_port" \
	--log-level warn >"$tmp/strata.log" 2>&1 &
strata_pid=$!
pids+=("$strata_pid")
wait_port "$http_port" "$strata_pid" strata "$tmp/strata.log"

nginx_url="http://127.0.0.1:$ngx_port/value"
strata_url="http://127.0.0.1:$http_port/v1/kv/{key}"
got=$(curl -fsS "$nginx_url") || die "nginx does not serve $nginx_url"
[[ ${#got} == "$VALUE_SIZE" ]] || die "nginx served ${#got} bytes, want $VALUE_SIZE"

echo "nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$ngx_port (pid $ngx_pid), strata on 127.0.0.1:$http_port (pid $strata_pid)"
echo "each run: $DURATION after $WARMUP warm-up, $CONNS connections, closed loop, ${VALUE_SIZE}-byte value, GET only"
echo "reports and plots: $OUT"
echo

# run NAME ARGS... runs one bench and saves its JSON as $OUT/NAME.json.
run() {
	local name=$1
	shift
	echo "=== $name"
	"$strata" bench --target http --label "${name%-r*}" --conns "$CONNS" --duration "$DURATION" \
		--warmup "$WARMUP" --value-size "$VALUE_SIZE" --read-ratio 1 --json "$OUT/$name.json" "$@" \
		2>"$OUT/$name.progress" || die "bench $name failed: $(tail -n 3 "$OUT/$name.progress")"
	echo
}

# ratio_line A B prints "throughput x, p99 y" for B relative to A.
ratio_line() {
	"$strata" bench compare "$1" "$2" | awk '
		/throughput \(ops\/s\)/ { t = $NF }
		/latency p99 /          { p = $NF }
		END { printf "throughput %s, p99 %s", t, p }'
}

summary=()
for round in $(seq "$ROUNDS"); do
	preload=()
	if [[ $round == 1 ]]; then
		preload=(--preload) # the keys stay in strata for later rounds
	fi
	run "nginx-r$round" --url "$nginx_url" --keys 1 # one file: no key choice
	run "strata-1key-r$round" --url "$strata_url" --keys 1 --key-prefix bench:one: "${preload[@]}"
	run "strata-zipf-r$round" --url "$strata_url" --keys "$KEYS" --key-prefix bench:zipf: \
		--dist zipf --zipf-s "$ZIPF_S" "${preload[@]}"
	summary+=("round $round  strata-1key/nginx: $(ratio_line "$OUT/nginx-r$round.json" "$OUT/strata-1key-r$round.json")")
	summary+=("round $round  strata-zipf/nginx: $(ratio_line "$OUT/nginx-r$round.json" "$OUT/strata-zipf-r$round.json")")
done

last=$ROUNDS
echo "=== side by side, round $last"
"$strata" bench compare "$OUT/nginx-r$last.json" "$OUT/strata-1key-r$last.json" --plot "$OUT/nginx-vs-strata-1key.svg"
echo
"$strata" bench compare "$OUT/nginx-r$last.json" "$OUT/strata-zipf-r$last.json" --plot "$OUT/nginx-vs-strata-zipf.svg"
echo
echo "=== ratios (B/A with A = nginx; throughput > 1 and p99 < 1 favour strata)"
printf '%s\n' "${summary[@]}"
echo
echo "plots: $OUT/nginx-vs-strata-1key.svg $OUT/nginx-vs-strata-zipf.svg"
