#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from source through the Go module proxy (no
# prebuilt binaries are reachable here) into $FACESEARCH_CACHE/envtest/<k8s>-<etcd>.
# Prints the directory to use as KUBEBUILDER_ASSETS.
source "$(dirname "$0")/lib.sh"

out="$FACESEARCH_CACHE/envtest/${KUBERNETES_VERSION}-etcd${ETCD_VERSION}"
if is_done "$out"; then echo "$out"; exit 0; fi
need_disk_gb 8
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod

if [ ! -x "$out/kube-apiserver" ] || [ ! -x "$out/kubectl" ]; then
  log "building kube-apiserver and kubectl $KUBERNETES_VERSION (cold: about 12 min of CPU on 2 cores)"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  k8s_wrapper_module kube-apiserver kubectl
  go build -trimpath -ldflags "$K8S_LDFLAGS" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  log "kube-apiserver built; building kubectl"
  go build -trimpath -ldflags "$K8S_LDFLAGS" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
fi

if [ ! -x "$out/etcd" ]; then
  log "building etcd $ETCD_VERSION (cold: about 2 min of CPU)"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  printf 'module facesearch.local/etcdtool\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
fi

"$out/kube-apiserver" --version >&2
mark_done "$out"
log "envtest assets installed in $out"
echo "$out"
