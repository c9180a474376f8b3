# PCX Public Service — developer entry points. `make` (or `make help`) lists them.
#
#   make run     the whole stack on this machine (Temporal dev server + UI, DynamoDB Local,
#                worker, API) with a development API key; Ctrl-C stops everything
#   make test    vet, every test (integration tests included, against real Temporal and DynamoDB
#                Local they start themselves), promtool on the alert rules, the
#                OpenAPI descriptions through Redocly lint, openapi-typescript and tsc, then a short fuzz run
#                of every fuzz target
#
# Tools are pinned and installed into the repository (.tools/, tools/dynamodb-local/node_modules/),
# never globally. The Go build cache is the default one, shared between runs.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO           ?= go
# Builds and tests use Go 1.27.3, fetched once through the module proxy: its standard library
# carries the security fixes govulncheck asks for (the machine's Go 1.26.8 does not).
export GOTOOLCHAIN := go1.27.3
FUZZTIME     ?= 10s
TEST_TIMEOUT ?= 40m
BIN_DIR      ?= bin
RUN_DIR      ?= $(or $(PCX_RUN_DIR),.run)
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/pcx/publicservice/app.Version=$(VERSION)

.PHONY: help tools run test vet vulncheck fuzz build fmt lint clean clean-run rules clients compose-env

help: ## show this help (the default target)
	@echo 'usage: make <target> [VAR=value]'
	@echo
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_-]+:[^#]*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo 'variables: FUZZTIME=$(FUZZTIME) (per fuzz target), TEST_TIMEOUT=$(TEST_TIMEOUT), PCX_RUN_DIR=$(RUN_DIR);'
	@echo '           make run respects HTTP_ADDR, TEMPORAL_ADDRESS, DYNAMODB_ENDPOINT, ... set in the environment'

tools: ## install the pinned Temporal CLI, DynamoDB Local and promtool into the repo (only when missing)
	@bash scripts/tools.sh --with-promtool

run: ## run the stack locally and print a dev API key (Ctrl-C stops everything)
	@exec bash scripts/run.sh

test: tools ## go vet, all tests with -race (integration required), promtool on the alert rules, then fuzz every target for FUZZTIME
	@echo '==> go vet ./...'
	@$(GO) vet ./...
	@echo '==> go test -race ./... (PCX_REQUIRE_INTEGRATION=1: integration tests fail, never skip, without their tools)'
	@PCX_REQUIRE_INTEGRATION=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@bash scripts/promtool.sh
	@bash scripts/clients.sh
	@bash scripts/fuzz.sh '$(FUZZTIME)'

rules: tools ## promtool check and test the Prometheus alert rules (deploy/prometheus)
	@bash scripts/promtool.sh

clients: ## regenerate api/openapi.yaml, api/openapi-internal.yaml, the Go client and the TypeScript types from api/openapi-all.yaml
	@$(GO) generate ./api
	@bash scripts/clients.sh --write

compose-env: ## write .env with fresh random secrets for docker compose, which refuses to start without them (an existing .env is kept)
	@bash scripts/compose-env.sh

vet: ## go vet ./...
	@$(GO) vet ./...

vulncheck: ## govulncheck ./... against the Go vulnerability database, built offline from the module proxy
	@bash scripts/vulncheck.sh

fuzz: ## run every fuzz target for FUZZTIME each (e.g. make fuzz FUZZTIME=1m)
	@bash scripts/fuzz.sh '$(FUZZTIME)'

.PHONY: soak
soak: tools ## soak run, not part of test: 1,000 events through worker, receiver and DynamoDB faults; report in soak/results/ (SOAK_FLAGS=-quick)
	@PCXSOAK_MAKE_COMMAND='make soak SOAK_FLAGS=$(SOAK_FLAGS)' $(GO) run ./soak $(SOAK_FLAGS)

build: ## build api, worker and pcxctl into bin/
	@echo '==> go build -o $(BIN_DIR)/ ./cmd/... (version $(VERSION))'
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/ ./cmd/...
	@ls -1 $(BIN_DIR)/

.PHONY: bench
bench: tools ## build api, worker, pcxctl and bench/cmd/pcxbench, run the benchmark, report to bench/results/ (BENCH_FLAGS=-quick for a smoke run)
	@echo '==> go build -o $(BIN_DIR)/bench/ ./cmd/api ./cmd/worker ./cmd/pcxctl ./bench/cmd/pcxbench (version $(VERSION))'
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/bench/ ./cmd/api ./cmd/worker ./cmd/pcxctl ./bench/cmd/pcxbench
	@echo '==> $(BIN_DIR)/bench/pcxbench -bin $(BIN_DIR)/bench $(BENCH_FLAGS)'
	@PCXBENCH_MAKE_COMMAND='make bench BENCH_FLAGS=$(BENCH_FLAGS)' $(BIN_DIR)/bench/pcxbench -bin $(BIN_DIR)/bench $(BENCH_FLAGS)

fmt: ## gofmt -w the Go files that need it
	@files=$$(gofmt -l .); \
	if [[ -n $$files ]]; then echo "$$files" | sed 's/^/==> gofmt -w /'; gofmt -w $$files; \
	else echo '==> gofmt: nothing to do'; fi

lint: ## check formatting (gofmt -l must be empty) and go vet
	@files=$$(gofmt -l .); \
	if [[ -n $$files ]]; then echo 'gofmt: these files need formatting (run make fmt):'; echo "$$files"; exit 1; fi
	@echo '==> gofmt: ok'
	@$(GO) vet ./...
	@echo '==> go vet: ok'

clean: ## remove build output (bin/); make clean-run also removes the state of make run
	rm -rf $(BIN_DIR)/

clean-run: ## remove .run/ or PCX_RUN_DIR (databases, logs, dev secrets and key): refuses while make run runs
	@if [[ -e '$(RUN_DIR)/run.lock' ]] && command -v flock >/dev/null && ! flock -n '$(RUN_DIR)/run.lock' true; then \
		echo 'clean-run: make run is using $(RUN_DIR); stop it first (Ctrl-C)' >&2; exit 1; fi
	rm -rf '$(RUN_DIR)'
