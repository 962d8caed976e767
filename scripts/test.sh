#!/usr/bin/env bash
# scripts/test.sh — strata's full test run, as `make test` and .ci/run use it.
#
# 1. installs, from Debian packages and only when missing, the real servers
#    the integration and e2e tests start (PostgreSQL 15 + contrib, Redis,
#    nginx, Prometheus, the Redis exporter) and chromium for the browser test;
# 2. prints their versions;
# 3. checks formatting (gofmt) and go vet;
# 4. builds bin/strata and exports STRATA_BIN for the e2e tests;
# 5. runs every test with the race detector (CI is passed through: under
#    CI=true a missing server fails a test instead of skipping it);
# 6. runs each fuzz target briefly (FUZZTIME, default 15s per target).
#
# Environment: FUZZTIME (default 15s; 0 skips fuzzing), SKIP_INSTALL=1 to
# skip the package step, GOTESTFLAGS for extra `go test` flags.
set -euo pipefail
cd "$(dirname "$0")/.."

start_all=$SECONDS
section_start=$SECONDS
section_name=""
section() {
	if [[ -n $section_name ]]; then
		printf '=== %s: done in %ds\n' "$section_name" $((SECONDS - section_start))
	fi
	section_name=$1
	section_start=$SECONDS
	printf '\n=== %s\n' "$1"
}
on_exit() {
	local rc=$?
	if ((rc != 0)); then
		printf '\n=== FAILED in "%s" (exit %d) after %ds\n' "$section_name" "$rc" $((SECONDS - start_all)) >&2
	fi
}
trap on_exit EXIT

# --- 1. packages --------------------------------------------------------
section "system packages"
pg_bin=/usr/lib/postgresql/15/bin
missing=()
need_cmd() { # need_cmd COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_file() { # need_file PATH PACKAGE
	[[ -e $1 ]] || missing+=("$2")
}
need_file "$pg_bin/postgres" postgresql-15
need_file /usr/lib/postgresql/15/lib/pg_stat_statements.so postgresql-contrib
need_file /usr/lib/nginx/modules/ngx_stream_module.so libnginx-mod-stream
need_cmd redis-server redis-server
need_cmd redis-cli redis-tools
need_cmd redis-benchmark redis-tools
need_cmd nginx nginx
need_cmd prometheus prometheus
need_cmd promtool prometheus
need_cmd prometheus-redis-exporter prometheus-redis-exporter
need_cmd chromium chromium
need_cmd node nodejs
need_cmd npm npm
need_cmd curl curl
if ((${#missing[@]} > 0)); then
	if [[ ${SKIP_INSTALL:-0} == 1 ]]; then
		echo "missing packages (SKIP_INSTALL=1, not installing): ${missing[*]}" >&2
	else
		# Deduplicate (prometheus provides two commands).
		mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
		echo "installing: ${missing[*]}"
		sudo=()
		if ((EUID != 0)); then sudo=(sudo); fi
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
		# chromium is in the same install: a failure to install it fails the run.
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
else
	echo "all present"
fi

# --- 2. versions ----------------------------------------------------------
section "tool versions"
version() { # version NAME COMMAND...
	local out
	# The first line with a version number: chromium's wrapper script may
	# print shell noise first.
	out=$({ "${@:2}" 2>&1 || true; } | grep -m 1 -E '[0-9]+\.[0-9]+' || true)
	printf '%-26s %s\n' "$1" "${out:-(not available)}"
}
version go go version
version postgres "$pg_bin/postgres" --version
version redis-server redis-server --version
version redis-cli redis-cli --version
version nginx nginx -v
version prometheus prometheus --version
version promtool promtool --version
version prometheus-redis-exporter prometheus-redis-exporter --version
version chromium chromium --version

# --- 3. gofmt, vet --------------------------------------------------------
section "gofmt and go vet"
mapfile -t gofiles < <(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './vendor/*')
unformatted=$(gofmt -l "${gofiles[@]}")
if [[ -n $unformatted ]]; then
	echo "gofmt: these files need formatting (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

# --- 4. build -------------------------------------------------------------
section "build bin/strata"
if [[ ! -d cmd/strata ]]; then
	echo "error: cmd/strata is missing; the strata binary is required by the e2e tests" >&2
	exit 1
fi
go build -o bin/strata ./cmd/strata
STRATA_BIN="$PWD/bin/strata"
export STRATA_BIN
echo "STRATA_BIN=$STRATA_BIN"

# --- 5. tests -------------------------------------------------------------
section "go test -race"
if [[ -n ${CI:-} ]]; then export CI; fi
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
go test -race -count=1 -timeout 25m ${GOTESTFLAGS:-} ./...

# --- 6. fuzz smoke ----------------------------------------------------------
fuzztime=${FUZZTIME:-15s}
section "fuzz smoke (${fuzztime} per target)"
if [[ $fuzztime == 0 || $fuzztime == 0s ]]; then
	echo "FUZZTIME=0: skipped"
else
	# `go test -list` prints a package's matching names, then its "ok" line.
	targets=()
	names=()
	while IFS= read -r line; do
		case $line in
		Fuzz*) names+=("$line") ;;
		ok*)
			pkg=$(awk '{print $2}' <<<"$line")
			for n in "${names[@]}"; do targets+=("$pkg $n"); done
			names=()
			;;
		*) names=() ;;
		esac
	done < <(go test -list '^Fuzz' ./...)
	echo "${#targets[@]} fuzz target(s)"
	for t in "${targets[@]}"; do
		read -r pkg name <<<"$t"
		echo "--- $name ($pkg)"
		go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"
	done
fi

printf '=== %s: done in %ds\n' "$section_name" $((SECONDS - section_start))
printf '\nall steps passed in %ds\n' $((SECONDS - start_all))
