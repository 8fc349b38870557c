package workload

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

// TestRolledOut: a shard counts as rolled out only once the Deployment controller has seen
// its newest spec and no pod of an earlier template is left, since such a pod may run an
// older image that cannot read a newer snapshot.
func TestRolledOut(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		generation, observed    int64
		replicas                *int32
		statusReplicas, updated int32
		want                    bool
	}{
		{name: "all pods on the current template", generation: 3, observed: 3, replicas: ptr.To[int32](2), statusReplicas: 2, updated: 2, want: true},
		{name: "new spec not yet observed", generation: 4, observed: 3, replicas: ptr.To[int32](2), statusReplicas: 2, updated: 2},
		{name: "an old pod still beside the new ones (surge)", generation: 3, observed: 3, replicas: ptr.To[int32](2), statusReplicas: 3, updated: 2},
		{name: "only some pods updated", generation: 3, observed: 3, replicas: ptr.To[int32](2), statusReplicas: 2, updated: 1},
		{name: "just created, no status", generation: 1, replicas: ptr.To[int32](1)},
		{name: "scaled to zero", generation: 2, observed: 2, replicas: ptr.To[int32](0), want: true},
		{name: "replicas unset means one", generation: 1, observed: 1, statusReplicas: 1, updated: 1, want: true},
		{name: "replicas unset, none running", generation: 1, observed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: tc.replicas},
				Status: appsv1.DeploymentStatus{ObservedGeneration: tc.observed, Replicas: tc.statusReplicas, UpdatedReplicas: tc.updated}}
			dep.Generation = tc.generation
			if got := rolledOut(dep); got != tc.want {
				t.Errorf("rolledOut = %v, want %v", got, tc.want)
			}
		})
	}
}
