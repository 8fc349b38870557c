#!/usr/bin/env bash
# Installs every external part the project needs (each step is skipped when its cache entry
# is complete) and writes bin/assets.env: the KEY=VALUE lines that make, tests and the local
# stack read to find them.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
log "cache: $FACESEARCH_CACHE"

step() { local name=$1; shift; log "setup: $name"; "$@" || die "setup step '$name' failed (see above)"; }
onnxruntime=$(step onnxruntime bash "$root/hack/install-onnxruntime.sh")
models=$(step models bash "$root/hack/install-models.sh")
testfaces=$(step testfaces bash "$root/hack/install-testfaces.sh")
dlibmodels=$(step dlib-models bash "$root/hack/install-dlib-models.sh")
dlibpack=$(step dlib-blazeface-pack bash "$root/hack/install-models.sh" dlib-blazeface-1.0)
tools=$(step tools bash "$root/hack/install-tools.sh")
minio=$(step minio bash "$root/hack/install-minio.sh")
envtest=$(step envtest bash "$root/hack/install-envtest.sh")
helm=$(step helm bash "$root/hack/install-helm.sh")
golangcilint=$(step golangci-lint bash "$root/hack/install-golangci-lint.sh")
jssdk=$(step jssdk bash "$root/hack/install-jssdk.sh")
# Prints nothing, and says why, where Chromium cannot be installed: the browser tests skip then.
chromium=$(step chromium bash "$root/hack/install-chromium.sh")
# Prints nothing, and says why, where Debian's webp package cannot be fetched: the WebP tests skip then.
cwebp=$(step cwebp bash "$root/hack/install-webp.sh")

mkdir -p "$root/bin"
cat > "$root/bin/assets.env" <<ENV
FACESEARCH_CACHE=$FACESEARCH_CACHE
FACESEARCH_ONNXRUNTIME=$onnxruntime
FACESEARCH_MODEL_PACK=$models
FACESEARCH_MODEL_PACKS=$models,$dlibpack
FACESEARCH_DLIB_BLAZEFACE_PACK=$dlibpack
FACESEARCH_TESTFACES=$testfaces
FACESEARCH_DLIB_MODELS=$dlibmodels
FACESEARCH_MINIO=$minio
KUBEBUILDER_ASSETS=$envtest
CONTROLLER_GEN=$tools/controller-gen
FACESEARCH_HELM=$helm
GOLANGCI_LINT=$golangcilint
FACESEARCH_JSSDK=$jssdk
ENV
if [ -n "$chromium" ]; then
  echo "FACESEARCH_CHROMIUM=$chromium" >> "$root/bin/assets.env"
  echo "FACESEARCH_CHROMIUM_VERSION=$("$chromium" --version 2>/dev/null | awk '{print $2; exit}')" >> "$root/bin/assets.env"
fi
if [ -n "$cwebp" ]; then
  echo "FACESEARCH_CWEBP=$cwebp" >> "$root/bin/assets.env"
fi
log "setup done in $(( $(date +%s) - start ))s; paths in bin/assets.env"
