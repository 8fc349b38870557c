#!/usr/bin/env bash
# Builds the operator's image from the repository's Dockerfile with buildah, on a machine that
# reaches no container registry, and writes it as an archive that containerd loads under the
# image's name:
#
#   hack/build-image.sh [ARCHIVE]        (make image; ARCHIVE defaults to bin/facesearch-image.tar)
#   ctr -n k8s.io images import bin/facesearch-image.tar
#
# The Dockerfile stays the one recipe (plain `docker build` works as before). Its two FROM
# images are never pulled: when buildah's storage lacks one, a stand-in is committed under the
# name the FROM line uses, from a root file system kept in $FACESEARCH_CACHE/images/:
#   debian:<release>-slim         debootstrap --variant=minbase <release>, trimmed as the
#                                 official slim image is (no docs, man pages, locales, apt lists)
#   golang:<go>-<release>         that root with the official golang image's build tools (gcc,
#                                 g++, libc6-dev, make, pkg-config, git, ca-certificates, curl,
#                                 wget, netbase, procps) and this machine's Go at /usr/local/go,
#                                 which must be the Dockerfile's GO_VERSION
# Versions come from the Dockerfile's ARG lines. Debian packages come from this machine's apt
# mirror (or DEBIAN_MIRROR).
#
# The Dockerfile's RUN --mount=type=cache lines get this machine's caches: $FACESEARCH_CACHE
# at /cache (ONNX Runtime, model packs), `go env GOMODCACHE` at /go/pkg/mod and `go env
# GOCACHE` at /root/.cache/go-build. With --layers, the apt step is reused while the base
# images stay, so a rebuild after a source change takes about 20 s. The RUN steps also
# trust this machine's CA bundle (mounted, never in a layer), for networks whose egress
# inspects TLS.
#
# Environment:
#   FACESEARCH_IMAGE              image name (default localhost/facesearch:<chart appVersion>-<git
#                                 short sha>, with -dirty when the checkout has changes)
#   FACESEARCH_IMAGE_HOST_CACHES  1 (default): the caches above; 0: build as docker would, with
#                                 buildah's own cache mounts (/var/tmp/buildah-cache, empty at
#                                 first: everything is fetched and compiled in the build)
#   FACESEARCH_IMAGE_VERIFY       1 (default): check the image (below); 0: skip
#   DEBIAN_MIRROR                 Debian mirror for debootstrap (default: this machine's apt source)
#
# The check runs the image without Kubernetes: facesearch --help as uid 65532, the face engine's
# tests (a test binary built here, mounted) loading ONNX Runtime and both model packs from the
# image's paths, and a comparison with the runtime base: the image adds exactly the files the
# Dockerfile copies, nothing else (no shell or tools beyond Debian slim's).
#
# Prints the image name on stdout.
#   hack/build-image.sh --bases-only   makes only the two stand-ins (when missing)
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

bases_only=0
if [ "${1:-}" = "--bases-only" ]; then bases_only=1; shift; fi
archive=${1:-bin/facesearch-image.tar}
host_caches=${FACESEARCH_IMAGE_HOST_CACHES:-1}
verify=${FACESEARCH_IMAGE_VERIFY:-1}

# One source of truth for the versions: the Dockerfile's ARG lines.
dockerfile_arg() {
  local v
  v=$(sed -n "s/^ARG $1=\(.*\)$/\1/p" Dockerfile | head -1)
  [ -n "$v" ] || die "the Dockerfile has no 'ARG $1=<value>' line"
  echo "$v"
}
GO_VERSION=$(dockerfile_arg GO_VERSION)
DEBIAN_RELEASE=$(dockerfile_arg DEBIAN_RELEASE)
SLIM_IMAGE="debian:$DEBIAN_RELEASE-slim"
GOLANG_IMAGE="golang:$GO_VERSION-$DEBIAN_RELEASE"
BUILD_CA=/opt/build-host/ca-certificates.crt
# shellcheck disable=SC2016 # the FROM lines' own ${...}, not expanded here
if ! grep -q '^FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} ' Dockerfile || ! grep -q '^FROM debian:${DEBIAN_RELEASE}-slim$' Dockerfile; then
  die "the Dockerfile's FROM lines are no longer golang:\${GO_VERSION}-\${DEBIAN_RELEASE} and debian:\${DEBIAN_RELEASE}-slim: update hack/build-image.sh's stand-ins"
fi

[ "$(id -u)" = 0 ] || die "hack/build-image.sh runs as root (debootstrap, buildah mount and apt-get need it)"
# Tools: buildah runs the RUN steps with runc (Debian's buildah only recommends an OCI runtime).
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v runc >/dev/null || command -v crun >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
fi

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }
run_in() { buildah run --isolation oci --network host "$@"; }

# apt_uri SUFFIX: the first URI of this machine's apt sources whose path ends in SUFFIX
# (/debian, /debian-security), so that no mirror is named here.
apt_uri() {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' || true
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\).*/\2/p' || true
  } | { grep -E "$1/?\$" || true; } | sed -n '1{s:/$::;p;}'
}
mirror=${DEBIAN_MIRROR:-$(apt_uri /debian)}
security=$(apt_uri /debian-security)

# slim_root DIR: debootstrap's minbase, as the official slim image trims it (debuerreotype's
# slimify: dpkg leaves out docs but copyrights, man pages, info and locales), with deb822
# sources and no apt lists, logs or host files.
slim_root() {
  local r=${1:?}
  [ -n "$mirror" ] || die "found no Debian mirror in /etc/apt/sources*: set DEBIAN_MIRROR"
  log "debootstrap --variant=minbase $DEBIAN_RELEASE from $mirror (network-bound, about a minute)"
  debootstrap --variant=minbase --components=main "$DEBIAN_RELEASE" "$r" "$mirror" >"$r.log" 2>&1 ||
    { tail -20 "$r.log" >&2; die "debootstrap $DEBIAN_RELEASE failed (log above)"; }
  rm -f "$r.log"
  cat > "$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# as in Debian's slim images: no documentation but the copyrights, no man pages, no locales
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  cat > "$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'APT::AutoRemove::SuggestsImportant "false";' > "$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$r/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$DEBIAN_RELEASE" "$DEBIAN_RELEASE"
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$security" "$DEBIAN_RELEASE"
  } > "$r/etc/apt/sources.list.d/debian.sources"
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{info,groff,linda,lintian,locale,man}/*
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/debconf/*-old
  find "$r/var/log" -type f -delete
  rm -f "$r/etc/hostname" "$r/etc/resolv.conf" "$r/etc/machine-id"
  rm -rf "${r:?}"/dev/* "$r"/proc/* "$r"/sys/* "$r"/run/* "$r"/tmp/* "$r"/var/tmp/*
}

# What the official golang image has (buildpack-deps' curl and scm sets, with gcc and make)
# that a build may use; version-control tools other than git are left out.
GOLANG_DEBS=(ca-certificates curl wget netbase procps git gcc g++ libc6-dev make pkg-config)

# The cache keys name the recipe: a change to slim_root or the package list makes a new root.
recipe_key() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }
slim_dir="$FACESEARCH_CACHE/images/debian-$DEBIAN_RELEASE-slim-$(recipe_key "$(declare -f slim_root)")"
golang_dir="$FACESEARCH_CACHE/images/golang-deps-$DEBIAN_RELEASE-$(recipe_key "$(basename "$slim_dir")" "${GOLANG_DEBS[*]}")"

# tar_root DIR TARBALL: the root file system as a tarball, numeric owners, written whole or not at all.
tar_root() {
  tar --numeric-owner -C "$1" -czf "$2.tmp" . && mv "$2.tmp" "$2"
}

# from_tarball TARBALL NAME: a working container holding the tarball's root, labelled as the
# stand-in for NAME (echoes the container).
from_tarball() {
  local ctr mnt
  ctr=$(buildah from --quiet scratch)
  mnt=$(buildah mount "$ctr")
  tar --numeric-owner -C "${mnt:?}" -xzf "$1"
  buildah umount "$ctr" >/dev/null
  buildah config --os linux --arch "$(go env GOARCH)" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["bash"]' \
    --label "org.facesearch.stand-in=$2 made by hack/build-image.sh from $(basename "$(dirname "$1")")" "$ctr"
  echo "$ctr"
}

ensure_slim_root() {
  is_done "$slim_dir" && return
  need_disk_gb 2
  local work
  mkdir -p "$slim_dir"
  work=$(mktemp -d "$FACESEARCH_CACHE/images/debootstrap.XXXXXX")
  slim_root "$work/root"
  tar_root "$work/root" "$slim_dir/rootfs.tar.gz"
  rm -rf "$work"
  mark_done "$slim_dir"
  log "$SLIM_IMAGE root built in $slim_dir ($(du -sh "$slim_dir/rootfs.tar.gz" | cut -f1) compressed)"
}

ensure_golang_root() {
  is_done "$golang_dir" && return
  ensure_slim_root
  local ctr mnt
  mkdir -p "$golang_dir"
  ctr=$(from_tarball "$slim_dir/rootfs.tar.gz" "$SLIM_IMAGE")
  log "installing ${GOLANG_DEBS[*]} into the $GOLANG_IMAGE stand-in"
  run_in "$ctr" -- sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${GOLANG_DEBS[*]} >/dev/null && rm -rf /var/lib/apt/lists/*" ||
    { buildah rm "$ctr" >/dev/null; die "apt-get install in the $GOLANG_IMAGE stand-in failed"; }
  mnt=$(buildah mount "$ctr")
  tar_root "${mnt:?}" "$golang_dir/rootfs.tar.gz"
  buildah umount "$ctr" >/dev/null
  buildah rm "$ctr" >/dev/null
  mark_done "$golang_dir"
  log "$GOLANG_IMAGE root (without Go) built in $golang_dir ($(du -sh "$golang_dir/rootfs.tar.gz" | cut -f1) compressed)"
}

ensure_slim_image() {
  if have_image "$SLIM_IMAGE"; then log "$SLIM_IMAGE is in buildah's storage"; return; fi
  ensure_slim_root
  local ctr
  ctr=$(from_tarball "$slim_dir/rootfs.tar.gz" "$SLIM_IMAGE")
  buildah commit --quiet --rm "$ctr" "$SLIM_IMAGE" >/dev/null
  log "committed the stand-in $SLIM_IMAGE"
}

ensure_golang_image() {
  if have_image "$GOLANG_IMAGE"; then log "$GOLANG_IMAGE is in buildah's storage"; return; fi
  local have goroot ctr mnt
  have=$(go env GOVERSION 2>/dev/null || true)
  [ "$have" = "go$GO_VERSION" ] ||
    die "the Dockerfile builds with Go $GO_VERSION (ARG GO_VERSION) but this machine's go is '${have:-missing}': the $GOLANG_IMAGE stand-in copies this machine's Go, so install Go $GO_VERSION (or load the real $GOLANG_IMAGE into buildah's storage)"
  goroot=$(go env GOROOT)
  ensure_golang_root
  ctr=$(from_tarball "$golang_dir/rootfs.tar.gz" "$GOLANG_IMAGE")
  mnt=$(buildah mount "$ctr")
  mkdir -p "${mnt:?}/usr/local/go" "$mnt/go/src" "$mnt/go/bin"
  cp -a "$goroot/." "$mnt/usr/local/go/"
  chown -R 0:0 "$mnt/usr/local/go"
  chmod -R 1777 "$mnt/go"
  buildah umount "$ctr" >/dev/null
  # As the official image: GOPATH /go, Go's bin directories first on PATH, no toolchain download.
  # The build's TLS clients (Go's module fetches, npm) also trust $BUILD_CA, this machine's
  # CA bundle, which hack/build-image.sh mounts into the build (Go falls back to the system's
  # roots without it, node ignores it).
  buildah config --env GOLANG_VERSION="$GO_VERSION" --env GOTOOLCHAIN=local --env GOPATH=/go \
    --env SSL_CERT_FILE="$BUILD_CA" --env NODE_EXTRA_CA_CERTS="$BUILD_CA" \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --workingdir /go "$ctr"
  buildah commit --quiet --rm "$ctr" "$GOLANG_IMAGE" >/dev/null
  log "committed the stand-in $GOLANG_IMAGE (Go from $goroot)"
}

ensure_slim_image
ensure_golang_image
if [ $bases_only = 1 ]; then exit 0; fi

# The image's name: a fixed tag from the chart's appVersion and the commit, never latest.
app=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' charts/facesearch/Chart.yaml)
[ -n "$app" ] || die "no appVersion in charts/facesearch/Chart.yaml"
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
dirty=""
[ -z "$(git status --porcelain 2>/dev/null)" ] || dirty=-dirty
image=${FACESEARCH_IMAGE:-localhost/facesearch:$app-$sha$dirty}

bud=(bud --pull=never --isolation oci --network host --layers --force-rm -f Dockerfile -t "$image")
# The build trusts what this machine trusts (a TLS-inspecting egress proxy's CA, say): the
# golang stand-in's SSL_CERT_FILE and NODE_EXTRA_CA_CERTS name this mount, which no layer keeps.
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ ! -f "$host_ca" ] || bud+=(-v "$host_ca:$BUILD_CA:ro")
budtmp=$(mktemp -d /var/tmp/facesearch-bud.XXXXXX)
if [ "$host_caches" = 1 ]; then
  # buildah (1.28) keeps a RUN step's --mount=type=cache,target=T in $TMPDIR/buildah-cache/T.
  # A --volume on the same target does not reliably win over it, so the host's caches are put
  # there instead: the Dockerfile's cache mounts are then this machine's caches.
  gomodcache=$(go env GOMODCACHE); gocache=$(go env GOCACHE)
  mkdir -p "$FACESEARCH_CACHE" "$gomodcache" "$gocache" "$budtmp/buildah-cache/go/pkg" "$budtmp/buildah-cache/root/.cache"
  ln -s "$FACESEARCH_CACHE" "$budtmp/buildah-cache/cache"
  ln -s "$gomodcache" "$budtmp/buildah-cache/go/pkg/mod"
  ln -s "$gocache" "$budtmp/buildah-cache/root/.cache/go-build"
  export TMPDIR=$budtmp
fi
log "building $image from the Dockerfile (buildah bud, host caches: $host_caches)"
start=$(date +%s)
buildah "${bud[@]}" . 2>&1 | tee "$budtmp/bud.log" >&2 || { rm -rf "$budtmp"; die "buildah bud failed"; }
unset TMPDIR
log "built $image in $(( $(date +%s) - start )) s"

# --layers keeps every step's image as a cache; those of this checkout's previous build that
# this one did not reuse are removed (untagged ones only), so that rebuilds do not pile up.
state="$FACESEARCH_CACHE/images/builds/$(printf '%s' "$root" | sha256sum | cut -c1-12).ids"
mkdir -p "$(dirname "$state")"
sed -n -E 's/^--> (Using cache )?([0-9a-f]{11,64})$/\2/p' "$budtmp/bud.log" | cut -c1-11 > "$budtmp/ids"
if [ -f "$state" ]; then
  untagged=$(buildah images -a --noheading --format '{{.ID}} {{.Name}}' | awk '$2 == "<none>" {print substr($1, 1, 11)}')
  tac "$state" | while read -r id; do
    grep -qx "$id" "$budtmp/ids" || ! grep -qx "$id" <<<"$untagged" || buildah rmi "$id" >/dev/null 2>&1 || true
  done
fi
mv "$budtmp/ids" "$state"
rm -rf "$budtmp"

if [ "$verify" = 1 ]; then
  log "checking $image"
  work=$(mktemp -d)
  ctrs=()
  cleanup() { for c in "${ctrs[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done; rm -rf "$work"; }
  trap cleanup EXIT
  [ "$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")" = 65532:65532 ] || die "$image does not run as 65532:65532"
  if buildah inspect --type image --format '{{.OCIv1.Config.Env}}' "$image" | grep -q "$BUILD_CA"; then die "$image kept the build's CA settings"; fi
  ctr=$(buildah from --quiet --pull=never "$image"); ctrs+=("$ctr")
  # The image adds exactly the Dockerfile's COPY destinations to the runtime base.
  base=$(buildah from --quiet --pull=never "$SLIM_IMAGE"); ctrs+=("$base")
  (cd "$(buildah mount "$ctr")" && find . ! -type d | sort) > "$work/image.files"
  (cd "$(buildah mount "$base")" && find . ! -type d | sort) > "$work/base.files"
  comm -13 "$work/base.files" "$work/image.files" > "$work/added"
  want='^\./(etc/ssl/certs/ca-certificates\.crt|usr/local/bin/facesearch|opt/facesearch/lib/libonnxruntime\.so|opt/facesearch/models/(faceplugin-1\.0|dlib-blazeface-1\.0)/[^/]+)$'
  if grep -Ev "$want" "$work/added" >&2; then die "$image has files (above) that the Dockerfile does not copy"; fi
  for f in ./usr/local/bin/facesearch ./opt/facesearch/lib/libonnxruntime.so ./opt/facesearch/models/faceplugin-1.0/manifest.json \
      ./opt/facesearch/models/dlib-blazeface-1.0/manifest.json ./etc/ssl/certs/ca-certificates.crt; do
    grep -qxF "$f" "$work/image.files" || die "$image lacks ${f#.}"
  done
  if comm -23 "$work/base.files" "$work/image.files" | grep . >&2; then die "$image lacks files (above) of $SLIM_IMAGE"; fi
  buildah umount "$ctr" "$base" >/dev/null
  # facesearch runs as the image's user, 65532.
  uid=$(run_in "$ctr" -- /usr/bin/id -u)
  [ "$uid" = 65532 ] || die "$image runs as uid $uid, not 65532"
  run_in "$ctr" -- /usr/local/bin/facesearch --help 2>&1 | grep -q '^usage: facesearch' || die "facesearch --help fails in $image"
  # ONNX Runtime and both model packs, from the image's paths (its ENV), by the face engine's
  # own tests, as uid 65532 in the image's file system.
  set -a
  # shellcheck disable=SC1091 # written by hack/setup.sh
  source bin/assets.env
  set +a
  log "building the face engine's test binary"
  go test -c -o "$work/face.test" ./internal/face >&2
  run_in -v "$work/face.test:/opt/check/face.test:ro" -v "$FACESEARCH_TESTFACES:/opt/check/testfaces:ro" \
    --env FACESEARCH_TESTFACES=/opt/check/testfaces --env FACESEARCH_DLIB_BLAZEFACE_PACK=/opt/facesearch/models/dlib-blazeface-1.0 \
    --env HOME=/tmp --workingdir /tmp "$ctr" -- /opt/check/face.test -test.count=1 -test.v \
    -test.run '^(TestSamePersonScoresAboveThreshold|TestEmbeddingShape)$' > "$work/face.log" 2>&1 ||
    { cat "$work/face.log" >&2; die "the face engine's tests fail in $image (ONNX Runtime or a model pack)"; }
  grep -E '^(    )?--- (PASS|FAIL)' "$work/face.log" >&2 || true
  log "checked: uid 65532, facesearch --help, ONNX Runtime and both model packs load and match faces, only the COPY'd files added to $SLIM_IMAGE"
fi

mkdir -p "$(dirname "$archive")"
rm -f "$archive" "$archive.tmp"
buildah push --quiet "$image" "docker-archive:$archive.tmp:$image" >/dev/null
mv "$archive.tmp" "$archive"
size=$(buildah images --noheading --format '{{.Size}}' "$image" | head -1)
log "image $image: $size uncompressed; archive $archive: $(du -h "$archive" | cut -f1) (ctr -n k8s.io images import $archive)"
echo "$image"
