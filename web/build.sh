#!/usr/bin/env bash
# web/build.sh — builds the console into web/dist/ (committed, embedded by
# web.go) from web/src/ with esbuild, after type-checking with tsc.
#
#   ./build.sh           rebuild dist/
#   ./build.sh --check   build into a temporary folder and fail if the
#                        committed dist/ differs (the test command runs this)
#
# Needs Node.js and npm; node_modules is installed from package-lock.json
# (npm ci) when missing. Without npm the check is skipped, except under
# CI=true, where it fails: CI must not pass by skipping.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	if [[ ${CI:-} == true ]]; then
		echo "web/build.sh: node and npm are required (CI=true)" >&2
		exit 1
	fi
	echo "web/build.sh: node/npm not installed; skipping the console build (dist/ is committed)" >&2
	exit 0
fi
if [[ ! -x node_modules/.bin/esbuild || ! -x node_modules/.bin/tsc || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi

check=0
if [[ ${1:-} == --check ]]; then check=1; fi
out=dist
if ((check)); then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi

node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/esbuild src/console.ts --bundle --format=esm --target=es2022 --minify \
	--legal-comments=eof --outdir="$out" --entry-names='[name]' --log-level=warning
cp src/index.html "$out/index.html"

if ((check)); then
	if ! diff -r dist "$out" >/dev/null; then
		echo "web/build.sh: web/dist is out of date with web/src: run web/build.sh and commit web/dist" >&2
		diff -r --brief dist "$out" >&2 || true
		exit 1
	fi
	echo "web/dist is up to date"
fi
