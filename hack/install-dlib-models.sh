#!/usr/bin/env bash
# Fetches dlib's public-domain (CC0) face models from Debian's dlib source package (its
# orig-dlib-models tarball) into $FACESEARCH_CACHE/dlib-models/<ver>:
# dlib_face_recognition_resnet_model_v1.dat, shape_predictor_5_face_landmarks.dat, LICENSE
# and README.md. The 68-point predictor is left out: it is not free for commercial use.
# Prints the directory.
source "$(dirname "$0")/lib.sh"

base="$FACESEARCH_CACHE/dlib-models"
# current names the complete directory; only its last element is read, so that the cache may
# be mounted at another path (hack/build-image.sh mounts it at /cache in the image build).
if [ -f "$base/current" ]; then
  cur="$base/$(basename "$(cat "$base/current")")"
  if is_done "$cur"; then echo "$cur"; exit 0; fi
fi
src=$(bash "$(dirname "$0")/install-dlib-source.sh")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
models=$(ls "$src"/*.orig-dlib-models.tar.* 2>/dev/null | head -1 || true)
[ -n "$models" ] || die "Debian's $DLIB_SOURCE_PACKAGE source package has no orig-dlib-models tarball"
ver=$(basename "$models" | sed -E 's/^[^_]+_([^_]+)\.orig-dlib-models\.tar\..*/\1/')
out="$base/$ver"
mkdir -p "$out"
files=(dlib_face_recognition_resnet_model_v1.dat shape_predictor_5_face_landmarks.dat LICENSE README.md)
tar -xf "$models" -C "$tmp" --wildcards "${files[@]/#/*/}"
for f in "${files[@]}"; do
  found=$(find "$tmp" -name "$f" -path '*models*' | head -1)
  [ -n "$found" ] || die "the dlib models tarball lacks $f"
  cp "$found" "$out/$f"
done
mark_done "$out"
echo "$out" > "$base/current"
log "dlib models installed in $out"
echo "$out"
