#!/usr/bin/env bash
# make e2e: builds everything the end-to-end suite needs, brings up a single-node cluster
# (hack/cluster.sh), loads the images into it, runs test/e2e and tears the node down, whatever
# happened, then checks that the machine is as it was (processes, iptables rules, mounts).
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || die "make e2e runs a kubelet and containerd: it must run as root"
start=$(date +%s)
set -a; source bin/assets.env; set +a

node=$(bash hack/install-node.sh)
artifacts="${FACESEARCH_E2E_ARTIFACTS:-$root/bin/e2e}"
rm -rf "$artifacts"; mkdir -p "$artifacts"

# The operator's image, from the Dockerfile.
image=$(bash hack/build-image.sh "$root/bin/facesearch-image.tar")
log "operator image: $image"

# The suite's tools image: the tests' MinIO build and the SDK client, static, on no base.
tools_tag="e2e-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
tools_image="localhost/facesearch-e2e-tools:$tools_tag"
troot=$(mktemp -d)
trap 'rm -rf "$troot"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$troot/client" ./test/e2e/client
cp "$FACESEARCH_MINIO" "$troot/minio"
image_archive "$troot" "$tools_image" '["/client"]' 65532 "$root/bin/e2e-tools.tar"
log "tools image: $tools_image"

# The machine's state before the node, to compare with after its teardown.
snapshot() {
  { echo "node processes: $(ps -e -o comm= | grep -cE '^(etcd|kube-|kubelet|containerd|coredns|runc|pause|minio|facesearch|client$)' || true)"
    echo "iptables-save lines: $(iptables-save 2>/dev/null | grep -cv '^#')"
    echo "nft ruleset lines: $(nft list ruleset 2>/dev/null | wc -l)"
    echo "mounts: $(wc -l < /proc/self/mounts)"
    echo "links: $(ip -o link | wc -l)"
    echo "netns: $(ip netns list 2>/dev/null | wc -l)"
  } > "$1"
}
snapshot "$artifacts/before.txt"

rc=0
cleanup() {
  bash hack/cluster.sh down --keep-logs "$artifacts/node-logs" || rc=1
  snapshot "$artifacts/after.txt"
  log "machine before and after the node (processes, rules, mounts; all processes: $(ps -e --no-headers | wc -l) now):"
  paste "$artifacts/before.txt" "$artifacts/after.txt" >&2 || true
  # Only more after than before is something left behind: a process of the machine's own that
  # matched the pattern (another test's facesearch) may end meanwhile.
  if ! paste -d' ' "$artifacts/before.txt" "$artifacts/after.txt" | awk '{ if ($NF > $(NF/2)) bad=1 } END { exit bad }'; then
    log "teardown left something behind:"; diff "$artifacts/before.txt" "$artifacts/after.txt" >&2 || true
    rc=1
  fi
  rm -rf "$troot"
  log "make e2e: $([ $rc = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s (logs in $artifacts)"
  exit $rc
}
trap cleanup EXIT INT TERM

kubeconfig=$(bash hack/cluster.sh up | tail -n1)
bash hack/cluster.sh load "$root/bin/facesearch-image.tar" "$root/bin/e2e-tools.tar"
# The same image under a second tag: the suite's helm upgrade moves to it as to a new release,
# which rolls the manager and every index pod.
upgrade_image=$(bash hack/cluster.sh tag "$image" "${image}-upgrade")

FACESEARCH_E2E_KUBECONFIG="$kubeconfig" FACESEARCH_E2E_IMAGE="$image" FACESEARCH_E2E_TOOLS_IMAGE="$tools_image" \
FACESEARCH_E2E_UPGRADE_IMAGE="$upgrade_image" \
FACESEARCH_E2E_ARTIFACTS="$artifacts" \
  go test -count=1 -v -timeout "${E2E_TIMEOUT:-40m}" ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e/ 2>&1 | tee "$artifacts/test.log" || rc=1
