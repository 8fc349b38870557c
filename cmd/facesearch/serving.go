package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/workload"
)

// markServing labels the manager's own pod with workload.APIServingLabel once its endpoint
// listens, trying again (up to every 30 s) until it succeeds or ctx ends. The label goes with
// the pod: a replica that loses the lease exits, and a terminating pod leaves the Service's
// endpoints.
func markServing(ctx context.Context, c client.Client, namespace, name string, log logr.Logger) {
	if name == "" {
		log.Info("POD_NAME is not set: the manager's pod is not labelled " + workload.APIServingLabel + ", so a Service that selects it sends nothing here")
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{workload.APIServingLabel: "true"}}})
	backoff := time.Second
	for {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		err := c.Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch))
		if err == nil {
			log.Info("Endpoint serving: pod labelled", "pod", namespace+"/"+name, "label", workload.APIServingLabel)
			return
		}
		log.Error(err, "Labelling the manager's pod as the serving endpoint; trying again", "pod", namespace+"/"+name, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
