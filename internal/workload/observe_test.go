package workload_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// TestObserveIndexWritesNothing: the api role's view of a collection's shards comes from what
// the manager made; observing creates nothing, and a collection serves while every shard has a
// ready pod, a rollout under way or not.
func TestObserveIndexWritesNothing(t *testing.T) {
	ctx := context.Background()
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: "observed", Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{
			Storage: facesearchv1.StorageSpec{Endpoint: "minio.storage.svc:9000", Bucket: "faces",
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "minio-credentials"}},
			Index: facesearchv1.IndexSpec{Shards: 2, Replicas: ptr.To[int32](2)},
		},
	}
	if err := k8s.Create(ctx, col); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, col) })
	conn := store.Connection{Endpoint: "minio.storage.svc:9000", Bucket: "faces", AccessKey: "a", SecretKey: "b"}
	spec := workload.IndexSpecOf(col, conn)
	observer := &workload.Deployer{Client: k8s, Scheme: k8s.Scheme(), Image: "facesearch:test"}

	// Before the manager ran: nothing to observe, and nothing made.
	state, err := observer.ObserveIndex(ctx, spec)
	if err != nil || state.Ready || len(state.Shards) != 0 {
		t.Fatalf("before the manager: %+v %v", state, err)
	}
	var deps appsv1.DeploymentList
	if err := k8s.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{workload.LabelCollection: col.Name}); err != nil || len(deps.Items) != 0 {
		t.Fatalf("observing made %d Deployments (%v)", len(deps.Items), err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.AuthSecretName(col.Name)}, &corev1.Secret{}); err == nil {
		t.Fatal("observing made the index auth Secret")
	}

	manager := &workload.Deployer{Client: k8s, Scheme: k8s.Scheme(), Image: "facesearch:test"}
	if _, err := manager.EnsureIndex(ctx, spec); err != nil {
		t.Fatal(err)
	}
	setStatus := func(i int, st appsv1.DeploymentStatus) {
		t.Helper()
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, dep); err != nil {
			t.Fatal(err)
		}
		st.ObservedGeneration = dep.Generation
		dep.Status = st
		if err := k8s.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		shard0 appsv1.DeploymentStatus
		shard1 appsv1.DeploymentStatus
		ready  bool
	}{
		{"no pod ready", appsv1.DeploymentStatus{Replicas: 2}, appsv1.DeploymentStatus{Replicas: 2}, false},
		{"one shard without a ready pod", appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2}, appsv1.DeploymentStatus{Replicas: 2}, false},
		{"every shard rolling, one pod ready each", appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 1},
			appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2}, true},
		{"all ready", appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2},
			appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setStatus(0, tc.shard0)
			setStatus(1, tc.shard1)
			state, err := observer.ObserveIndex(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if state.Ready != tc.ready || len(state.Shards) != 2 {
				t.Fatalf("ready %v with %d shards (%s), want ready %v with 2", state.Ready, len(state.Shards), state.Message, tc.ready)
			}
		})
	}
}
