#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, run as background processes (no systemd,
# no container images from a registry): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd (+ runc, CNI bridge), kubelet, kube-proxy (iptables mode) and
# CoreDNS as a host process serving cluster DNS.
#
#   hack/cluster.sh up                 start the node; waits for the API server, the Node Ready
#                                      and cluster DNS; prints the KUBECONFIG path
#   hack/cluster.sh down [--keep-logs DIR]
#                                      stop everything and remove all it added to the machine
#                                      (processes, mounts, cgroups, iptables/nftables, links,
#                                      network namespaces, sysctls, directories); idempotent
#   hack/cluster.sh status             processes, node and pods
#   hack/cluster.sh env                `export KUBECONFIG=...` lines (eval "$(hack/cluster.sh env)")
#   hack/cluster.sh load ARCHIVE...    import docker-archive / OCI tarballs into the node's
#                                      containerd (namespace k8s.io); prints the image names
#   hack/cluster.sh tag SOURCE TARGET  another name for a loaded image
#
# Needs root and the binaries of hack/install-node.sh and hack/install-envtest.sh (found in
# $FACESEARCH_CACHE, or given as FACESEARCH_NODE_DIR and KUBEBUILDER_ASSETS).
# Environment:
#   FACESEARCH_CLUSTER_DIR  state directory (default /var/lib/facesearch-cluster): pki/,
#                           config/, kubeconfig/, logs/, run/ (pid files, containerd socket),
#                           etcd/, containerd/, kubelet/, pod-logs/, cni/, host/ (what `up`
#                           found on the machine, so that `down` can put it back)
#   FACESEARCH_CLUSTER_IP   the address the API server advertises and CoreDNS serves on
#                           (default: the address of the default route's interface)
# KUBECONFIG: $FACESEARCH_CLUSTER_DIR/kubeconfig/admin.kubeconfig (system:masters; it names
# https://<node address>:6443, so it also works from inside a pod).
# Network: pods 10.244.0.0/24 on bridge fscni0 (CNI bridge + host-local + portmap; containerd
# adds loopback), Services 10.96.0.0/12 (the `kubernetes` Service is 10.96.0.1), cluster domain
# cluster.local. CoreDNS listens on <node address>:53 and is the kubelet's clusterDNS (there is
# no kube-dns Service). Ports: API server 6443 (all addresses); etcd 12379/12380, controller
# manager 10257, scheduler 10259, kubelet healthz 10248, kube-proxy 10249/10256, CoreDNS ready
# 10253 (all on 127.0.0.1); kubelet 10250.
# One node per machine: a lock serializes up/down/load, and `up` refuses while a node of
# another state directory is up.
source "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------------------------------
# Fixed layout and ports.
MARKER=/run/facesearch-cluster.dir       # names the state directory of the node that is up
LOCKFILE=/run/facesearch-cluster.lock
ETCD_PORT=12379                          # not etcd's defaults, so envtest's etcd never clashes
ETCD_PEER_PORT=12380
API_PORT=6443
KCM_PORT=10257
SCHED_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
DNS_READY_PORT=10253                     # CoreDNS `ready` plugin, on 127.0.0.1
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/12
SERVICE_API_IP=10.96.0.1                 # the `kubernetes` Service: first address of the range
CLUSTER_DOMAIN=cluster.local
BRIDGE=fscni0
CNI_NETWORK=facesearch-cluster          # names the CNI chains' comments and result files
SANDBOX_IMAGE="localhost/pause:$KUBERNETES_VERSION"
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy coredns)
# The API clients: `down` stops them all before the API server.
CLIENTS=(kube-controller-manager kube-scheduler coredns kube-proxy kubelet)
# Sysctls the kubelet, kube-proxy, the CNI plugins or this script may change: recorded at `up`,
# put back at `down`. ip_forward first: writing it also resets every interface's forwarding.
SYSCTL_KEYS_RE='^(net\.ipv4\.ip_forward|vm\.overcommit_memory|vm\.panic_on_oom|kernel\.panic|kernel\.panic_on_oops|kernel\.keys\.root_max(keys|bytes)|net\.bridge\..*|net\.ipv4\.conf\.(all|default|lo|eth[0-9]+)\.(forwarding|accept_redirects|route_localnet|rp_filter|proxy_arp|send_redirects)|net\.ipv6\.conf\.(all|default)\.forwarding|net\.netfilter\.nf_conntrack_(max|tcp_timeout_established|tcp_timeout_close_wait|tcp_be_liberal|udp_timeout|udp_timeout_stream)|net\.ipv4\.ip_unprivileged_port_start|net\.ipv4\.ping_group_range|fs\.inotify\.max_user_(instances|watches))$'
# Host paths the node's components create outside the state directory when missing (the
# kubelet's device-plugins directory and container log links are fixed paths; containerd 1.6
# keeps shim sockets under /run/containerd; the CNI plugins cache results under /var/lib/cni;
# network namespaces live in /run/netns). `down` removes those that `up` did not find.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/lib/cni/results /var/lib/cni /run/netns)

usage() { sed -n '2,/^source /p' "$0" | sed -e '/^source /d' -e 's/^# \{0,1\}//' >&2; exit 2; }

# ---------------------------------------------------------------------------------------
# Locating things.
state_dir() {
  if [ -n "${FACESEARCH_CLUSTER_DIR:-}" ]; then echo "${FACESEARCH_CLUSTER_DIR%/}"
  elif [ -s "$MARKER" ]; then cat "$MARKER"
  else echo /var/lib/facesearch-cluster; fi
}
STATE=$(state_dir)
case "$STATE" in /*) ;; *) die "FACESEARCH_CLUSTER_DIR must be an absolute path (got $STATE)";; esac
[ "$STATE" != / ] || die "FACESEARCH_CLUSTER_DIR must not be /"
PKI=$STATE/pki CFG=$STATE/config KCFG=$STATE/kubeconfig LOGS=$STATE/logs RUN=$STATE/run HOSTREC=$STATE/host
SOCK=$RUN/containerd.sock
ADMIN_KUBECONFIG=$KCFG/admin.kubeconfig

# node_dir / envtest_dir: the install scripts' cache directories, without building anything.
node_dir() {
  if [ -n "${FACESEARCH_NODE_DIR:-}" ]; then echo "$FACESEARCH_NODE_DIR"; return; fi
  local d best=""
  for d in "$FACESEARCH_CACHE/node/$KUBERNETES_VERSION-"*/; do
    d=${d%/}
    is_done "$d" || continue
    if [ -z "$best" ] || [ "$(done_marker "$d")" -nt "$(done_marker "$best")" ]; then best=$d; fi
  done
  echo "$best"
}
envtest_dir() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then echo "$KUBEBUILDER_ASSETS"; return; fi
  local d="$FACESEARCH_CACHE/envtest/${KUBERNETES_VERSION}-etcd${ETCD_VERSION}"
  is_done "$d" && echo "$d" || echo ""
}
NODE=$(node_dir)
ENVTEST=$(envtest_dir)
KUBECTL=${ENVTEST:+$ENVTEST/kubectl}

bin_of() {
  case "$1" in
    etcd|kube-apiserver|kubectl) echo "$ENVTEST/$1" ;;
    *) echo "$NODE/$1" ;;
  esac
}

need_binaries() {
  local b missing=()
  [ -n "$NODE" ] || die "node components not found in $FACESEARCH_CACHE/node: run hack/install-node.sh (or set FACESEARCH_NODE_DIR)"
  [ -n "$ENVTEST" ] || die "kube-apiserver, etcd and kubectl not found: run hack/install-envtest.sh (or set KUBEBUILDER_ASSETS)"
  for b in kubelet kube-scheduler kube-controller-manager kube-proxy coredns containerd containerd-shim-runc-v2 ctr runc cni/bridge cni/host-local cni/portmap cni/loopback pause.tar; do
    [ -e "$NODE/$b" ] || missing+=("$NODE/$b")
  done
  for b in etcd kube-apiserver kubectl; do [ -x "$ENVTEST/$b" ] || missing+=("$ENVTEST/$b"); done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run hack/install-node.sh and hack/install-envtest.sh"
  for b in openssl iptables iptables-save iptables-restore nft ip flock setsid mount umount; do
    command -v "$b" >/dev/null || die "$b is missing: run hack/install-node.sh (it apt-installs the node's tools)"
  done
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (the node changes iptables, mounts, cgroups and sysctls)"; }

# lock: one up/down/load at a time on the machine. The lock file is removed by `down`, so a
# waiter checks that the file it locked is still the one at the path.
lock() {
  local i
  for i in $(seq 1 100); do
    exec 9>>"$LOCKFILE"
    flock -w 900 9 || die "another hack/cluster.sh holds $LOCKFILE"
    if [ -e "$LOCKFILE" ] && [ "$(stat -c %d:%i "$LOCKFILE")" = "$(stat -L -c %d:%i /proc/self/fd/9)" ]; then return 0; fi
    exec 9>&-
  done
  die "could not take $LOCKFILE"
}
unlock_and_remove() { rm -f "$LOCKFILE"; exec 9>&-; }

host_ip() {
  if [ -n "${FACESEARCH_CLUSTER_IP:-}" ]; then echo "$FACESEARCH_CLUSTER_IP"; return; fi
  local dev
  dev=$(ip -4 route show default | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')
  [ -n "$dev" ] || die "no default route: set FACESEARCH_CLUSTER_IP to an address pods can reach"
  ip -4 -o addr show dev "$dev" scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}'
}
node_name() { hostname | tr '[:upper:]' '[:lower:]'; }

# ---------------------------------------------------------------------------------------
# Processes: each component's pid file holds its pid and its binary.
pid_of() { # NAME -> pid if that process is alive and still runs the recorded binary
  local f=$RUN/$1.pid pid exe
  [ -f "$f" ] || return 1
  { read -r pid; read -r exe; } < "$f" || true
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || return 1
  echo "$pid"
}
alive() { pid_of "$1" >/dev/null; }

start() { # NAME BINARY ARGS... (started in its own session, logs in $LOGS/NAME.log)
  local name=$1 bin=$2; shift 2
  log "starting $name"
  # The node's directory first in PATH: containerd finds its shim there.
  # fd 9 is the lock: the node's processes must not keep it.
  PATH="$NODE:$PATH" setsid "$bin" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  printf '%s\n%s\n' "$!" "$(readlink -f "$bin")" > "$RUN/$name.pid"
}

# pid_running PID: the process exists and is not a zombie waiting for init to reap it.
pid_running() {
  local st
  st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
STOPPED=()
stop_pid() { # PID TIMEOUT-SECONDS: TERM, then KILL
  local pid=$1 t=$(( $2 * 10 )) i
  STOPPED+=("$pid")
  kill -TERM "$pid" 2>/dev/null || return 0
  for (( i = 0; i < t; i++ )); do pid_running "$pid" || return 0; sleep 0.1; done
  log "  pid $pid did not exit in $2 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for (( i = 0; i < 50; i++ )); do pid_running "$pid" || return 0; sleep 0.1; done
}
stop() { # NAME [TIMEOUT]
  local pid
  if pid=$(pid_of "$1"); then log "stopping $1 (pid $pid)"; stop_pid "$pid" "${2:-20}"; fi
  rm -f "$RUN/$1.pid"
}
stop_all() { # NAME... : stopped together (each gets 20 s)
  local c pid pids=()
  for c in "$@"; do
    if pid=$(pid_of "$c"); then log "stopping $c (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  for pid in "${pids[@]}"; do stop_pid "$pid" 20; done
  for c in "$@"; do rm -f "$RUN/$c.pid"; done
}

# ---------------------------------------------------------------------------------------
# Certificates, kubeconfigs and configuration files.
gen_ca() { # NAME CN
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$1.key" 2>/dev/null
  openssl req -x509 -new -sha256 -days 3650 -key "$PKI/$1.key" -subj "/CN=$2" -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
gen_cert() { # NAME CA SUBJECT EXTKEYUSAGE [SANS]
  local name=$1 ca=$2 subj=$3 eku=$4 sans=${5:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -sha256 -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } > "$PKI/$name.ext"
  openssl x509 -req -sha256 -days 3650 -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
gen_kubeconfig() { # NAME SERVER CERT-NAME USER
  cat > "$KCFG/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: facesearch
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $4
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$3.crt")
    client-key-data: $(base64 -w0 < "$PKI/$3.key")
contexts:
- name: facesearch
  context:
    cluster: facesearch
    user: $4
current-context: facesearch
EOF
  chmod 600 "$KCFG/$1.kubeconfig"
}

write_pki() {
  local ip=$1 node=$2 local_api="https://127.0.0.1:$API_PORT"
  log "generating certificates and kubeconfigs"
  mkdir -p "$PKI" "$KCFG"
  chmod 700 "$PKI"
  gen_ca ca facesearch-ca
  gen_ca front-proxy-ca facesearch-front-proxy-ca
  gen_cert apiserver ca "/CN=kube-apiserver" serverAuth \
    "IP:$SERVICE_API_IP,IP:$ip,IP:127.0.0.1,DNS:localhost,DNS:$node,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  gen_cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  gen_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
  gen_cert kubelet-server ca "/CN=$node" serverAuth "IP:$ip,IP:127.0.0.1,DNS:$node,DNS:localhost"
  gen_cert admin ca "/O=system:masters/CN=facesearch-admin" clientAuth
  gen_cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
  gen_cert scheduler ca "/CN=system:kube-scheduler" clientAuth
  gen_cert kubelet ca "/O=system:nodes/CN=system:node:$node" clientAuth
  gen_cert kube-proxy ca "/CN=system:kube-proxy" clientAuth
  gen_cert coredns ca "/CN=system:coredns" clientAuth
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  # The admin kubeconfig names the advertised address, so that it also works from a pod.
  gen_kubeconfig admin "https://$ip:$API_PORT" admin facesearch-admin
  gen_kubeconfig controller-manager "$local_api" controller-manager system:kube-controller-manager
  gen_kubeconfig scheduler "$local_api" scheduler system:kube-scheduler
  gen_kubeconfig kubelet "$local_api" kubelet "system:node:$node"
  gen_kubeconfig kube-proxy "$local_api" kube-proxy system:kube-proxy
  gen_kubeconfig coredns "$local_api" coredns system:coredns
}

write_configs() {
  local ip=$1 node=$2
  mkdir -p "$CFG/cni" "$STATE/cni/networks" "$STATE/containerd/root" "$STATE/containerd/state" \
    "$STATE/containerd/runc" "$STATE/containerd/opt" "$STATE/kubelet" "$STATE/pod-logs" "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  cat > "$CFG/cni/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/networks"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # containerd sets up each pod's loopback itself with cni/loopback from bin_dir.
  cat > "$CFG/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # runc would lower oom_score_adj, which needs CAP_SYS_RESOURCE: without this every pod
  # fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$NODE/runc"
        Root = "$STATE/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$NODE/cni"
    conf_dir = "$CFG/cni"
    max_conf_num = 1
EOF
  cat > "$CFG/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$ip]
volumePluginDir: $STATE/kubelet/volume-plugins
podLogsDir: $STATE/pod-logs
# 100 (and no maximum age) turns image garbage collection off: images here come from
# \`load\`, there is no registry to pull them again.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Disk thresholds off ("0%"), memory low: free disk on these machines can be small.
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
maxOpenFiles: 20000
failSwapOn: false
protectKernelDefaults: false
serializeImagePulls: false
EOF
  cat > "$CFG/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $KCFG/kube-proxy.kubeconfig
hostnameOverride: $node
clusterCIDR: $POD_CIDR
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
oomScoreAdj: 0
# NodePorts on the node's own address (not on loopback: no route_localnet change).
nodePortAddresses: [primary]
iptables:
  localhostNodePorts: false
# Zero: leave the conntrack sysctls as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
EOF
  cat > "$CFG/Corefile" <<EOF
.:53 {
    bind $ip
    errors
    ready 127.0.0.1:$DNS_READY_PORT
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KCFG/coredns.kubeconfig facesearch
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}
EOF
  cat > "$CFG/coredns-rbac.yaml" <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:coredns
EOF
}

# ---------------------------------------------------------------------------------------
# What `up` finds on the machine, for `down` to put back.
record_host() {
  mkdir -p "$HOSTREC"
  [ -f "$HOSTREC/sysctl" ] && return 0 # a record from an earlier, half-finished `up` wins
  sysctl -a 2>/dev/null | awk -F ' = ' -v re="$SYSCTL_KEYS_RE" '$1 ~ re' > "$HOSTREC/sysctl.tmp"
  if [ -r /sys/module/nf_conntrack/parameters/hashsize ]; then
    cat /sys/module/nf_conntrack/parameters/hashsize > "$HOSTREC/conntrack-hashsize"
  fi
  local p
  : > "$HOSTREC/paths.tmp"
  for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] || echo "$p" >> "$HOSTREC/paths.tmp"; done
  nft list tables 2>/dev/null > "$HOSTREC/nft-tables.tmp" || true
  mv "$HOSTREC/paths.tmp" "$HOSTREC/paths"
  mv "$HOSTREC/nft-tables.tmp" "$HOSTREC/nft-tables"
  mv "$HOSTREC/sysctl.tmp" "$HOSTREC/sysctl"
}

set_sysctl() { # KEY VALUE (records nothing: record_host did)
  sysctl -qw "$1=$2" >/dev/null 2>&1 || log "warning: could not set $1=$2"
}

# ---------------------------------------------------------------------------------------
# up
kctl() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }

UP_DONE=0
UP_STEP=""
UP_LOGS=()
up_exit() {
  local rc=$1
  [ $UP_DONE = 1 ] && return 0
  trap - EXIT INT TERM
  printf '[hack %s] ERROR: cluster up failed%s (exit %s)\n' "$(date +%H:%M:%S)" "${UP_STEP:+ while $UP_STEP}" "$rc" >&2
  local c
  [ "$rc" = 130 ] && UP_LOGS=() # interrupted: no log tails
  for c in "${UP_LOGS[@]}" $([ "$rc" = 130 ] || echo "${COMPONENTS[@]}"); do
    [ -s "$LOGS/$c.log" ] || continue
    case " ${printed:-} " in *" $c "*) continue;; esac
    printed="${printed:-} $c"
    printf '\n----- last lines of %s.log -----\n' "$c" >&2
    tail -n 25 "$LOGS/$c.log" >&2
  done
  if [ -d "$LOGS" ]; then
    local keep
    keep=$(mktemp -d /tmp/facesearch-cluster-failed.XXXXXX)
    cp -a "$LOGS/." "$keep/"
    log "logs of the failed start kept in $keep"
  fi
  log "tearing the half-started node down"
  do_down || true
  unlock_and_remove
  exit 1
}

wait_for() { # DESC TIMEOUT COMPONENT CMD... : polls CMD; fails early if COMPONENT died
  local desc=$1 timeout=$2 comp=$3; shift 3
  local t0=$SECONDS
  UP_STEP="waiting for $desc"
  UP_LOGS=("$comp")
  until "$@" >/dev/null 2>&1; do
    if [ -n "$comp" ] && ! alive "$comp"; then die "$comp exited (see $LOGS/$comp.log)"; fi
    (( SECONDS - t0 < timeout )) || die "timed out after ${timeout}s waiting for $desc"
    sleep 0.25
  done
}

port_in_use() { # PROTO PORT [ADDR]
  ss -Hln"$1" "sport = :$2" 2>/dev/null | grep -q .
}

# dns_query SERVER NAME: the first A record of NAME from SERVER (dig when there is one,
# otherwise a one-packet query over bash's /dev/udp).
dns_query() {
  local server=$1 name=$2
  if command -v dig >/dev/null; then dig +short +time=1 +tries=1 "@$server" "$name" A | head -n1; return; fi
  local q='\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' label hex
  IFS=. read -ra labels <<< "$name"
  for label in "${labels[@]}"; do q+=$(printf '\\x%02x' "${#label}")$label; done
  q+='\x00\x00\x01\x00\x01'
  # dd sends the query in one write (printf would split it at the newline byte of a length).
  # shellcheck disable=SC2059
  hex=$( { exec 3<>"/dev/udp/$server/53"
           printf "$q" | dd bs=512 count=1 iflag=fullblock 2>/dev/null >&3
           timeout 2 dd bs=1500 count=1 <&3 2>/dev/null; exec 3<&-; } | od -An -tx1 -v | tr -s ' \n' ' ')
  read -ra b <<< "$hex"
  # Response, no error (low 4 bits of byte 3 are the rcode), at least one answer.
  [ ${#b[@]} -gt 16 ] && [ "${b[0]}${b[1]}" = 1234 ] && (( (0x${b[3]} & 15) == 0 )) && (( 0x${b[6]}${b[7]} > 0 )) || return 1
  local n=${#b[@]}
  # The last answer is the last record (no authority or additional section was asked for).
  [ "${b[n-6]}${b[n-5]}" = 0004 ] || return 1
  printf '%d.%d.%d.%d\n' "0x${b[n-4]}" "0x${b[n-3]}" "0x${b[n-2]}" "0x${b[n-1]}"
}
dns_ready() { [ "$(dns_query "$1" "kubernetes.default.svc.$CLUSTER_DOMAIN")" = "$SERVICE_API_IP" ]; }

fully_up() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  kctl get --raw /readyz >/dev/null 2>&1
}

cmd_up() {
  need_root
  need_binaries
  lock
  local t0=$SECONDS ip node
  if [ -s "$MARKER" ] && [ "$(cat "$MARKER")" != "$STATE" ] && [ -d "$(cat "$MARKER")" ]; then
    die "a node with state in $(cat "$MARKER") is up: run FACESEARCH_CLUSTER_DIR=$(cat "$MARKER") hack/cluster.sh down first"
  fi
  if [ -d "$STATE" ] && fully_up; then
    log "cluster already up"
    echo "$ADMIN_KUBECONFIG"
    return 0
  fi
  if [ -d "$STATE" ] || [ -e "$MARKER" ]; then
    log "a previous node in $STATE is not fully up: taking it down first"
    do_down
  fi
  ip=$(host_ip); [ -n "$ip" ] || die "could not find the host's address: set FACESEARCH_CLUSTER_IP"
  node=$(node_name)
  local p
  for p in $ETCD_PORT $ETCD_PEER_PORT $API_PORT $KCM_PORT $SCHED_PORT $KUBELET_PORT $KUBELET_HEALTHZ_PORT \
           $PROXY_HEALTHZ_PORT $PROXY_METRICS_PORT $DNS_READY_PORT; do
    port_in_use t "$p" && die "TCP port $p is in use (another cluster or envtest run?): ss -ltnp 'sport = :$p'"
  done
  ss -Hlnu "sport = :53" | grep -qE "[[:space:]]($ip|0\.0\.0\.0|\*|\[::\]):53[[:space:]]" && die "UDP port 53 on $ip is in use"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "network interface $BRIDGE exists already (a node left over? run hack/cluster.sh down)"

  log "starting a single-node cluster: state in $STATE, API server https://$ip:$API_PORT, node $node"
  mkdir -p "$STATE" "$LOGS" "$RUN"
  chmod 755 "$STATE"
  echo "$STATE" > "$MARKER"
  trap 'up_exit $?' EXIT
  trap 'exit 130' INT TERM
  UP_STEP="recording the host's state"
  record_host
  UP_STEP="writing certificates and configuration"
  write_pki "$ip" "$node"
  write_configs "$ip" "$node"
  # Service traffic between pods on the bridge must pass iptables (kube-proxy's DNAT).
  set_sysctl net.bridge.bridge-nf-call-iptables 1
  set_sysctl net.ipv4.ip_forward 1

  start etcd "$(bin_of etcd)" --name facesearch --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "facesearch=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for "etcd" 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$(bin_of kube-apiserver)" \
    --advertise-address "$ip" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-extra-headers-prefix X-Remote-Extra- --requestheader-group-headers X-Remote-Group \
    --requestheader-username-headers X-Remote-User \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --profiling=false
  wait_for "the API server" 90 kube-apiserver kctl get --raw /readyz
  log "API server ready"

  start containerd "$(bin_of containerd)" --config "$CFG/containerd.toml"
  wait_for "containerd" 30 containerd "$NODE/ctr" --address "$SOCK" version
  UP_STEP="importing the pause image"
  "$NODE/ctr" --address "$SOCK" -n k8s.io images import "$NODE/pause.tar" >/dev/null
  log "pause image imported ($SANDBOX_IMAGE)"

  local cm_auth=(--authentication-kubeconfig "$KCFG/controller-manager.kubeconfig" --authorization-kubeconfig "$KCFG/controller-manager.kubeconfig")
  start kube-controller-manager "$(bin_of kube-controller-manager)" \
    --kubeconfig "$KCFG/controller-manager.kubeconfig" "${cm_auth[@]}" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-name facesearch --controllers '*' --profiling=false
  start kube-scheduler "$(bin_of kube-scheduler)" \
    --kubeconfig "$KCFG/scheduler.kubeconfig" \
    --authentication-kubeconfig "$KCFG/scheduler.kubeconfig" --authorization-kubeconfig "$KCFG/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false

  start kubelet "$(bin_of kubelet)" --config "$CFG/kubelet.yaml" \
    --kubeconfig "$KCFG/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$node" --node-ip "$ip"
  start kube-proxy "$(bin_of kube-proxy)" --config "$CFG/kube-proxy.yaml"

  UP_STEP="granting CoreDNS read access"
  UP_LOGS=(kube-apiserver)
  kctl apply -f "$CFG/coredns-rbac.yaml" >/dev/null
  start coredns "$(bin_of coredns)" -conf "$CFG/Corefile"

  node_ready() { [ "$(kctl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
  wait_for "node $node to be Ready" 120 kubelet node_ready
  log "node $node Ready"
  wait_for "the default ServiceAccount" 60 kube-controller-manager kctl -n default get serviceaccount default
  wait_for "kube-proxy" 60 kube-proxy curl -fsS "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
  wait_for "cluster DNS on $ip" 60 coredns dns_ready "$ip"
  log "cluster DNS answers on $ip:53 (kubernetes.default.svc.$CLUSTER_DOMAIN -> $SERVICE_API_IP)"
  for p in "${COMPONENTS[@]}"; do alive "$p" || die "$p exited (see $LOGS/$p.log)"; done

  UP_DONE=1
  trap - EXIT INT TERM
  log "cluster up in $(( SECONDS - t0 ))s; KUBECONFIG=$ADMIN_KUBECONFIG"
  echo "$ADMIN_KUBECONFIG"
}

# ---------------------------------------------------------------------------------------
# down

# pids of processes (other than this shell) in any of the kubelet's pod cgroups.
pod_cgroup_pids() {
  local h
  for h in /sys/fs/cgroup/*/kubepods; do
    [ -d "$h" ] || continue
    find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un | grep -vx "$$" || true
}

# pids whose executable is one of the node's binaries (stray shims or components whose pid
# file is gone), but for the components `down` has not stopped yet.
stray_pids() {
  local p exe c known=" "
  for c in "${COMPONENTS[@]}"; do known+="$(pid_of "$c") "; done
  for p in /proc/[0-9]*; do
    case "$known" in *" ${p#/proc/} "*) continue;; esac
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in
      "$NODE"/*) [ -n "$NODE" ] && echo "${p#/proc/}" ;;
      "$ENVTEST/kube-apiserver"|"$ENVTEST/etcd")
        [ -n "$ENVTEST" ] && tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$STATE/" && echo "${p#/proc/}" ;;
    esac
  done
}

delete_pods() {
  local left i
  log "deleting all pods through the API (grace period 1s) while the kubelet runs"
  # Finalizers (the Job controller's, say) would keep deleted pods while the controller
  # manager is stopped: take them off.
  kctl get pods -A -o 'jsonpath={range .items[?(@.metadata.finalizers)]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}' 2>/dev/null |
    while read -r ns name; do
      [ -n "$name" ] && kctl -n "$ns" patch pod "$name" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
  kctl delete pods -A --all --grace-period=1 --wait=false >/dev/null 2>&1 || true
  for (( i = 0; i < 240; i++ )); do
    left=$(kctl get pods -A -o name 2>/dev/null | wc -l) || left=1
    [ "$left" = 0 ] && { log "  all pods gone"; return 0; }
    alive kubelet || break
    sleep 0.25
  done
  log "  $left pod(s) still there; forcing their deletion (the runtime clean-up follows)"
  kctl delete pods -A --all --grace-period=0 --force >/dev/null 2>&1 || true
}

runtime_cleanup() {
  local ctr=("$NODE/ctr" --address "$SOCK" -n k8s.io) ids id
  alive containerd || return 0
  # The containers' ids and the pods' network namespaces (from their sandboxes' specs), for
  # network_cleanup and remove_host_paths.
  "${ctr[@]}" containers ls -q >> "$RUN/containers" 2>/dev/null || true
  for id in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    "${ctr[@]}" containers info "$id" 2>/dev/null | grep -o '"path": *"[^"]*/netns/cni-[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
  done >> "$RUN/netns" || true
  ids=$("${ctr[@]}" tasks ls -q 2>/dev/null) || ids=""
  if [ -n "$ids" ]; then
    log "killing $(echo "$ids" | wc -l) container task(s) through containerd"
    for id in $ids; do "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
  fi
  ids=$("${ctr[@]}" containers ls -q 2>/dev/null) || ids=""
  if [ -n "$ids" ]; then
    log "deleting $(echo "$ids" | wc -l) container(s) through containerd"
    for id in $ids; do "${ctr[@]}" containers delete "$id" >/dev/null 2>&1 || true; done
  fi
}

kill_leftovers() {
  local pids i
  for (( i = 0; i < 5; i++ )); do
    pids="$(pod_cgroup_pids) $(stray_pids)"
    pids=$(echo $pids)
    [ -n "$pids" ] || return 0
    log "killing leftover processes: $pids"
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  done
}

# iptables_cleanup CMD: removes, in one iptables-restore per table, the chains the kubelet and
# kube-proxy add (KUBE-*) and those the CNI plugins add for this node's network (CNI-* chains
# whose rules all name it, and the portmap plugin's chains once nothing else is in them), with
# every rule that jumps to them or names the network. Other CNI users' chains (podman's, say)
# are left alone.
iptables_cleanup() {
  local cmd=$1 dump table script
  command -v "$cmd-save" >/dev/null || return 0
  dump=$("$cmd-save" 2>/dev/null) || return 0
  for table in $(echo "$dump" | sed -n 's/^\*//p'); do
    # iptables-save prints the comment's quotes escaped: name: \"NETWORK\"
    script=$(echo "$dump" | NET="name: \\\"$CNI_NETWORK\\\"" awk -v t="$table" '
      function target(r,   m) { return match(r, / -[jg] [^ ]+/) ? substr(r, RSTART + 4, RLENGTH - 4) : "" }
      BEGIN { net = ENVIRON["NET"] }
      /^\*/ { cur = substr($0, 2); next }
      cur != t { next }
      /^:/ { c = substr($1, 2); order[++n] = c; nrules[c] = 0; next }
      /^-A / { c = $2; rule[c, ++nrules[c]] = $0; all[++m] = $0 }
      END {
        for (i = 1; i <= n; i++) if (order[i] ~ /^KUBE-/) del[order[i]] = 1
        do {
          changed = 0
          for (i = 1; i <= n; i++) {
            c = order[i]
            if (del[c] || c !~ /^CNI-/) continue
            ours = 1
            for (j = 1; j <= nrules[c]; j++) {
              r = rule[c, j]
              if (index(r, net) == 0 && !del[target(r)]) { ours = 0; break }
            }
            if (nrules[c] == 0 && c !~ /^CNI-(HOSTPORT|DN)-/) ours = 0
            if (ours) { del[c] = 1; changed = 1 }
          }
        } while (changed)
        for (i = 1; i <= m; i++) {
          r = all[i]; split(r, f, " ")
          if (del[f[2]]) continue
          if (del[target(r)] || index(r, net) > 0) { sub(/^-A /, "-D ", r); print r }
        }
        for (i = 1; i <= n; i++) if (del[order[i]]) print "-F " order[i]
        for (i = 1; i <= n; i++) if (del[order[i]]) print "-X " order[i]
      }')
    [ -n "$script" ] || continue
    printf '*%s\n%s\nCOMMIT\n' "$table" "$script" | "$cmd-restore" --noflush 2>/dev/null ||
      log "warning: $cmd-restore could not remove the node's chains in table $table"
  done
}

# nft_cleanup: deletes nftables tables that were not there at `up` and hold no rule any more
# (iptables-nft leaves empty tables and base chains behind), and kube-proxy's own tables.
nft_cleanup() {
  command -v nft >/dev/null || return 0
  local fam name rules
  nft list tables 2>/dev/null | while read -r _ fam name; do
    [ -n "$name" ] || continue
    if [ "$name" != kube-proxy ]; then
      [ -f "$HOSTREC/nft-tables" ] || continue
      grep -qx "table $fam $name" "$HOSTREC/nft-tables" && continue
      rules=$(nft list table "$fam" "$name" 2>/dev/null | grep -cvE '^\s*(table |chain |type |policy |\}|$)' || true)
      [ "$rules" = 0 ] || continue
    fi
    nft delete table "$fam" "$name" 2>/dev/null || log "warning: could not delete nft table $fam $name"
  done
}

unmount_all() { # mount points under the node's directories, deepest (latest) first
  local mp i
  for (( i = 0; i < 3; i++ )); do
    mapfile -t mps < <(awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE/|/run/containerd/|/var/lib/kubelet/)" | tac)
    [ ${#mps[@]} -gt 0 ] || return 0
    for mp in "${mps[@]}"; do
      mp=$(printf '%b' "$mp") # mountinfo escapes spaces as \040
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "warning: could not unmount $mp"
    done
  done
}

# our_netns: network namespaces of this node's pods: those containerd named for the sandboxes
# (recorded by runtime_cleanup) and any whose interfaces hold an address of the pod network.
# Other CNI users (podman) also name theirs /run/netns/cni-*.
our_netns() {
  local ns prefix=${POD_GATEWAY%.*}.
  [ -f "$RUN/netns" ] && sed 's|^/var/run/|/run/|' "$RUN/netns"
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    nsenter --net="$ns" ip -4 -o addr show 2>/dev/null | grep -qF " inet $prefix" && echo "$ns"
  done
  return 0
}

network_cleanup() {
  local l ns nslist
  nslist=$(our_netns | sort -u)
  for l in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
    ip link delete "$l" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "deleting bridge $BRIDGE"
    ip link delete "$BRIDGE" 2>/dev/null || log "warning: could not delete $BRIDGE"
  fi
  for ns in $nslist; do
    [ -e "$ns" ] || continue
    log "removing network namespace $ns"
    umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
    rm -f "$ns"
    printf '%s\n/var%s\n' "$ns" "$ns" >> "$RUN/netns-removed"
  done
  if command -v conntrack >/dev/null; then
    conntrack -D -s "$POD_CIDR" >/dev/null 2>&1 || true
    conntrack -D -d "$POD_CIDR" >/dev/null 2>&1 || true
  fi
}

cgroup_cleanup() {
  local h
  for h in /sys/fs/cgroup/*/kubepods; do
    [ -d "$h" ] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$h" ] && log "warning: could not remove cgroup $h"
  done
  return 0
}

restore_sysctls() {
  [ -f "$HOSTREC/sysctl" ] || return 0
  local key val cur changed=()
  while IFS= read -r line; do
    key=${line%% = *}; val=${line#* = }
    cur=$(sysctl -n "$key" 2>/dev/null | tr '\t' ' ') || continue
    [ "$cur" = "$(echo "$val" | tr '\t' ' ')" ] && continue
    sysctl -qw "$key=$val" >/dev/null 2>&1 && changed+=("$key=$val") || log "warning: could not restore $key=$val"
  done < <(grep '^net\.ipv4\.ip_forward ' "$HOSTREC/sysctl"; grep -v '^net\.ipv4\.ip_forward ' "$HOSTREC/sysctl")
  [ ${#changed[@]} -eq 0 ] || log "sysctls restored: ${changed[*]}"
  if [ -f "$HOSTREC/conntrack-hashsize" ] && [ -w /sys/module/nf_conntrack/parameters/hashsize ]; then
    [ "$(cat /sys/module/nf_conntrack/parameters/hashsize)" = "$(cat "$HOSTREC/conntrack-hashsize")" ] ||
      cat "$HOSTREC/conntrack-hashsize" > /sys/module/nf_conntrack/parameters/hashsize || true
  fi
}

# remove_host_paths: this node's entries in the fixed host paths, and those paths themselves
# when `up` did not find them and nothing else has put anything in them since.
remove_host_paths() {
  local p l
  rm -rf /var/lib/kubelet/device-plugins
  for l in /var/log/containers/*; do
    [ -L "$l" ] && case "$(readlink "$l")" in "$STATE"/*) rm -f "$l";; esac
  done
  rm -f /var/lib/cni/results/"$CNI_NETWORK"-*
  # The CNI result cache of pods whose network was never torn down (containerd's loopback
  # network is "cni-loopback"): by container id, or by the namespace they were set up in.
  for l in /var/lib/cni/results/*; do
    [ -f "$l" ] || continue
    if { [ -s "$RUN/containers" ] && grep -qxF "$(sed -n 's/.*"containerId":"\([0-9a-f]*\)".*/\1/p' "$l")" "$RUN/containers"; } ||
       { [ -s "$RUN/netns-removed" ] && grep -qxF "$(sed -n 's/.*"sandbox":"\([^"]*\)".*/\1/p' "$l")" "$RUN/netns-removed"; }; then
      rm -f "$l"
    fi
  done
  rm -rf /var/lib/cni/networks/"$CNI_NETWORK"
  [ -f "$HOSTREC/paths" ] || return 0
  while IFS= read -r p; do
    [ -n "$p" ] && [ -e "$p" ] || continue
    case "$p" in
      /run/containerd) rm -rf /run/containerd/s /run/containerd/runc /run/containerd/fifo ;;
    esac
    rmdir "$p" 2>/dev/null || log "warning: $p holds files that are not this node's; left in place"
  done < "$HOSTREC/paths"
}

KEEP_LOGS=""
do_down() {
  local t0=$SECONDS have_api=0
  if [ ! -d "$STATE" ] && [ ! -e "$MARKER" ] && [ -z "$(stray_pids)" ] && ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "no node is up (nothing in $STATE)"
    return 0
  fi
  log "taking the node in $STATE down"
  # The containers' logs go with their pods: keep them first.
  if [ -n "$KEEP_LOGS" ] && [ -d "$STATE/pod-logs" ]; then
    mkdir -p "$KEEP_LOGS/pods" && cp -a "$STATE/pod-logs/." "$KEEP_LOGS/pods/" 2>/dev/null || true
  fi
  if [ -n "$KUBECTL" ] && [ -f "$ADMIN_KUBECONFIG" ] && alive kube-apiserver && kctl get --raw /readyz >/dev/null 2>&1; then
    have_api=1
  fi
  # The controller manager and the scheduler first: nothing recreates or places pods then.
  stop_all kube-controller-manager kube-scheduler
  if [ $have_api = 1 ] && alive kubelet && alive containerd; then delete_pods; fi
  stop_all "${CLIENTS[@]}"
  runtime_cleanup
  stop containerd
  kill_leftovers
  stop kube-apiserver 60
  stop etcd
  kill_leftovers
  if [ -n "$NODE" ] && [ -x "$NODE/kube-proxy" ]; then
    log "kube-proxy --cleanup"
    "$NODE/kube-proxy" --cleanup >"$STATE/kube-proxy-cleanup.log" 2>&1 || true
    [ -d "$LOGS" ] && mv "$STATE/kube-proxy-cleanup.log" "$LOGS/" 2>/dev/null
    rm -f "$STATE/kube-proxy-cleanup.log"
  fi
  log "removing iptables chains and nftables tables"
  iptables_cleanup iptables
  iptables_cleanup ip6tables
  nft_cleanup
  network_cleanup
  unmount_all
  cgroup_cleanup
  restore_sysctls
  remove_host_paths
  if [ -n "$KEEP_LOGS" ] && [ -d "$LOGS" ]; then
    mkdir -p "$KEEP_LOGS" && cp -a "$LOGS/." "$KEEP_LOGS/" && log "logs copied to $KEEP_LOGS"
  fi
  if [ -d "$STATE" ]; then
    if awk '{print $5}' /proc/self/mountinfo | grep -q "^$STATE\(/\|$\)"; then
      log "warning: mounts left under $STATE; not deleting it"
    else
      rm -rf "$STATE"
    fi
  fi
  rm -f "$MARKER"
  # The stopped processes are gone once init has reaped them.
  local pid i
  for pid in "${STOPPED[@]}"; do
    for (( i = 0; i < 100; i++ )); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
  done
  log "node down in $(( SECONDS - t0 ))s"
}

cmd_down() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --keep-logs) [ $# -ge 2 ] || die "--keep-logs needs a directory"; KEEP_LOGS=$(readlink -m "$2"); shift 2 ;;
      --keep-logs=*) KEEP_LOGS=$(readlink -m "${1#*=}"); shift ;;
      *) die "unknown argument to down: $1" ;;
    esac
  done
  need_root
  lock
  do_down
  unlock_and_remove
}

# ---------------------------------------------------------------------------------------
cmd_status() {
  local c pid any=0
  echo "state: $STATE"
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then printf '  %-24s running (pid %s)\n' "$c" "$pid"; any=1
    elif [ -f "$RUN/$c.pid" ]; then printf '  %-24s NOT RUNNING (see %s)\n' "$c" "$LOGS/$c.log"
    else printf '  %-24s -\n' "$c"; fi
  done
  if [ $any = 0 ]; then echo "no node is up"; return 1; fi
  echo "KUBECONFIG=$ADMIN_KUBECONFIG"
  if [ -n "$KUBECTL" ] && alive kube-apiserver; then
    kctl get nodes -o wide || true
    kctl get pods -A -o wide || true
  fi
}

cmd_env() {
  [ -f "$ADMIN_KUBECONFIG" ] || die "no node is up (run hack/cluster.sh up)"
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
  echo "export FACESEARCH_CLUSTER_DIR=$STATE"
}

cmd_load() {
  [ $# -gt 0 ] || die "usage: hack/cluster.sh load ARCHIVE..."
  need_root
  alive containerd || die "the node is not up (run hack/cluster.sh up)"
  local a out
  for a in "$@"; do [ -f "$a" ] || die "no such archive: $a"; done
  lock
  for a in "$@"; do
    out=$("$NODE/ctr" --address "$SOCK" -n k8s.io images import --all-platforms "$a" 2>&1) ||
      { echo "$out" >&2; die "could not import $a"; }
    # ctr prints "unpacking NAME (sha256:...)...done" for each image it names.
    echo "$out" | sed -n 's/^unpacking \([^ ]*\) (.*/\1/p'
  done
}

# tag SOURCE TARGET: another name for a loaded image (the e2e suite upgrades to it, as to a
# new release, without building twice).
cmd_tag() {
  [ $# -eq 2 ] || die "usage: hack/cluster.sh tag SOURCE TARGET"
  need_root
  alive containerd || die "the node is not up (run hack/cluster.sh up)"
  lock
  "$NODE/ctr" --address "$SOCK" -n k8s.io images tag --force "$1" "$2" >/dev/null || die "could not tag $1 as $2"
  echo "$2"
}

case "${1:-}" in
  tag) shift; cmd_tag "$@" ;;
  up) shift; [ $# -eq 0 ] || die "up takes no arguments"; cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  load) shift; cmd_load "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
