#!/usr/bin/env bash
# Fetches cwebp, the reference WebP encoder, from Debian's webp package, with the libwebp
# libraries it links, unpacked into $FACESEARCH_CACHE/webp/<version> (nothing is installed
# system-wide), and prints the path of a cwebp that finds those libraries. Go has no WebP
# encoder, so the face tests make their WebP images with it from the test faces at test time.
#
# Prints nothing (exit 0, with a message on stderr) where the packages cannot be fetched:
# the WebP tests then skip with that message instead of failing the whole set-up.
source "$(dirname "$0")/lib.sh"

base="$FACESEARCH_CACHE/webp"
# current names the complete directory; only its last element is read, as in the others.
if [ -f "$base/current" ]; then
  cur="$base/$(basename "$(cat "$base/current")")"
  if is_done "$cur"; then echo "$cur/cwebp"; exit 0; fi
fi

unavailable() {
  log "cwebp is not installed: $1; the WebP tests will skip (bash hack/install-webp.sh)"
  exit 0
}

command -v apt-get >/dev/null || unavailable "there is no apt-get on this machine"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# cwebp links libwebpdemux (not in every base image) besides libwebp; libwebpmux comes along
# for the tools beside it. The rest (libjpeg, libpng, libtiff) is what any Debian has.
pkgs=(webp libwebp7 libwebpdemux2 libwebpmux3)
fetch() { (cd "$tmp" && apt-get -o APT::Sandbox::User=root -qq download "${pkgs[@]}" >/dev/null 2>&1); }
if ! fetch; then
  # A stale package list names .debs that left the mirror: update it (root only) and retry.
  [ "$(id -u)" = 0 ] || unavailable "apt-get download ${pkgs[*]} failed (and updating the package lists needs root)"
  log "apt-get download failed; updating the package lists"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
  fetch || unavailable "apt-get download ${pkgs[*]} failed"
fi
deb=$(ls "$tmp"/webp_*.deb)
ver=$(basename "$deb" | sed -E 's/^webp_([^_]+)_.*/\1/')
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done

out="$base/webp-$ver"
rm -rf "$out"; mkdir -p "$out/bin" "$out/lib"
cp "$tmp/root/usr/bin/cwebp" "$out/bin/"
find "$tmp/root/usr/lib" -name 'libwebp*.so*' -exec cp -a {} "$out/lib/" \;
cat > "$out/cwebp" <<'SH'
#!/bin/sh
# cwebp with the libwebp libraries unpacked beside it.
dir=$(dirname "$0")
LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$dir/bin/cwebp" "$@"
SH
chmod +x "$out/cwebp"
"$out/cwebp" -version >/dev/null 2>&1 || unavailable "cwebp $ver does not run here (a library missing?)"
mark_done "$out"
echo "$out" > "$base/current"
log "cwebp $("$out/cwebp" -version) installed in $out"
echo "$out/cwebp"
