#!/usr/bin/env bash
# Fetches labelled test faces from Debian's dlib source package (examples/johns: 5 people x
# 11 crops; examples/faces: photos with several faces) into $FACESEARCH_CACHE/testfaces/<ver>.
# Prints the directory.
source "$(dirname "$0")/lib.sh"

base="$FACESEARCH_CACHE/testfaces"
# current names the complete directory; only its last element is read, so that the cache may
# be mounted at another path (hack/build-image.sh mounts it at /cache in the image build).
if [ -f "$base/current" ]; then
  cur="$base/$(basename "$(cat "$base/current")")"
  if is_done "$cur"; then echo "$cur"; exit 0; fi
fi
src=$(bash "$(dirname "$0")/install-dlib-source.sh")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
orig=$(ls "$src"/*.orig.tar.* | head -1)
ver=$(basename "$orig" | sed -E 's/^[^_]+_([^_]+)\.orig\.tar\..*/\1/')
out="$base/dlib-$ver"
mkdir -p "$out"
tar -xf "$orig" -C "$tmp/src" --wildcards '*/examples/johns/*' '*/examples/faces/*'
srcdir=$(find "$tmp/src" -maxdepth 1 -mindepth 1 -type d | head -1)
cp -r "$srcdir/examples/johns" "$srcdir/examples/faces" "$out/"
mark_done "$out"
echo "$out" > "$base/current"
log "test faces installed in $out ($(find "$out/johns" -name '*.jpg' | wc -l) labelled crops)"
echo "$out"
