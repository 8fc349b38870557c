#!/usr/bin/env bash
# Installs Debian's chromium package system-wide, for the browser tests (internal/browsertest)
# that drive it headless through the DevTools protocol. Prints the binary's path, or nothing
# (exit 0, with a message on stderr) when it cannot be installed: the browser tests then skip
# with that message instead of failing the whole set-up.
#
# A no-op when chromium is on PATH already. Also links the binary as
# $FACESEARCH_CACHE/chromium/<version>/chromium, so that tests run without bin/assets.env find
# it as they find every other part (internal/assets).
#
# It is a system package, not a cache entry, because Chromium's own builds (and the
# downloaders of chromedp and puppeteer) come from hosts this machine does not reach.
source "$(dirname "$0")/lib.sh"
start=$(date +%s)

# unavailable REASON: the one way out when there is no browser; nothing is printed on stdout.
unavailable() {
  log "chromium is not installed: $1; the browser tests will skip (as root: bash hack/install-chromium.sh)"
  exit 0
}

bin=$(command -v chromium || true)
if [ -z "$bin" ]; then
  [ "$(id -u)" = 0 ] || unavailable "installing Debian's chromium package needs root"
  command -v apt-get >/dev/null || unavailable "there is no apt-get on this machine"
  # Update first: the package comes from the security pocket, whose older builds leave the
  # mirror, so a stale list names a .deb that is gone. Wait for another apt to finish rather
  # than fail on its lock.
  apt=(-o DPkg::Lock::Timeout=600)
  log "installing Debian's chromium package (cold: apt-get update and about 100 MB of packages)"
  apt-get "${apt[@]}" update -qq >/dev/null 2>&1 || log "apt-get update failed; trying the lists this machine has"
  # No recommends: chromium-sandbox is for unprivileged users, and the tests run with
  # --no-sandbox (as root, in a container, Chromium's sandbox cannot start anyway).
  if ! msg=$(DEBIAN_FRONTEND=noninteractive apt-get "${apt[@]}" install -y -qq --no-install-recommends chromium 2>&1); then
    printf '%s\n' "$msg" | tail -5 >&2
    unavailable "apt-get install chromium failed"
  fi
  bin=$(command -v chromium || true)
  [ -n "$bin" ] || unavailable "apt-get installed chromium, but there is no chromium on PATH"
fi

# Debian's /usr/bin/chromium is a wrapper script; --version runs the real binary, which
# proves its libraries are all there. Output: "Chromium 148.0.7778.167 built on Debian ...".
version=$("$bin" --version 2>/dev/null | awk '{print $2; exit}')
[ -n "$version" ] || unavailable "$bin --version printed no version (a broken install?)"

out="$FACESEARCH_CACHE/chromium/$version"
if ! is_done "$out" || [ "$(readlink "$out/chromium")" != "$bin" ]; then
  mkdir -p "$out"
  ln -sfn "$bin" "$out/chromium"
  mark_done "$out"
fi
log "chromium $version at $bin ($(( $(date +%s) - start ))s)"
echo "$bin"
