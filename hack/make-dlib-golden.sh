#!/usr/bin/env bash
# Regenerates internal/dlib/testdata/golden/ (golden.json and chips/*.png) from dlib's own C++
# code: hack/dlib-reference/reference.cpp, built against Debian's libdlib-dev into
# $FACESEARCH_CACHE/dlib-reference/<dlib version>/. The JPEGs are first decoded by Go's
# image/jpeg (hack/dlib-reference/topng) into PNGs, so dlib and the Go tests see the same
# pixels. Not needed to run the Go tests: the data is committed. Takes about a minute the
# first time (the C++ build), then about 15 s.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/internal/dlib/testdata/golden"

# dlib's version as its headers give it, empty when libdlib-dev (or g++) is missing.
dlib_header_version() {
  printf '#include <dlib/revision.h>\nDLIB_MAJOR_VERSION.DLIB_MINOR_VERSION.DLIB_PATCH_VERSION\n' |
    g++ -E -P -x c++ - 2>/dev/null | tail -1 | tr -d ' '
}
dlib_version=$(dlib_header_version || true)
if [ -z "$dlib_version" ]; then
  log "installing libdlib-dev and g++"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq libdlib-dev g++ >/dev/null
  dlib_version=$(dlib_header_version || true)
fi
[ -n "$dlib_version" ] || die "cannot read dlib's version from its headers"

models=$(bash "$root/hack/install-dlib-models.sh")
faces=$(bash "$root/hack/install-testfaces.sh")

build="$FACESEARCH_CACHE/dlib-reference/$dlib_version"
src_sum=$(cat "$root/hack/dlib-reference/reference.cpp" | sha256sum | cut -c1-16)
if ! is_done "$build" || [ "$(cat "$build/source.sum" 2>/dev/null)" != "$src_sum" ]; then
  need_disk_gb 1
  rm -rf "$build"; mkdir -p "$build"
  log "building the dlib $dlib_version reference (about 40 s)"
  g++ -std=c++14 -O2 -o "$build/reference" "$root/hack/dlib-reference/reference.cpp" \
    -ldlib -l:libblas.so.3 -l:liblapack.so.3 -lpthread -lpng -ljpeg
  echo "$src_sum" > "$build/source.sum"
  mark_done "$build"
fi
(cd "$root" && go build -o "$build/topng" ./hack/dlib-reference/topng)

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/png" "$work/out/chips"
: > "$work/convert"; : > "$work/manifest"
# add KIND IMAGE SCALE PERSON: queue IMAGE (relative to the test-face directory) for topng and
# the reference.
add() {
  local png="$work/png/$(printf '%s' "$2" | tr '/' '_').x$3.png"
  printf '%s\t%s\t%s\n' "$faces/$2" "$png" "$3" >> "$work/convert"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$png" "$3" "$4" >> "$work/manifest"
}
for f in "$faces"/faces/*.jpg; do add photo "faces/$(basename "$f")" 1 -; done
for d in "$faces"/johns/*/; do
  person=$(basename "$d"); i=0
  for f in $(ls "$d" | grep '\.jpg$' | sort); do
    # The first three crops of every John become golden faces; all get HOG boxes.
    if [ $i -lt 3 ]; then kind=john; else kind=johnbox; fi
    add $kind "johns/$person/$f" 1 "$person"; i=$((i + 1))
  done
done
# Faces at a very different scale, so that extract_image_chip's pyramid path runs.
first_john() { ls "$faces/johns/$1" | grep '\.jpg$' | sort | head -1; }
add scaled "johns/John_Salley/$(first_john John_Salley)" 4 John_Salley
add scaled "johns/John_Simm/$(first_john John_Simm)" 3 John_Simm
add scaled faces/2008_002506.jpg 3 -
add scaled faces/Tom_Cruise_avp_2014_4.jpg 2 -
add scaled faces/2009_004587.jpg 4 -

log "decoding $(wc -l < "$work/convert") JPEGs with Go's image/jpeg"
"$build/topng" -batch < "$work/convert"
log "running the dlib reference"
"$build/reference" "$models" "$work/out" < "$work/manifest" 2> "$work/log" || { cat "$work/log" >&2; die "the reference failed"; }
grep -E 'faces$|distance' "$work/log" >&2 || true

rm -rf "$out/chips" "$out/golden.json"
mkdir -p "$out"
cp -r "$work/out/chips" "$work/out/golden.json" "$out/"
log "wrote $(ls "$out/chips" | wc -l) chips and golden.json to internal/dlib/testdata/golden ($(du -sh "$out" | cut -f1))"
