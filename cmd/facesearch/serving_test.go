package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/testenv"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// TestMarkServingLabelsTheManagersPod: the elected manager labels its own pod for the api
// Service, trying again until the API server takes the patch (here: until the pod exists).
func TestMarkServingLabelsTheManagersPod(t *testing.T) {
	cp := testenv.ControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(cp.Config, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "facesearch-system"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { markServing(ctx, c, ns.Name, "manager-0", logr.Discard()); close(done) }()
	time.Sleep(1500 * time.Millisecond) // the first patch finds no pod
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "manager-0",
		Labels: map[string]string{"app.kubernetes.io/component": "manager"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "facesearch:test"}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("markServing did not label the pod once it existed")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	if pod.Labels[workload.APIServingLabel] != "true" || pod.Labels["app.kubernetes.io/component"] != "manager" {
		t.Errorf("labels %v: want %s=true beside the pod's own", pod.Labels, workload.APIServingLabel)
	}

	// Without POD_NAME it gives up at once rather than label some other pod.
	returned := make(chan struct{})
	go func() { markServing(ctx, c, ns.Name, "", logr.Discard()); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("markServing without a pod name did not return")
	}
}

// TestManagerHandsTheLeaseOverOnStop: a stopping manager releases its lease, so that the pod
// that replaces it in a rolling update is elected at once rather than after the lease expires.
func TestManagerHandsTheLeaseOverOnStop(t *testing.T) {
	if o := managerOptions("0", "0", true); !o.LeaderElectionReleaseOnCancel {
		t.Error("the manager keeps its lease until it expires when it stops")
	}
}
