package workload_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// TestShardPodsHaveAWritableTmp: the index container's root filesystem is read-only, and the
// binary creates a directory in /tmp as it starts (it links the local role's envtest control
// plane); without a writable /tmp every index pod crashed on a real node.
func TestShardPodsHaveAWritableTmp(t *testing.T) {
	col := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{Index: facesearchv1.IndexSpec{Shards: 1, Replicas: ptr.To[int32](1)}}}
	dep := &appsv1.Deployment{}
	workload.BuildShardDeployment(dep, workload.IndexSpecOf(col, store.Connection{Bucket: "faces"}), "facesearch:test", 0)
	pod := dep.Spec.Template.Spec
	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil {
			emptyDirs[v.Name] = true
		}
	}
	for _, c := range pod.Containers {
		if c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) {
			t.Errorf("container %s: root filesystem not read-only", c.Name)
			continue
		}
		found := false
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/tmp" && !m.ReadOnly && emptyDirs[m.Name] {
				found = true
			}
		}
		if !found {
			t.Errorf("container %s: no writable emptyDir at /tmp (mounts %v)", c.Name, mountPaths(c))
		}
	}
}

func mountPaths(c corev1.Container) []string {
	var p []string
	for _, m := range c.VolumeMounts {
		p = append(p, m.MountPath)
	}
	return p
}
