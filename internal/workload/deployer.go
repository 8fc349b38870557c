package workload

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/facesearch/facesearch-operator/internal/index"
)

// Labels on the index workloads.
const (
	LabelComponent  = "app.kubernetes.io/component"
	LabelCollection = "facesearch.io/collection"
	LabelShard      = "facesearch.io/shard"
	componentIndex  = "index"
	// IndexPort is where an index pod serves POST /search, over TLS, to the manager only.
	IndexPort = 8080
	// IndexProbePort is where an index pod serves /healthz, /readyz and /metrics.
	IndexProbePort = 8081
	// authMountPath is where index pods mount their Collection's auth Secret.
	authMountPath = "/etc/facesearch/index-auth"
	// indexDrainDelay is how long a stopping index pod fails readiness while it still
	// serves: the endpoints controller and kube-proxy take a second or two to stop routing
	// to it.
	indexDrainDelay = 5 * time.Second
	// indexShutdownTimeout is how long the searches in flight then have to finish.
	indexShutdownTimeout = 20 * time.Second
	// indexGracePeriod covers both, and the process's exit, before the kubelet kills it.
	indexGracePeriod = indexDrainDelay + indexShutdownTimeout + 5*time.Second
)

// Deployer runs each shard of a collection as a Deployment (replicas from the spec) behind
// a Service, owned by the Collection so that deleting it removes them, together with the
// Collection's index auth Secret (token, CA, serving certificate; see auth.go) and, with
// NetworkPolicy set, its NetworkPolicy.
type Deployer struct {
	Client client.Client
	// Reader reads the index auth Secrets; the manager passes its API reader, so that no
	// Secret is cached (and none listed or watched). Nil: Client.
	Reader client.Reader
	Scheme *runtime.Scheme
	// Image is the operator's image; index pods run its `index` role.
	Image string
	// ClusterDomain is the cluster's DNS suffix, for shard addresses.
	ClusterDomain string
	// TokenRotation is how old a Collection's index token grows before it is replaced;
	// 0 means 30 days, negative never.
	TokenRotation time.Duration
	// TokenOverlap is how long the previous token (and a replaced CA) stays accepted after a
	// rotation; 0 means 10 minutes. It must exceed the time the kubelet takes to update a
	// mounted Secret (about a minute by default).
	TokenOverlap time.Duration
	// NetworkPolicy, when set, gives every Collection a NetworkPolicy for its index pods.
	NetworkPolicy *NetworkPolicyOptions

	mu    sync.Mutex
	conns map[types.NamespacedName]*shardConn
}

var _ IndexRunner = (*Deployer)(nil)

// ShardName is the name of shard i's Deployment and Service, for the Collection named
// collectionName.
func ShardName(collectionName string, i int) string {
	return fmt.Sprintf("%s-index-%d", collectionName, i)
}

// EnsureIndex creates or updates a Deployment and a Service per shard and removes those of
// shards beyond spec.index.shards. A shard change rolls new pods that reload from storage,
// so no vector is lost.
//
// The index is Ready while every shard has a ready replica, rollout or not: a rollout
// surges one new pod at a time and takes an old one away only once the new one is ready
// (BuildShardDeployment), so every shard keeps serving throughout. During a reshard a
// shard's Service reaches pods of both layouts; each answer says which shard of how many it
// is from, and the clients built here refuse the ones of the other layout (index.ClientOptions).
func (d *Deployer) EnsureIndex(ctx context.Context, spec IndexSpec) (*IndexState, error) {
	key := spec.key()
	n := int(spec.Shards)
	// The Secret first: the pods mount it.
	auth, err := d.ensureAuth(ctx, spec)
	if err != nil {
		return nil, err
	}
	clientOpts, err := d.shardClientOptions(key, auth)
	if err != nil {
		return nil, err
	}
	if d.NetworkPolicy != nil {
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: NetworkPolicyName(key.Name), Namespace: key.Namespace}}
		if _, err := controllerutil.CreateOrUpdate(ctx, d.Client, np, func() error {
			BuildNetworkPolicy(np, key.Name, *d.NetworkPolicy)
			return controllerutil.SetControllerReference(spec.Owner, np, d.Scheme)
		}); err != nil {
			return nil, fmt.Errorf("while applying NetworkPolicy %s: %w", np.Name, err)
		}
	}
	state := &IndexState{Ready: spec.Replicas > 0}
	var waiting []string
	for i := 0; i < n; i++ {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: ShardName(key.Name, i), Namespace: key.Namespace}}
		if _, err := controllerutil.CreateOrUpdate(ctx, d.Client, dep, func() error {
			BuildShardDeployment(dep, spec, d.Image, i)
			return controllerutil.SetControllerReference(spec.Owner, dep, d.Scheme)
		}); err != nil {
			return nil, fmt.Errorf("while applying Deployment %s: %w", dep.Name, err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ShardName(key.Name, i), Namespace: key.Namespace}}
		if _, err := controllerutil.CreateOrUpdate(ctx, d.Client, svc, func() error {
			BuildShardService(svc, key.Name, i)
			return controllerutil.SetControllerReference(spec.Owner, svc, d.Scheme)
		}); err != nil {
			return nil, fmt.Errorf("while applying Service %s: %w", svc.Name, err)
		}
		if !shardServes(dep, spec) {
			state.Ready = false
			waiting = append(waiting, strconv.Itoa(i))
		}
		state.RollingOut = state.RollingOut || !rolledOut(dep)
		state.Replicas = append(state.Replicas, ShardReplicas{Ready: dep.Status.ReadyReplicas, Desired: spec.Replicas})
		state.Shards = append(state.Shards, d.shardClient(key, i, n, clientOpts))
	}
	if err := d.removeShardsFrom(ctx, key, n); err != nil {
		return nil, err
	}
	state.Endpoint = d.shardURL(key, 0)
	if n > 1 {
		state.Endpoint = fmt.Sprintf("https://%s-index-{0..%d}.%s.svc:%d", key.Name, n-1, key.Namespace, IndexPort)
	}
	if !state.Ready && spec.Replicas > 0 {
		state.Message = fmt.Sprintf("%d of %d shards have a ready replica (none yet: shard %s)", n-len(waiting), n, strings.Join(waiting, ", "))
	}
	return state, nil
}

// rolledOut says whether every pod of dep runs its current template: the Deployment
// controller has seen the newest spec and no pod of an older ReplicaSet is left.
func rolledOut(dep *appsv1.Deployment) bool {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == want && st.Replicas == want
}

// shardClient reaches shard i of n, and takes only answers of that layout.
func (d *Deployer) shardClient(key types.NamespacedName, i, n int, opts index.ClientOptions) index.Searcher {
	opts.Shard, opts.Shards = i, n
	return index.NewClient(d.shardURL(key, i), opts)
}

func (d *Deployer) shardURL(key types.NamespacedName, i int) string {
	domain := d.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf("https://%s.%s.svc.%s:%d", ShardName(key.Name, i), key.Namespace, domain, IndexPort)
}

// removeShardsFrom deletes the Deployments and Services of shards >= n.
func (d *Deployer) removeShardsFrom(ctx context.Context, key types.NamespacedName, n int) error {
	sel := client.MatchingLabels{LabelComponent: componentIndex, LabelCollection: key.Name}
	var deps appsv1.DeploymentList
	if err := d.Client.List(ctx, &deps, client.InNamespace(key.Namespace), sel); err != nil {
		return err
	}
	for i := range deps.Items {
		if shard, _ := strconv.Atoi(deps.Items[i].Labels[LabelShard]); shard >= n {
			if err := client.IgnoreNotFound(d.Client.Delete(ctx, &deps.Items[i])); err != nil {
				return err
			}
		}
	}
	var svcs corev1.ServiceList
	if err := d.Client.List(ctx, &svcs, client.InNamespace(key.Namespace), sel); err != nil {
		return err
	}
	for i := range svcs.Items {
		if shard, _ := strconv.Atoi(svcs.Items[i].Labels[LabelShard]); shard >= n {
			if err := client.IgnoreNotFound(d.Client.Delete(ctx, &svcs.Items[i])); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveIndex deletes every shard's Deployment and Service (owner references would too, but
// only after the Collection is gone; searches must stop first). The auth Secret and the
// NetworkPolicy go with the Collection, through their owner reference.
func (d *Deployer) RemoveIndex(ctx context.Context, owner types.NamespacedName) error {
	d.dropShardClients(owner)
	return d.removeShardsFrom(ctx, owner, 0)
}

// IndexSelector selects the Deployments and Services of every index shard, of every
// collection: the only ones the manager needs to cache.
func IndexSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{"app.kubernetes.io/name": "facesearch", LabelComponent: componentIndex})
}

func shardLabels(collectionName string, i int) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name": "facesearch", LabelComponent: componentIndex,
		LabelCollection: collectionName, LabelShard: strconv.Itoa(i),
	}
}

// BuildShardDeployment fills in shard i's Deployment: the restricted Pod Security profile,
// probes that do not kill a shard while it loads (on the probe port), the storage keys from
// the storage Secret, and the token and serving certificate from the Collection's index
// auth Secret (mounted: the pod reads them again when the Secret changes).
//
// A rollout replaces one replica at a time without losing capacity: one new pod is surged,
// and an old one is stopped only once the new one is ready (loaded). A stopping pod drains:
// it fails readiness, serves for indexDrainDelay, then finishes its searches in flight;
// the grace period covers both.
func BuildShardDeployment(dep *appsv1.Deployment, spec IndexSpec, image string, i int) {
	labels := shardLabels(spec.Owner.GetName(), i)
	conn := spec.Storage
	dep.Labels = labels
	dep.Spec.Replicas = ptr.To(spec.Replicas)
	dep.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}}
	secretEnv := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: spec.SecretName}, Key: key}}}
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("metrics")}}, PeriodSeconds: 10}
	}
	// Often, so that a new pod takes its place in a rollout soon after it has loaded, and a
	// draining one leaves the endpoints within its drain delay even if the endpoints
	// controller has not already dropped it for terminating.
	readiness := probe("/readyz")
	readiness.PeriodSeconds, readiness.FailureThreshold = 2, 2
	authFile := func(key string) string { return authMountPath + "/" + key }
	var authItems []corev1.KeyToPath
	for _, k := range []string{AuthTokenKey, AuthPreviousTokenKey, AuthTLSCertKey, AuthTLSKeyKey} {
		// Not ca.key: the pods never issue certificates.
		authItems = append(authItems, corev1.KeyToPath{Key: k, Path: k})
	}
	startup := probe("/healthz")
	startup.FailureThreshold = 60 // a shard of millions of vectors takes a while to load
	dep.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(int64(indexGracePeriod / time.Second)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true),
				// A numeric user, so the pod runs non-root whatever user the image declares.
				RunAsUser:  ptr.To[int64](65532),
				RunAsGroup: ptr.To[int64](65532),
				// The mounted Secret's files are readable by this group only.
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  "index",
				Image: image,
				Args: []string{"index",
					"--collection", spec.CollectionID,
					"--shard", strconv.Itoa(i), "--shards", strconv.Itoa(int(spec.Shards)),
					"--storage-endpoint", conn.Endpoint, "--bucket", conn.Bucket, "--prefix", conn.Prefix,
					"--storage-tls=" + strconv.FormatBool(conn.TLS),
					"--listen", fmt.Sprintf(":%d", IndexPort),
					"--probe-listen", fmt.Sprintf(":%d", IndexProbePort),
					"--token-file", authFile(AuthTokenKey), "--token-file", authFile(AuthPreviousTokenKey),
					"--tls-cert", authFile(AuthTLSCertKey), "--tls-key", authFile(AuthTLSKeyKey),
					"--drain-delay", indexDrainDelay.String(), "--shutdown-timeout", indexShutdownTimeout.String(),
				},
				Env: []corev1.EnvVar{secretEnv("FACESEARCH_STORAGE_ACCESS_KEY", "accessKey"), secretEnv("FACESEARCH_STORAGE_SECRET_KEY", "secretKey")},
				Ports: []corev1.ContainerPort{
					{Name: "search", ContainerPort: IndexPort, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: IndexProbePort, Protocol: corev1.ProtocolTCP},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "index-auth", MountPath: authMountPath, ReadOnly: true},
					// The root filesystem is read-only, and the binary (which also holds the
					// local role's envtest control plane) creates a directory in /tmp as it starts.
					{Name: "tmp", MountPath: "/tmp"}},
				Resources:      spec.Resources,
				ReadinessProbe: readiness,
				LivenessProbe:  probe("/healthz"),
				StartupProbe:   startup,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "index-auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: AuthSecretName(spec.Owner.GetName()), Items: authItems, DefaultMode: ptr.To[int32](0o440)}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
			},
		},
	}
}

// BuildShardService fills in shard i's Service.
func BuildShardService(svc *corev1.Service, collectionName string, i int) {
	labels := shardLabels(collectionName, i)
	svc.Labels = labels
	svc.Spec.Selector = labels
	svc.Spec.Ports = []corev1.ServicePort{
		{Name: "search", Port: IndexPort, TargetPort: intstr.FromString("search"), Protocol: corev1.ProtocolTCP},
		{Name: "metrics", Port: IndexProbePort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
	}
}
