package workload

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
	// IndexPort is where an index pod serves search, health and metrics.
	IndexPort = 8080
)

// Deployer runs each shard of a collection as a Deployment (replicas from the spec) behind
// a Service, owned by the Collection so that deleting it removes them.
type Deployer struct {
	Client client.Client
	Scheme *runtime.Scheme
	// Image is the operator's image; index pods run its `index` role.
	Image string
	// ClusterDomain is the cluster's DNS suffix, for shard addresses.
	ClusterDomain string
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
func (d *Deployer) EnsureIndex(ctx context.Context, spec IndexSpec) (*IndexState, error) {
	key := spec.key()
	n := int(spec.Shards)
	state := &IndexState{Ready: spec.Replicas > 0}
	readyShards := 0
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
		if dep.Status.ObservedGeneration >= dep.Generation && dep.Status.ReadyReplicas > 0 && dep.Status.UpdatedReplicas == dep.Status.Replicas {
			readyShards++
		} else {
			state.Ready = false
		}
		state.Shards = append(state.Shards, index.NewClient(d.shardURL(key, i)))
	}
	if err := d.removeShardsFrom(ctx, key, n); err != nil {
		return nil, err
	}
	state.Endpoint = d.shardURL(key, 0)
	if n > 1 {
		state.Endpoint = fmt.Sprintf("http://%s-index-{0..%d}.%s.svc:%d", key.Name, n-1, key.Namespace, IndexPort)
	}
	if !state.Ready {
		state.Message = fmt.Sprintf("%d of %d shards ready", readyShards, n)
	}
	return state, nil
}

func (d *Deployer) shardURL(key types.NamespacedName, i int) string {
	domain := d.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf("http://%s.%s.svc.%s:%d", ShardName(key.Name, i), key.Namespace, domain, IndexPort)
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
// only after the Collection is gone; searches must stop first).
func (d *Deployer) RemoveIndex(ctx context.Context, owner types.NamespacedName) error {
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
// probes that do not kill a shard while it loads, and the storage keys from the Secret.
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
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}}, PeriodSeconds: 10}
	}
	startup := probe("/healthz")
	startup.FailureThreshold = 60 // a shard of millions of vectors takes a while to load
	dep.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true),
				// A numeric user, so the pod runs non-root whatever user the image declares.
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
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
				},
				Env:            []corev1.EnvVar{secretEnv("FACESEARCH_STORAGE_ACCESS_KEY", "accessKey"), secretEnv("FACESEARCH_STORAGE_SECRET_KEY", "secretKey")},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: IndexPort}},
				Resources:      spec.Resources,
				ReadinessProbe: probe("/readyz"),
				LivenessProbe:  probe("/healthz"),
				StartupProbe:   startup,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// BuildShardService fills in shard i's Service.
func BuildShardService(svc *corev1.Service, collectionName string, i int) {
	labels := shardLabels(collectionName, i)
	svc.Labels = labels
	svc.Spec.Selector = labels
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: IndexPort, TargetPort: intstr.FromString("http")}}
}
