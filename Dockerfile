# syntax=docker/dockerfile:1

# One image for the three PCX binaries; docker-compose.yml picks the command:
#   /usr/local/bin/api     public API (:8080) and internal API (:8081)
#   /usr/local/bin/worker  Temporal webhook worker (health on :9090)
#   /usr/local/bin/pcxctl  operator CLI (table create, probe, ...)
#
#   docker build -t pcx-public-service:dev .

# Base images are pinned to exact tags here: the Go of go.mod's toolchain line (deploy/ tests that
# they agree) on Debian 12, the release the runtime image is built from. Distroless publishes no
# version tags (only latest, nonroot, debug, debug-nonroot per Debian release), so its exact pin is
# a digest. The release pipeline adds the digests (`docker buildx imagetools inspect <image>`,
# then FROM <image>@sha256:...); they are not written by hand.

# ---- build: compile on the builder's platform, cross-compile for the target ----
FROM --platform=$BUILDPLATFORM golang:1.27.3-bookworm AS build

WORKDIR /src

ENV CGO_ENABLED=0

# Dependencies first, so editing code does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG TARGETOS
ARG TARGETARCH
# The version stamped into the binaries (pcx_build_info, pcxctl version, the webhook User-Agent):
#   docker build --build-arg VERSION=$(git describe --tags --always) .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    export GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" && \
    go build -trimpath -ldflags="-s -w -X github.com/pcx/publicservice/app.Version=${VERSION}" -o /out/api ./cmd/api && \
    go build -trimpath -ldflags="-s -w -X github.com/pcx/publicservice/app.Version=${VERSION}" -o /out/worker ./cmd/worker && \
    go build -trimpath -ldflags="-s -w -X github.com/pcx/publicservice/app.Version=${VERSION}" -o /out/pcxctl ./cmd/pcxctl

# ---- runtime: static binaries on distroless, no shell, non-root ----
FROM gcr.io/distroless/static-debian12:nonroot AS runtime

COPY --from=build /out/api /out/worker /out/pcxctl /usr/local/bin/

# 8080 public API, 8081 internal API, 9090 worker health and metrics.
EXPOSE 8080 8081 9090

USER nonroot:nonroot

CMD ["/usr/local/bin/api"]
