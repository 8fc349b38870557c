package workload_test

import (
	"context"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

var k8s client.Client

func TestMain(m *testing.M) {
	cp, err := local.StartControlPlane()
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(facesearchv1.AddToScheme(scheme))
	k8s, err = client.New(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	code := m.Run()
	_ = cp.Stop()
	os.Exit(code)
}

// TestDeployerBuildsShardWorkloads applies a Collection's index on a real API server: one
// Deployment and Service per shard, owned by the Collection, restricted, with the storage keys
// from the Secret; fewer shards remove the extra ones; readiness follows the Deployments.
func TestDeployerBuildsShardWorkloads(t *testing.T) {
	ctx := context.Background()
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{
			CollectionID: "People_2026",
			Storage: facesearchv1.StorageSpec{Endpoint: "minio.storage.svc:9000", Bucket: "faces", Prefix: "team-a/",
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "minio-credentials"}},
			Index: facesearchv1.IndexSpec{Shards: 3, Replicas: ptr.To[int32](2)},
		},
	}
	if err := k8s.Create(ctx, col); err != nil {
		t.Fatal(err)
	}
	d := &workload.Deployer{Client: k8s, Scheme: k8s.Scheme(), Image: "facesearch:test"}
	conn := store.Connection{Endpoint: "minio.storage.svc:9000", Bucket: "faces", Prefix: "team-a/"}
	state, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn))
	if err != nil {
		t.Fatal(err)
	}
	if state.Ready || len(state.Shards) != 3 {
		t.Fatalf("fresh Deployments cannot be ready: %+v", state)
	}

	for i := 0; i < 3; i++ {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, dep); err != nil {
			t.Fatal(err)
		}
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		checks := []struct {
			what string
			ok   bool
		}{
			{"owned by the Collection", len(dep.OwnerReferences) == 1 && dep.OwnerReferences[0].UID == col.UID},
			{"replicas from spec", *dep.Spec.Replicas == 2},
			{"runs as non-root", pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot},
			{"seccomp RuntimeDefault", pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
			{"no privilege escalation", !*c.SecurityContext.AllowPrivilegeEscalation},
			{"read-only root", *c.SecurityContext.ReadOnlyRootFilesystem},
			{"drops all capabilities", len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL"},
			{"index role of its shard", c.Args[0] == "index" && contains(c.Args, "People_2026") && contains(c.Args, []string{"0", "1", "2"}[i])},
			{"keys from the Secret", c.Env[0].ValueFrom.SecretKeyRef.Name == "minio-credentials"},
			{"readiness probe", c.ReadinessProbe.HTTPGet.Path == "/readyz"},
			{"startup probe tolerates a long load", c.StartupProbe.FailureThreshold >= 60},
		}
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("shard %d: %s: %+v", i, ch.what, dep.Spec.Template.Spec)
			}
		}
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, svc); err != nil {
			t.Fatal(err)
		}
		// No kubelet here: say the pods came up, as a cluster would.
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
		if err := k8s.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	if state, err = d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil || !state.Ready {
		t.Fatalf("all shards ready, got %+v %v", state, err)
	}

	col.Spec.Index.Shards = 2
	if _, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil {
		t.Fatal(err)
	}
	var deps appsv1.DeploymentList
	if err := k8s.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{workload.LabelCollection: "people"}); err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 2 {
		t.Fatalf("after scaling to 2 shards, %d Deployments remain", len(deps.Items))
	}
	if err := d.RemoveIndex(ctx, client.ObjectKeyFromObject(col)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{workload.LabelCollection: "people"}); err != nil || len(deps.Items) != 0 {
		t.Fatalf("RemoveIndex left %d Deployments (%v)", len(deps.Items), err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
