# redkube — Redis Cluster on Kubernetes, made boring.
# `make help` lists the targets.

SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
GOLANGCI_LINT_VERSION := v2.15.0
# /VERSION is the one version source; the linker writes it, the commit and the
# tree's state into internal/version (see its doc.go).
VERSION := $(shell tr -d '[:space:]' <VERSION)
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED := $(shell test -z "$$(git status --porcelain 2>/dev/null)" && echo false || echo true)
VERSION_PKG := github.com/redkube/redkube/internal/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) -X $(VERSION_PKG).Modified=$(MODIFIED)
# The image: its name, platforms and binaries (./cmd/<name>, built when the
# folder exists; the first is the entrypoint). Created time and file mtimes
# come from the HEAD commit, so one commit builds one image digest.
IMG ?= ghcr.io/redkube/redkube-operator:$(VERSION)
IMAGE_PLATFORMS := linux/amd64 linux/arm64
IMAGE_CMDS := manager redkube-exporter rcctl
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
# Control-plane binaries (etcd, kube-apiserver, ...) live in a cache keyed by
# hack/k8s-build's go.sum; hack/build-k8s.sh builds them once and prints the
# folder on its last line.
WITH_K8S := set -o pipefail; k8s_bin=$$(hack/build-k8s.sh | tail -n1) && export REDKUBE_K8S_BIN="$$k8s_bin" &&
# The pinned developer tools (helm, promtool) live in a cache keyed by
# hack/tools-build's go.sum; hack/build-tools.sh builds them once and prints
# the folder on its last line. Tests that need helm skip without it.
WITH_TOOLS := set -o pipefail; tools_bin=$$(hack/build-tools.sh | tail -n1) && export REDKUBE_TOOLS_BIN="$$tools_bin" &&
# SeaweedFS's weed (the S3-compatible server of the backup tests) lives in a
# cache keyed by hack/s3-build's go.sum, a build module of its own so its
# large dependency graph moves no pin of hack/tools-build; hack/build-s3.sh
# builds it once (~10 min cold on 2 cores) and prints the folder on its last
# line. Tests that need it skip without it.
WITH_S3 := set -o pipefail; s3_bin=$$(hack/build-s3.sh | tail -n1) && export REDKUBE_S3_BIN="$$s3_bin" &&
CHART := charts/redkube

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build rcctl, localkube and the operator (manager) into ./bin.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

.PHONY: image
image: ## Build the operator image for linux/amd64 and linux/arm64 as an OCI archive in ./bin (no Docker needed).
	@set -e; args=(); \
	cmds="$(foreach c,$(IMAGE_CMDS),$(if $(wildcard cmd/$(c)/main.go),$(c)))"; \
	for p in $(IMAGE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=$(BIN)/$${os}_$${arch}; pkgs=(); \
	  for c in $$cmds; do pkgs+=(./cmd/$$c); args+=(--binary "$$p:$$c=$$out/$$c"); done; \
	  echo "go build $$p: $$cmds"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out/ "$${pkgs[@]}"; \
	done; \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image \
	  --tag $(IMG) --version $(VERSION) --revision "$(REVISION)" \
	  --entrypoint $(firstword $(IMAGE_CMDS)) --output $(BIN)/redkube-operator-$(VERSION).oci.tar "$${args[@]}"

.PHONY: k8s
k8s: ## Build the local Kubernetes control plane once (cached; ~15 min cold).
	hack/build-k8s.sh

.PHONY: s3
s3: ## Build SeaweedFS's weed, the S3 server of the backup tests, once (cached; ~10 min cold).
	hack/build-s3.sh

.PHONY: test
# test/e2e is listed first: go test starts packages in the order given, and
# the end-to-end suite is the longest by far, so the others run beside it
# instead of before it.
test: ## Run every test: unit, property, integration (real redis-server) and end-to-end (real Kubernetes).
	$(WITH_K8S) { $(WITH_TOOLS) { $(WITH_S3) $(GO) test -count=1 -timeout 60m ./test/e2e/ ./...; }; }

.PHONY: test-short
test-short: ## Run the fast tests only (no Kubernetes control plane).
	$(GO) test -count=1 -short -timeout 20m ./...

.PHONY: generate
generate: ## Regenerate deepcopy code, the CRD and the RBAC role from kubebuilder markers (controller-gen v0.23.0).
	hack/generate.sh

.PHONY: verify-generated
verify-generated: ## Fail when generated code or manifests are stale (regenerates into a temp copy and diffs).
	hack/verify-generated.sh

.PHONY: chart-lint
chart-lint: ## Lint the Helm chart (strict) and render it in both watch modes (cluster, namespaces).
	$(WITH_TOOLS) helm="$$REDKUBE_TOOLS_BIN/helm" && \
	"$$helm" lint --strict $(CHART) && \
	"$$helm" lint --strict $(CHART) --set watch.mode=namespaces --set 'watch.namespaces={team-a,team-b}' && \
	"$$helm" template redkube $(CHART) --namespace redkube-system --include-crds >/dev/null && \
	"$$helm" template redkube $(CHART) --namespace redkube-system --include-crds \
		--set watch.mode=namespaces --set 'watch.namespaces={team-a,team-b}' >/dev/null

.PHONY: release
release: ## Write dist/redkube-<VERSION>.yaml (namespace, CRDs, RBAC, Deployment, Service) and the packaged chart dist/redkube-<VERSION>.tgz.
	$(WITH_TOOLS) hack/release.sh dist

.PHONY: golden
golden: ## Rewrite the golden files (the builders' internal/resources/testdata, the rendered chart's test/chart/testdata) after an intended change.
	$(GO) test -count=1 -timeout 5m ./internal/resources -update
	$(WITH_TOOLS) $(GO) test -count=1 -timeout 5m -run TestChartMatchesGoldenFiles ./test/chart -update

.PHONY: lint
lint: verify-generated ## Run gofmt, go vet and golangci-lint (depguard keeps Kubernetes out of pkg/).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...

.PHONY: run
run: build ## The whole demo: local Kubernetes, the operator, the tutorial's cluster as one RedisCluster; Ctrl-C stops it.
	$(WITH_K8S) { $(WITH_TOOLS) hack/demo.sh; }

.PHONY: chaos
chaos: ## Run the chaos suite in full (test/chaos): REDKUBE_CHAOS_RUNS seeds (default 5) and the long scenarios; `make test` runs one seed.
	$(WITH_K8S) REDKUBE_CHAOS_RUNS=$${REDKUBE_CHAOS_RUNS:-5} $(GO) test -count=1 -timeout 90m -v ./test/chaos/

.PHONY: bench
bench: build ## Run rcctl side by side with redis-cli --cluster and print the ratios.
	bench/rcctl-vs-redis-cli.sh

.PHONY: bench-planned
bench-planned: ## Every planned operation (rolls, scale, replicas) under a writer, REDKUBE_PLANNED_RUNS times (default 3): worst gap, errors, lost.
	$(WITH_K8S) bench/planned-ops.sh

.PHONY: clean
clean: ## Remove build and release output (keeps the control-plane and tools caches in .cache).
	rm -rf $(BIN) dist
