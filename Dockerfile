# syntax=docker/dockerfile:1
# The operator image for people with Docker. `make image` builds the same
# image without Docker (hack/image, an OCI archive); hack/image's tests parse
# this file so that its user, entrypoint, binaries and labels cannot drift
# from that builder. Build both platforms with:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(cat VERSION) --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u -d @$(git log -1 --format=%ct) +%Y-%m-%dT%H:%M:%SZ) \
#     -t ghcr.io/redkube/redkube-operator:$(cat VERSION) .

ARG GO_VERSION=1.26

# The builder runs on the build machine and cross-compiles for each target.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION
ARG REVISION
ARG MODIFIED=false
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    pkg=github.com/redkube/redkube/internal/version && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X $pkg.Version=${VERSION:-$(cat VERSION)} -X $pkg.Revision=${REVISION} -X $pkg.Modified=${MODIFIED}" \
      -o /out/ ./cmd/manager ./cmd/redkube-exporter ./cmd/rcctl

# No shell, no package manager; distroless's nonroot user is 65532.
FROM gcr.io/distroless/static:nonroot
ARG VERSION
ARG REVISION
ARG CREATED
LABEL org.opencontainers.image.title="redkube-operator" \
      org.opencontainers.image.description="redkube: the Redis Cluster operator for Kubernetes (manager) and its Redis metrics exporter" \
      org.opencontainers.image.source="https://github.com/redkube/redkube" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chown=65532:65532 --chmod=0755 /out/manager /manager
COPY --from=builder --chown=65532:65532 --chmod=0755 /out/redkube-exporter /redkube-exporter
COPY --from=builder --chown=65532:65532 --chmod=0755 /out/rcctl /rcctl
USER 65532:65532
ENTRYPOINT ["/manager"]
