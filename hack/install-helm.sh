#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v4) from source through the Go module proxy (no prebuilt
# binaries are reachable here) into $FACESEARCH_CACHE/helm/<version>/helm, for `helm lint`,
# `helm template` and the chart test. Prints the binary's path.
source "$(dirname "$0")/lib.sh"

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
out="$FACESEARCH_CACHE/helm/$HELM_VERSION"
if is_done "$out"; then echo "$out/helm"; exit 0; fi
need_disk_gb 3
mkdir -p "$out"
export GOFLAGS=-mod=mod CGO_ENABLED=0
# helm prints this with `helm version`; without it the build reports a development version.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"

log "building helm $HELM_VERSION (cold: a few minutes of CPU on 2 cores)"
if ! GOBIN="$out" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"; then
  # `go install pkg@version` refuses modules whose go.mod has replace directives: build it
  # from a throwaway wrapper module that requires helm instead.
  log "go install refused; building helm from a wrapper module"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  printf 'module facesearch.local/helmtool\ngo 1.26\nrequire helm.sh/helm/v4 %s\n' "$HELM_VERSION" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "$ldflags" -o "$out/helm" helm.sh/helm/v4/cmd/helm
fi

"$out/helm" version >&2
mark_done "$out"
log "helm installed: $out/helm"
echo "$out/helm"
