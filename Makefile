# Every target loops over the workspace's modules; each module is also
# buildable and testable on its own with GOWORK=off.
MODULES   := shared bff-web bff-mobile deploy
BIN       := $(CURDIR)/bin
GO        ?= go
TESTFLAGS ?= -race -count=1
FUZZTIME  ?= 10s

.PHONY: all build test test-standalone test-browser lint fmt run bench bench-soak bench-ci bench-go fuzz chaos tidy clean

all: lint test

build:
	@mkdir -p $(BIN)
	cd bff-web && $(GO) build -o $(BIN)/bff-web .
	cd bff-mobile && $(GO) build -o $(BIN)/bff-mobile .
	cd deploy && $(GO) build -o $(BIN)/sandbox ./sandbox
	cd deploy && $(GO) build -o $(BIN)/bench ./bench
	cd deploy && $(GO) build -o $(BIN)/bench-reference ./bench/reference

## test: every module's tests with the race detector.
test:
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...); done

## test-standalone: build and vet each BFF and the deploy module (the
## sandbox's image is built from it) alone, as their images are built.
test-standalone:
	@set -e; for m in bff-web bff-mobile deploy; do echo "== $$m (GOWORK=off)"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); done

lint:
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) vet ./...); done
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $(MODULES)

## check-observability: promtool's checks of deploy/observability's alert
## rules and Prometheus config, and the rules' unit tests (alerts_test.yaml).
## promtool is in Debian's prometheus package.
.PHONY: check-observability
check-observability:
	cd deploy/observability && promtool check rules alerts.yaml && promtool test rules alerts_test.yaml && promtool check config prometheus.yml

## check-contract: Redocly CLI lints both OpenAPI documents (recommended
## rules), openapi-typescript generates a TypeScript client from each, and
## tsc type-checks deploy/contract/usage.ts against them. Needs npm and
## Node.js (20.19+ is asked for; 18 runs with warnings); the packages are
## pinned in deploy/contract/package-lock.json.
.PHONY: check-contract
check-contract:
	cd deploy/contract && npm ci --no-audit --no-fund && npm run lint && npm run generate && npm run typecheck

## run: the sandbox and both BFFs in the foreground; Ctrl-C stops all three.
run: build
	@./deploy/run.sh $(BIN)

## test-browser: the real-browser test of bff-web (needs chromium).
test-browser:
	cd bff-web && $(GO) test $(TESTFLAGS) -run 'TestBrowser' -v .

## fuzz: each fuzz target for FUZZTIME (default 10s).
fuzz:
	@./deploy/fuzz.sh $(FUZZTIME)

## chaos: TestChaos, CHAOS_CYCLES (30) cycles of faults, a SIGKILL mid-rush
## and a restart, on the state file and then on Redis (README.md "Crash
## safety"); CHAOS_SEED repeats a run.
CHAOS_CYCLES ?= 30
chaos:
	cd bff-mobile && CHAOS_CYCLES=$(CHAOS_CYCLES) CHAOS_JOURNAL=bolt $(GO) test -count=1 -timeout 30m -run '^TestChaos$$' -v .
	cd bff-mobile && CHAOS_CYCLES=$(CHAOS_CYCLES) CHAOS_JOURNAL=redis $(GO) test -count=1 -timeout 30m -run '^TestChaos$$' -v .

## bench: the load benchmark. Starts the sandbox, both BFFs and the bare
## reference gateway on free loopback ports, drives each endpoint for
## BENCH_DURATION (5s) at BENCH_CONNS (64) connections, then times
## BENCH_CHECKOUTS (200) checkouts one at a time; README.md "Reading make
## bench" explains the report.
bench: build
	$(BIN)/bench -bin $(BIN)

## bench-soak: each endpoint for BENCH_SOAK (60s), with the BFF's RSS over time.
BENCH_SOAK ?= 60s
bench-soak: build
	$(BIN)/bench -bin $(BIN) -soak $(BENCH_SOAK)

## bench-ci: one second per endpoint and 30 checkouts; fails on any error
## or skipped endpoint.
bench-ci: build
	$(BIN)/bench -bin $(BIN) -ci

## bench-go: the in-process benchmarks of the client layer, the fan-out, the
## edge middleware, metrics, the catalog, the order flow and the views.
bench-go:
	cd shared && $(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./upstream/ ./aggregate/ ./httpserver/ ./telemetry/ ./catalog/ ./orderflow/ ./auth/ ./ratelimit/
	cd bff-web && $(GO) test -run '^$$' -bench OrderView -benchmem .
	cd bff-mobile && $(GO) test -run '^$$' -bench ProductView -benchmem .

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done

clean:
	rm -rf $(BIN)
