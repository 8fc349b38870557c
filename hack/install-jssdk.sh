#!/usr/bin/env bash
# Installs the AWS SDK for JavaScript v3's Rekognition client with the machine's npm into
# $FACESEARCH_CACHE/jssdk/<version>-<lockfile hash>, for the second-language client test
# (cmd/facesearch/jssdk_test.go). test/jssdk/package.json pins the version and
# test/jssdk/package-lock.json every package under it by version and integrity (written with
# --omit-lockfile-registry-resolved, so it names no registry: npm ci asks the configured one).
# Prints the directory that holds node_modules. To move the pin: change the version in
# test/jssdk/package.json, then, there, npm install --package-lock-only --ignore-scripts
# --omit-lockfile-registry-resolved, and commit both files.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/test/jssdk"

command -v npm >/dev/null && command -v node >/dev/null ||
  die "node and npm are missing (Debian: apt-get install nodejs npm; the SDK needs Node.js 20 or later)"
version=$(node -p 'require(process.argv[1]).dependencies["@aws-sdk/client-rekognition"]' "$src/package.json")
lock=$(sha256sum "$src/package-lock.json" | cut -c1-12)
out="$FACESEARCH_CACHE/jssdk/$version-$lock"
if is_done "$out"; then echo "$out"; exit 0; fi

log "installing @aws-sdk/client-rekognition $version with npm ci"
rm -rf "$out"
mkdir -p "$out"
cp "$src/package.json" "$src/package-lock.json" "$out/"
# No install scripts: the SDK is plain JavaScript, and nothing may fetch more than npm does.
(cd "$out" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
got=$(node -p 'require(process.argv[1]).version' "$out/node_modules/@aws-sdk/client-rekognition/package.json")
[ "$got" = "$version" ] || die "npm ci installed @aws-sdk/client-rekognition $got, but test/jssdk/package.json pins $version"
mark_done "$out"
log "@aws-sdk/client-rekognition $version installed in $out"
echo "$out"
