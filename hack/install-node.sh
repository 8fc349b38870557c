#!/usr/bin/env bash
# Installs what a single-node Kubernetes (hack/cluster.sh) needs beyond envtest's
# kube-apiserver and etcd, into $FACESEARCH_CACHE/node/<k8s>-<coredns>-<debian packages>:
#   kubelet, kube-scheduler, kube-controller-manager, kube-proxy  built from the same wrapper
#                                    module and flags as hack/install-envtest.sh (shared build cache)
#   coredns                          built from the Go module proxy with the plugins a cluster uses
#   pause.tar                        the pause image, a static build of the module's pause.c
#   containerd, runc, cni/           Debian's packages, unpacked (no system file changed)
# and, system-wide through apt (they need their own configuration in /etc), the tools the
# node and the image build use: iptables, nftables (hack/cluster.sh down deletes the empty tables
# iptables-nft leaves), conntrack, buildah, debootstrap, umoci.
# Prints the directory.
source "$(dirname "$0")/lib.sh"

COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
NODE_DEBS=(containerd runc containernetworking-plugins)
NODE_TOOLS=(iptables nftables conntrack buildah runc debootstrap umoci)

missing=()
for t in iptables nft conntrack buildah runc debootstrap umoci; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages ${NODE_TOOLS[*]} (missing: ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NODE_TOOLS[@]}" >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NODE_TOOLS[@]}" >/dev/null; } ||
    die "apt-get install ${NODE_TOOLS[*]} failed"
fi

# The cache key names every version that goes into the directory.
debver() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
key="${KUBERNETES_VERSION}-coredns${COREDNS_VERSION}"
for d in "${NODE_DEBS[@]}"; do
  v=$(debver "$d"); [ -n "$v" ] && [ "$v" != "(none)" ] || die "Debian package $d is not available (apt-get update?)"
  key="$key-$d${v//[^A-Za-z0-9.]/_}"
done
out="$FACESEARCH_CACHE/node/$key"
if is_done "$out"; then echo "$out"; exit 0; fi
need_disk_gb 6
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod

# Debian's containerd, runc and CNI plugins, unpacked into the cache.
if [ ! -x "$out/containerd" ] || [ ! -x "$out/runc" ] || [ ! -x "$out/cni/bridge" ]; then
  log "fetching Debian packages ${NODE_DEBS[*]}"
  (cd "$work" && apt-get download -qq "${NODE_DEBS[@]}" >/dev/null) || die "apt-get download ${NODE_DEBS[*]} failed"
  mkdir -p "$work/root"
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
  cp "$work/root/usr/bin/containerd" "$work/root/usr/bin/containerd-shim-runc-v2" "$work/root/usr/bin/ctr" "$out/"
  cp "$work/root/usr/sbin/runc" "$out/runc"
  mkdir -p "$out/cni"
  cp -a "$work/root/usr/lib/cni/." "$out/cni/"
fi

# Kubernetes node binaries: the envtest wrapper module with the node commands added.
k8s_bins=(kubelet kube-scheduler kube-controller-manager kube-proxy)
build_k8s=0
for b in "${k8s_bins[@]}"; do [ -x "$out/$b" ] || build_k8s=1; done
if [ $build_k8s = 1 ]; then
  log "building ${k8s_bins[*]} $KUBERNETES_VERSION (cold, after envtest's build: about 4 min of CPU on 2 cores)"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  k8s_wrapper_module kube-apiserver kubectl "${k8s_bins[@]}"
  for b in "${k8s_bins[@]}"; do
    [ -x "$out/$b" ] && continue
    log "building $b"
    go build -trimpath -ldflags "$K8S_LDFLAGS" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$out/$b.tmp" "$out/$b"
  done
  # The pause image's one binary, from the same module.
  mod=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  cp "$mod/build/pause/linux/pause.c" "$work/pause.c"
fi

# CoreDNS with the plugins a cluster's Corefile uses (the full list pulls in every cloud SDK).
if [ ! -x "$out/coredns" ]; then
  log "building coredns $COREDNS_VERSION (cold: about 1 min of CPU)"
  mkdir -p "$work/coredns" && cd "$work/coredns"
  printf 'module facesearch.local/coredns\ngo 1.26\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" > go.mod
  cat > main.go <<'GO'
// CoreDNS with the plugins of a cluster's Corefile; the order below is CoreDNS's plugin.cfg order.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	dnsserver.Directives = []string{"reload", "bind", "ready", "health", "errors", "log",
		"loadbalance", "cache", "hosts", "kubernetes", "forward"}
}

func main() { coremain.Run() }
GO
  go mod tidy >/dev/null 2>&1 || go mod tidy
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/coredns" .
fi

# The pause image as an OCI archive that `ctr images import` names localhost/pause:<k8s>.
if [ ! -f "$out/pause.tar" ]; then
  if [ ! -f "$work/pause.c" ]; then
    mod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    cp "$mod/build/pause/linux/pause.c" "$work/pause.c"
  fi
  log "building the pause image"
  mkdir -p "$work/pause-root"
  gcc -Os -static -DVERSION="$KUBERNETES_VERSION" -o "$work/pause-root/pause" "$work/pause.c"
  image_archive "$work/pause-root" "localhost/pause:$KUBERNETES_VERSION" '["/pause"]' 65535 "$out/pause.tar.tmp"
  mv "$out/pause.tar.tmp" "$out/pause.tar"
fi

"$out/kubelet" --version >&2
mark_done "$out"
log "node components installed in $out"
echo "$out"
