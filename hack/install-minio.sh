#!/usr/bin/env bash
# Builds the MinIO server (AGPLv3, run unmodified as a separate process) into
# $FACESEARCH_CACHE/minio/<version>. Prints the binary's path.
source "$(dirname "$0")/lib.sh"

out="$FACESEARCH_CACHE/minio/$MINIO_VERSION"
if is_done "$out"; then echo "$out/minio"; exit 0; fi
need_disk_gb 3
mkdir -p "$out"
log "building minio $MINIO_VERSION (cold: about 6 min of CPU on 2 cores)"
GOBIN="$out" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
mark_done "$out"
log "minio installed: $out/minio"
echo "$out/minio"
