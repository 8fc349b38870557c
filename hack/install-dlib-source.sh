#!/usr/bin/env bash
# Downloads Debian's dlib source package once into $FACESEARCH_CACHE/debian-src/dlib-<ver>
# (its orig tarball with the examples, and the orig-dlib-models tarball) and prints the
# directory. install-testfaces.sh and install-dlib-models.sh both take their files from it,
# so the ~200 MB package is fetched once.
source "$(dirname "$0")/lib.sh"

base="$FACESEARCH_CACHE/debian-src"
# current names the complete directory; only its last element is read, so that the cache may
# be mounted at another path (hack/build-image.sh mounts it at /cache in the image build).
if [ -f "$base/current" ]; then
  cur="$base/$(basename "$(cat "$base/current")")"
  if is_done "$cur"; then echo "$cur"; exit 0; fi
fi
need_disk_gb 1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
debian_source_fetch "$DLIB_SOURCE_PACKAGE" "$tmp/src"
orig=$(ls "$tmp"/src/*.orig.tar.* | head -1)
ver=$(basename "$orig" | sed -E 's/^[^_]+_([^_]+)\.orig\.tar\..*/\1/')
out="$base/$DLIB_SOURCE_PACKAGE-$ver"
rm -rf "$out"; mkdir -p "$out"
mv "$tmp"/src/*.orig*.tar.* "$out/"
mark_done "$out"
echo "$out" > "$base/current"
log "Debian's $DLIB_SOURCE_PACKAGE source package installed in $out"
echo "$out"
