package chart

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/facesearch/facesearch-operator/internal/workload"
)

func networkPolicies(t *testing.T, objs []*unstructured.Unstructured) map[string]*networkingv1.NetworkPolicy {
	t.Helper()
	out := map[string]*networkingv1.NetworkPolicy{}
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		np := &networkingv1.NetworkPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, np); err != nil {
			t.Fatal(err)
		}
		out[np.Namespace+"/"+np.Name] = np
	}
	return out
}

// TestNetworkPolicies checks who may talk to whom: index pods take searches only from the
// manager pods of this release (the operator's policy per Collection, built from the flags
// the chart gives the manager), their metrics port is open to the scrapers only, and every
// policy restricts both directions.
func TestNetworkPolicies(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := render(t, v)
			nps := networkPolicies(t, objs)
			manager := nps[releaseNamespace+"/"+releaseName+"-facesearch-manager"]
			if manager == nil {
				t.Fatalf("no manager NetworkPolicy among %v", keys(nps))
			}
			if len(manager.Spec.PolicyTypes) != 2 {
				t.Errorf("manager policy types %v, want Ingress and Egress", manager.Spec.PolicyTypes)
			}
			egressPorts := map[int32]bool{}
			for _, r := range manager.Spec.Egress {
				for _, p := range r.Ports {
					egressPorts[p.Port.IntVal] = true
				}
			}
			for _, want := range []int32{443, 6443, 9000, workload.IndexPort, 53} {
				if !egressPorts[want] {
					t.Errorf("manager egress lacks port %d (API server, storage, index, DNS)", want)
				}
			}
			// The chart's index policies restrict egress; ingress is the operator's.
			indexPolicies := 0
			for key, np := range nps {
				if np == manager {
					continue
				}
				indexPolicies++
				if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "index" {
					t.Errorf("%s selects %v, want the index pods", key, np.Spec.PodSelector.MatchLabels)
				}
				if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeEgress || len(np.Spec.Ingress) != 0 {
					t.Errorf("%s: types %v, %d ingress rules; want egress only (ingress is the operator's, per Collection)", key, np.Spec.PolicyTypes, len(np.Spec.Ingress))
				}
				for _, r := range np.Spec.Egress {
					for _, p := range r.Ports {
						if p.Port.IntVal == 443 || p.Port.IntVal == 6443 {
							t.Errorf("%s lets index pods reach port %d: they never need the API server", key, p.Port.IntVal)
						}
					}
				}
			}
			if indexPolicies == 0 {
				t.Error("no index NetworkPolicy")
			}

			// The operator's policy, as the manager the chart renders would make it.
			dep := find(objs, "Deployment", releaseName+"-facesearch-manager")
			tpl := podTemplate(t, dep)
			c := tpl.Spec.Containers[0]
			if !contains(c.Args, "--index-network-policy=true") {
				t.Fatalf("manager args %q: the operator's index NetworkPolicies are not turned on", c.Args)
			}
			opts := workload.NetworkPolicyOptions{ManagerNamespace: releaseNamespace} // POD_NAMESPACE
			for _, a := range c.Args {
				if js, ok := strings.CutPrefix(a, "--index-metrics-scrapers="); ok {
					if err := json.Unmarshal([]byte(js), &opts.MetricsScrapers); err != nil {
						t.Fatalf("%s: %v", a, err)
					}
				}
			}
			op := &networkingv1.NetworkPolicy{}
			workload.BuildNetworkPolicy(op, "people", opts)
			ns := labels.Set{"kubernetes.io/metadata.name": releaseNamespace}
			for _, r := range op.Spec.Ingress {
				if r.Ports[0].Port.IntVal != workload.IndexPort {
					continue
				}
				for _, peer := range r.From {
					nsSel, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
					podSel, _ := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if peer.NamespaceSelector == nil || peer.PodSelector == nil || !nsSel.Matches(ns) || !podSel.Matches(labels.Set(tpl.Labels)) {
						t.Errorf("the search port admits %+v, want exactly the manager pods %v of %s", peer, tpl.Labels, releaseNamespace)
					}
				}
			}
			scrapers, _ := json.Marshal(opts.MetricsScrapers)
			if !strings.Contains(string(scrapers), "monitoring") {
				t.Errorf("the index metrics port admits %s, want the metricsScrapers (the monitoring namespace)", scrapers)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestIndexServiceMonitorScrapesTheMetricsPort: the chart's index ServiceMonitor names the
// port of the operator's shard Services that serves /metrics, not the search port.
func TestIndexServiceMonitorScrapesTheMetricsPort(t *testing.T) {
	objs := render(t, variants[1]) // production: ServiceMonitors on
	sm := find(objs, "ServiceMonitor", releaseName+"-facesearch-index")
	if sm == nil {
		t.Fatal("no index ServiceMonitor")
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	svc := &corev1.Service{}
	workload.BuildShardService(svc, "people", 0)
	for _, e := range endpoints {
		port := e.(map[string]any)["port"]
		for _, p := range svc.Spec.Ports {
			if p.Name == port && p.Port != workload.IndexProbePort {
				t.Errorf("the index ServiceMonitor scrapes port %q (%d), want the metrics port %d", port, p.Port, workload.IndexProbePort)
			}
			if p.Name == port {
				return
			}
		}
		t.Errorf("the index ServiceMonitor scrapes port %q, which the shard Services lack (%+v)", port, svc.Spec.Ports)
	}
}
