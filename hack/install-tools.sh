#!/usr/bin/env bash
# Builds the pinned Go developer tools (controller-gen) into $FACESEARCH_CACHE/tools/<tool>-<ver>.
# Prints the directory holding them.
source "$(dirname "$0")/lib.sh"

out="$FACESEARCH_CACHE/tools/controller-gen-$CONTROLLER_TOOLS_VERSION"
if ! is_done "$out"; then
  log "building controller-gen $CONTROLLER_TOOLS_VERSION"
  mkdir -p "$out"
  GOBIN="$out" GOFLAGS=-mod=mod go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
  mark_done "$out"
fi
echo "$out"
