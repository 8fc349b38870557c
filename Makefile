# facesearch: a Kubernetes operator for self-hosted face search.
# `make test` and `make demo` do all their own set-up on a fresh machine (see hack/setup.sh).

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BIN := bin/facesearch
# Every recipe that needs the external parts loads their paths from here.
ASSETS := set -a; source bin/assets.env; set +a;
GO_TEST_FLAGS ?= -timeout 45m
HELM_CHART := charts/facesearch
# What make generate manifests writes; CI fails when any of it is stale.
GENERATED := api config/crd config/rbac $(HELM_CHART)/crds $(HELM_CHART)/files docs/api-reference.md

.PHONY: all
all: build

##@ Set-up

.PHONY: setup
setup: ## Install envtest binaries, MinIO, ONNX Runtime, the model packs, test faces and the JavaScript SDK (cached).
	bash hack/setup.sh

bin/assets.env:
	bash hack/setup.sh

##@ Development

.PHONY: generate
generate: bin/assets.env ## Generate deepcopy code.
	$(ASSETS) "$$CONTROLLER_GEN" object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: bin/assets.env ## Generate CRDs and RBAC from the markers, with their copies in the chart and the API reference.
	$(ASSETS) "$$CONTROLLER_GEN" rbac:roleName=manager-role crd paths=./api/... paths=./controllers/... paths=./internal/webhook/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(ASSETS) "$$CONTROLLER_GEN" rbac:roleName=api-role paths=./cmd/facesearch/... output:rbac:artifacts:config=config/rbac/api
	cp config/crd/bases/*.yaml $(HELM_CHART)/crds/
	cp config/rbac/role.yaml $(HELM_CHART)/files/manager-role.yaml
	cp config/rbac/api/role.yaml $(HELM_CHART)/files/api-role.yaml
	$(GO) run ./hack/apidocs -out docs/api-reference.md

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when a generated file is stale.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated files are stale: run make generate manifests and commit"; \
		git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; fi

.PHONY: fmt
fmt:
	$(GO) fmt ./...

.PHONY: vet
vet:
	$(GO) vet ./...
	$(GO) vet -tags nolocal ./cmd/facesearch

.PHONY: lint
lint: bin/assets.env ## golangci-lint, with the Kube API Linter on api/ (.golangci.yml).
	$(ASSETS) test -n "$${GOLANGCI_LINT:-}" || { echo "bin/assets.env has no GOLANGCI_LINT: run make setup"; exit 1; }; \
		"$$GOLANGCI_LINT" run --allow-parallel-runners ./...

.PHONY: build
# BUILD_TAGS=nolocal leaves the local role (and envtest, which it embeds) out: the image's
# build, whose pods run on read-only root file systems that envtest's init cannot write to.
BUILD_TAGS ?=
build: ## Build the facesearch binary.
	$(GO) build -tags "$(BUILD_TAGS)" -o $(BIN) ./cmd/facesearch

.PHONY: test
test: setup verify-generated vet lint helm-lint ## Run every test against real parts (envtest, MinIO, ONNX models).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(ASSETS) $(GO) test $(GO_TEST_FLAGS) ./...
	$(MAKE) --no-print-directory bench-smoke

.PHONY: e2e
e2e: setup ## End to end on a real single-node cluster (hack/cluster.sh): the image built from the Dockerfile, the chart, MinIO as a pod; the node is torn down after (needs root).
	bash hack/e2e.sh

##@ Release

IMAGE_ARCHIVE ?= bin/facesearch-image.tar

.PHONY: image
image: ## The operator's image from the Dockerfile with buildah, no registry needed, as an archive for ctr -n k8s.io images import (IMAGE_ARCHIVE, default bin/facesearch-image.tar).
	bash hack/build-image.sh $(IMAGE_ARCHIVE)

.PHONY: helm-lint
helm-lint: bin/assets.env ## helm lint --strict and helm template, with the default and the production values, with and without cert-manager.
	$(ASSETS) for values in "" $(HELM_CHART)/ci/production-values.yaml; do \
		"$$FACESEARCH_HELM" lint --strict $(HELM_CHART) $${values:+--values $$values}; \
		"$$FACESEARCH_HELM" template fs $(HELM_CHART) --namespace facesearch-system $${values:+--values $$values} >/dev/null; \
		"$$FACESEARCH_HELM" template fs $(HELM_CHART) --namespace facesearch-system $${values:+--values $$values} \
			--api-versions cert-manager.io/v1 >/dev/null; \
	done

##@ Evaluation and benchmarks

.PHONY: eval
eval: bin/assets.env ## Face engine evaluation on the labelled faces; refreshes docs/face-evaluation.md.
	$(ASSETS) $(GO) run ./hack/faceeval -o docs/face-evaluation.md

.PHONY: bench
bench: bin/assets.env ## Go benchmarks of the face engine, the index and SearchRequests end to end.
	$(ASSETS) $(GO) test -run '^$$' -bench . -benchtime 3s ./internal/face
	$(ASSETS) $(GO) test ./internal/index/ -run '^$$' -bench . -benchtime 20x -args -benchsizes=100000,1000000 -benchload=100000
	$(ASSETS) $(GO) test ./controllers -run '^$$' -bench SearchRequest -benchtime 40x

# The packages that hold a benchmark (tracked or new files); only they are linked and run.
BENCH_PKGS = $$(git grep --untracked -l '^func Benchmark' -- '*_test.go' | xargs -n1 dirname | sort -u | sed 's|^|./|')

# -short gives every benchmark its smallest sizes (see each benchmark's comment); explicit
# size flags and FACESEARCH_BENCH_FACES still win.
.PHONY: bench-smoke
bench-smoke: bin/assets.env ## Every Go benchmark once at its smallest sizes, so that a broken one fails (part of make test).
	$(ASSETS) $(GO) test $(GO_TEST_FLAGS) -short -run '^$$' -bench . -benchtime 1x $(BENCH_PKGS)

.PHONY: bench-index
bench-index: bin/assets.env ## The index benchmark table (about 15 min, < 6 GB of memory).
	$(ASSETS) $(GO) run ./hack/indexbench

# BENCH_SCALE_ARGS=-quick measures at small sizes, to check the harness itself (make would
# read a bare -quick as its own flags).
BENCH_SCALE_ARGS ?=

.PHONY: bench-scale
bench-scale: bin/assets.env ## Issue 14's scale targets in one run (writer and shard memory, shard downloads and load, compaction, log cost, bulk enrolment): a table and "N passed, N failed"; BENCH_SCALE_ARGS=-quick for a smoke run.
	$(ASSETS) $(GO) run ./hack/benchscale $(BENCH_SCALE_ARGS)

.PHONY: fuzz
fuzz: ## Fuzz the image decoding path for 5 minutes and dlib's model readers for 1 minute each.
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 5m ./internal/face
	$(GO) test -run '^$$' -fuzz '^FuzzReadShapePredictor$$' -fuzztime 1m ./internal/dlib
	$(GO) test -run '^$$' -fuzz '^FuzzReadFaceResNet$$' -fuzztime 1m ./internal/dlib

##@ Run

.PHONY: demo
demo: setup build ## Local control plane + MinIO + index + a real search, printed through kubectl.
	$(ASSETS) bash hack/demo.sh

API_PORT ?= 8080

.PHONY: run-local
run-local: setup build ## The local stack in the foreground with the Rekognition API on 127.0.0.1:$(API_PORT).
	$(ASSETS) bin/facesearch local --api-bind-address 127.0.0.1:$(API_PORT) --kubeconfig bin/local.kubeconfig

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
