# wacrm: `make run` starts the local stack, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
DIST := dist

.PHONY: run test test-go build lint fmt bench clean

run: ## the whole system locally on the embedded adapters
	$(GO) run ./scripts/localstack

test: ## every test, with the protocol servers started on loopback
	scripts/testenv/run.sh $(MAKE) --no-print-directory test-go

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(DIST) .wacrm
