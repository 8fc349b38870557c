#!/usr/bin/env bash
# Fetches labelled test faces from Debian's dlib source package (examples/johns: 5 people x
# 11 crops; examples/faces: photos with several faces) into $FACESEARCH_CACHE/testfaces/<ver>.
# Prints the directory.
source "$(dirname "$0")/lib.sh"

base="$FACESEARCH_CACHE/testfaces"
if [ -f "$base/current" ] && is_done "$(cat "$base/current")"; then cat "$base/current"; exit 0; fi
need_disk_gb 1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# A private apt configuration with deb-src entries derived from this machine's own sources,
# so that no system file is changed and no mirror is named here.
mkdir -p "$tmp/apt/lists/partial" "$tmp/etc/sources.list.d"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  sed -E 's/^Types:.*/Types: deb-src/' "$f" > "$tmp/etc/sources.list.d/$(basename "$f")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$tmp/etc/sources.list" || true
else
  : > "$tmp/etc/sources.list"
fi
aptopts=(-o "Dir::Etc::SourceList=$tmp/etc/sources.list" -o "Dir::Etc::SourceParts=$tmp/etc/sources.list.d"
         -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache" -o APT::Sandbox::User=root)
log "reading Debian source index for $DLIB_SOURCE_PACKAGE"
apt-get "${aptopts[@]}" update -qq >/dev/null 2>"$tmp/apt.err" || { cat "$tmp/apt.err" >&2; die "apt-get update for deb-src failed"; }
mkdir -p "$tmp/src" && cd "$tmp/src"
apt-get "${aptopts[@]}" source --download-only -qq "$DLIB_SOURCE_PACKAGE" >/dev/null 2>"$tmp/apt.err" || { cat "$tmp/apt.err" >&2; die "apt-get source $DLIB_SOURCE_PACKAGE failed"; }
orig=$(ls "$tmp"/src/*.orig.tar.* | head -1)
ver=$(basename "$orig" | sed -E 's/^[^_]+_([^_]+)\.orig\.tar\..*/\1/')
out="$base/dlib-$ver"
mkdir -p "$out"
tar -xf "$orig" -C "$tmp/src" --wildcards '*/examples/johns/*' '*/examples/faces/*'
srcdir=$(find "$tmp/src" -maxdepth 1 -mindepth 1 -type d | head -1)
cp -r "$srcdir/examples/johns" "$srcdir/examples/faces" "$out/"
# Keep the orig tarball's other model files for the licence-clean pack (issue: dlib models).
models=$(ls "$tmp"/src/*.orig-models.tar.* 2>/dev/null | head -1 || true)
[ -n "$models" ] && cp "$models" "$out/"
mark_done "$out"
echo "$out" > "$base/current"
log "test faces ready in $out ($(find "$out/johns" -name '*.jpg' | wc -l) labelled crops)"
echo "$out"
