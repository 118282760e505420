# Gleaner: `make up` starts the platform locally, `make test` runs every check.
SHELL := /bin/bash
CARGO ?= cargo
DENY ?= $(shell command -v cargo-deny 2>/dev/null || echo $(HOME)/.cache/gleaner/tools/bin/cargo-deny)

.PHONY: up down test arch chart unit-test images image-test fmt fmt-check lint deny check bench bench-scale load soak api-fuzz clean-state help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

up: ## Start PostgreSQL, Redis and every service in the background
	@$(CARGO) xtask up

down: ## Stop what `make up` started
	@scripts/down.sh

test: fmt-check arch chart unit-test image-test api-fuzz lint deny ## The whole suite (what CI runs)

arch: ## Fail when a crate breaks the dependency directions (docs/architecture.md)
	CARGO=$(CARGO) scripts/check-architecture.sh

chart: ## The Helm chart: lint, render and check every value set, alert rules (promtool)
	CARGO=$(CARGO) scripts/check-chart.sh

unit-test: ## Unit and integration tests against a throwaway PostgreSQL and Redis
	scripts/with-test-deps.sh $(CARGO) test --workspace --all-targets

images: ## Every container image, with podman (no Docker daemon, no registry)
	CARGO=$(CARGO) scripts/images.sh

api-fuzz: ## schemathesis against every service's documented API, directly and through the gateway
	@$(CARGO) xtask api-fuzz

image-test: ## Run every image as the chart does: /health, no shell, a scrape run
	@$(CARGO) xtask image-test

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check: ## Fail when the code is not formatted
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

deny: ## Licences, bans and sources of every dependency
	$(DENY) check bans licenses sources

check: ## Fast compile check
	$(CARGO) check --workspace --all-targets

bench: ## Benchmarks (see docs/benchmarks.md and docs/scale.md)
	scripts/bench.sh

bench-scale: ## The full registry: 100,000 companies crawled with 1, 2 and 4 shards (docs/scale.md)
	scripts/bench-scale.sh

.PHONY: profile-gateway
profile-gateway: ## Where a proxied request's CPU goes in the gateway and identity: callgrind and perf under wrk (docs/benchmarks.md)
	scripts/profile-gateway.sh

load: ## 1,024 connections through the gateway for 60 s, then memory after a minute idle (docs/benchmarks.md)
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(CARGO) xtask load

soak: ## 10 minutes of steady, moderate load through the gateway: memory must not grow
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); LOAD_DURATION=600 LOAD_CONNECTIONS=32 LOAD_DELAY_MS=100 $(CARGO) xtask load

clean-state: down ## Stop and delete local data (.gleaner/)
	rm -rf .gleaner
