# Makefile — entry points for developers and CI. The real work is in
# scripts/, so that CI (.ci/run) and a laptop run the same steps.

.PHONY: test build vet fmt bench

# test runs the full suite: packages, gofmt, vet, build, race tests, fuzz smoke.
test:
	scripts/test.sh

# build builds bin/strata.
build:
	go build -o bin/strata ./cmd/strata

vet:
	go vet ./...

# fmt rewrites Go files in place with gofmt.
fmt:
	gofmt -w $$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*')

# bench compares strata with redis-server using redis-benchmark.
bench:
	bench/redis-benchmark.sh
