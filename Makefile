# wacrm: `make run` starts the local stack, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
DIST := dist

.PHONY: run test test-go build lint fmt bench clean

# make run ADDR=:9090 listens elsewhere (loopback unless a host is given);
# CORS_ORIGINS=https://crm.example.com,http://localhost:5173 limits browser origins (default *).
ADDR ?=
CORS_ORIGINS ?=
run: ## the whole system locally on the embedded adapters
	$(GO) run ./scripts/localstack $(if $(ADDR),-addr $(ADDR)) $(if $(CORS_ORIGINS),-cors-origins $(CORS_ORIGINS))

test: ## every test: Go tests with the protocol servers started on loopback, then the CDK stack tests
	scripts/testenv/run.sh $(MAKE) --no-print-directory test-go
	$(MAKE) --no-print-directory test-infra

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

# Lambda packages. ARCH=arm64 (the deployed one) writes dist/<name>/bootstrap and
# dist/<name>.zip; any other ARCH writes under dist/linux-<ARCH>/.
ARCH ?= arm64
BUILD_DIR = $(if $(filter arm64,$(ARCH)),$(DIST),$(DIST)/linux-$(ARCH))
HARNESS_FLAGS ?=

build: ## bootstrap + zip for every function and the hello baseline; make build [ARCH=amd64]
	$(GO) run ./scripts/lambdaharness/cmd/lambdabuild -arch $(ARCH) -out $(BUILD_DIR) ./scripts/hello $(addprefix ./functions/,$(FUNCTIONS))

# `make harness` runs the functions with only HARNESS_FLAGS for configuration
# (-env KEY=VALUE pointing them at your own table, queues and secrets); alone,
# each stops at init naming what is missing. `make harness-local` wires every
# function to servers on loopback (DynamoDB Local, fauxqs, gofakes3, Secrets
# Manager and Graph API fakes), runs messages through webhook -> inbound -> media,
# api -> send and prints init and latency next to hello:
#   make harness-local HARNESS_INVOKES=200
HARNESS_INVOKES ?= 20
.PHONY: harness harness-local
harness: ## every function's host build on its sample events through the Runtime API harness, next to hello
	$(GO) run ./scripts/lambdaharness/cmd/lambdaharness $(addprefix -fn ,$(FUNCTIONS)) $(HARNESS_FLAGS)

harness-local: ## every function against local servers, chained as deployed; init and latency next to hello
	scripts/testenv/run.sh $(GO) test -count=1 -v -run 'TestFunctions|TestMissingConfiguration' ./scripts/lambdaharness/functest -args -invokes $(HARNESS_INVOKES)

# The CDK app (infra/, its own Go module). The CLI is pinned in
# infra/package.json; pass context with CDK_ARGS, e.g.
#   make deploy CDK_ARGS="-c prod=true -c alarmEmail=ops@example.com"
CDK_ARGS ?=
CDK_ENV = cd infra && CDK_DISABLE_VERSION_CHECK=1
CDK_CLI = npx --no-install cdk

.PHONY: synth deploy test-infra

infra/node_modules/.package-lock.json: infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund

# Offline: no AWS account or credentials needed (and no instance-metadata probe).
synth: build infra/node_modules/.package-lock.json ## CloudFormation template + cdk-nag, offline: infra/cdk.out/
	$(CDK_ENV) AWS_EC2_METADATA_DISABLED=true $(CDK_CLI) synth --quiet -c distDir=$(CURDIR)/$(DIST) $(CDK_ARGS)

deploy: build infra/node_modules/.package-lock.json ## cdk deploy to the account of the current AWS credentials
	$(CDK_ENV) $(CDK_CLI) deploy --outputs-file cdk.out/outputs.json -c distDir=$(CURDIR)/$(DIST) $(CDK_ARGS)

test-infra: ## CDK assertion tests and cdk-nag checks of the stack (needs node)
	cd infra && $(GO) vet ./... && $(GO) test -count=1 ./...
