#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that the npm package onnxruntime-node ships
# (Debian has none) into $FACESEARCH_CACHE/onnxruntime/<version>. Prints the library path.
source "$(dirname "$0")/lib.sh"

out="$FACESEARCH_CACHE/onnxruntime/$ONNXRUNTIME_VERSION"
lib="$out/libonnxruntime.so"
if is_done "$out"; then echo "$lib"; exit 0; fi
need_disk_gb 1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
npm_fetch "onnxruntime-node@$ONNXRUNTIME_VERSION" "$tmp"
src=$(find "$tmp/package/bin" -path '*linux/x64/*' -name 'libonnxruntime.so.1*' | head -1)
[ -n "$src" ] || die "onnxruntime-node@$ONNXRUNTIME_VERSION has no linux/x64 libonnxruntime.so"
mkdir -p "$out"
cp "$src" "$lib"
mark_done "$out"
log "onnxruntime installed: $lib"
echo "$lib"
