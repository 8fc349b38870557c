package workload_test

import (
	"testing"
	"time"

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

// TestShardPodsRollWithoutLosingCapacity: a rollout surges one new pod and stops an old one
// only once the new one is ready, and a stopping pod drains: readiness fails before its drain
// delay is over, and the grace period covers the drain and the searches in flight.
func TestShardPodsRollWithoutLosingCapacity(t *testing.T) {
	col := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{Index: facesearchv1.IndexSpec{Shards: 2, Replicas: ptr.To[int32](1)}}}
	dep := &appsv1.Deployment{}
	workload.BuildShardDeployment(dep, workload.IndexSpecOf(col, store.Connection{Bucket: "faces"}), "facesearch:test", 1)
	strategy := dep.Spec.Strategy
	if strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || strategy.RollingUpdate == nil ||
		strategy.RollingUpdate.MaxSurge.IntValue() != 1 || strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: want RollingUpdate, maxSurge 1, maxUnavailable 0", strategy)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if !drainCovered(c.Args, pod.TerminationGracePeriodSeconds) {
		t.Errorf("grace period %v does not cover --drain-delay and --shutdown-timeout (args %q)", ptr.Deref(pod.TerminationGracePeriodSeconds, -1), c.Args)
	}
	if !readinessWithin(c, c.Args) {
		t.Errorf("readiness probe %+v does not fail a draining pod within its --drain-delay", c.ReadinessProbe)
	}
}

// drainCovered says whether the pod's grace period exceeds its --drain-delay and
// --shutdown-timeout together.
func drainCovered(args []string, grace *int64) bool {
	drain, shutdown := argDuration(args, "--drain-delay"), argDuration(args, "--shutdown-timeout")
	return grace != nil && drain > 0 && shutdown > 0 && time.Duration(*grace)*time.Second > drain+shutdown
}

// readinessWithin says whether the readiness probe fails a draining pod before its
// --drain-delay is over.
func readinessWithin(c corev1.Container, args []string) bool {
	p := c.ReadinessProbe
	return time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second < argDuration(args, "--drain-delay")
}

func argDuration(args []string, flag string) time.Duration {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			d, _ := time.ParseDuration(args[i+1])
			return d
		}
	}
	return 0
}
