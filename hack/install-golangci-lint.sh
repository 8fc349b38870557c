#!/usr/bin/env bash
# Builds golangci-lint with the Kube API Linter compiled in (the module plugin
# "kubeapilinter") from the wrapper module hack/golangci-lint, through the Go module proxy
# alone, into $FACESEARCH_CACHE/golangci-lint/<version>/golangci-lint. Prints the binary's path.
#
# `golangci-lint custom` would build the same binary from a .custom-gcl.yml, but it clones
# golangci-lint's source with git from its forge, which is not reachable here. The versions
# are pinned by hack/golangci-lint/go.mod and go.sum; the cache key is made of them.
source "$(dirname "$0")/lib.sh"
mod="$(cd "$(dirname "$0")" && pwd)/golangci-lint"

[ -f "$mod/go.mod" ] || die "$mod/go.mod is missing"
gcl=$(awk '$1 == "github.com/golangci/golangci-lint/v2" {print $2; exit}' "$mod/go.mod")
kal=$(awk '$1 == "sigs.k8s.io/kube-api-linter" {print $2; exit}' "$mod/go.mod")
[ -n "$gcl" ] && [ -n "$kal" ] || die "$mod/go.mod must require github.com/golangci/golangci-lint/v2 and sigs.k8s.io/kube-api-linter"
# A hash of the module's files and of the Go toolchain too: editing main.go or go.sum without a
# version bump rebuilds, and so does a newer Go (golangci-lint refuses to lint code for a newer
# Go than the one it was built with).
sum=$({ cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go"; go env GOVERSION; } | sha256sum | cut -c1-8)
version="$gcl-kal-${kal##*-}-$sum"
out="$FACESEARCH_CACHE/golangci-lint/$version"
if is_done "$out"; then echo "$out/golangci-lint"; exit 0; fi
need_disk_gb 2
mkdir -p "$out"

log "building golangci-lint $gcl with kube-api-linter $kal (cold: about 2-3 min of CPU on 2 cores, plus downloads)"
# -mod=readonly: build exactly what go.sum pins, never resolve anything anew.
# GOWORK=off: a go.work above the checkout must not pull this module into a workspace.
(cd "$mod" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
  go build -trimpath -o "$out/golangci-lint.tmp" .) || die "building golangci-lint failed (see above)"
mv "$out/golangci-lint.tmp" "$out/golangci-lint"

# main.go reports the kube-api-linter version it was linked with: an empty one means the
# plugin is not in the binary.
v=$("$out/golangci-lint" version 2>&1) || die "the golangci-lint just built does not run: $v"
log "$v"
case "$v" in *"kube-api-linter $kal"*) ;; *) die "the golangci-lint just built lacks kube-api-linter $kal";; esac
mark_done "$out"
log "golangci-lint installed: $out/golangci-lint"
echo "$out/golangci-lint"
