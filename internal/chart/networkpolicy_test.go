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
// manager and api pods of this release (the operator's policy per Collection, built from the
// flags the chart gives the manager), their metrics port is open to the scrapers only, the
// API port is the api pods' (open to apiClients), and every policy restricts both directions.
func TestNetworkPolicies(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := render(t, v)
			nps := networkPolicies(t, objs)
			manager := nps[releaseNamespace+"/"+releaseName+"-facesearch-manager"]
			if manager == nil {
				t.Fatalf("no manager NetworkPolicy among %v", keys(nps))
			}
			api := nps[releaseNamespace+"/"+apiName]
			if api == nil {
				t.Fatalf("no api NetworkPolicy among %v", keys(nps))
			}
			for name, np := range map[string]*networkingv1.NetworkPolicy{"manager": manager, "api": api} {
				if len(np.Spec.PolicyTypes) != 2 {
					t.Errorf("%s policy types %v, want Ingress and Egress", name, np.Spec.PolicyTypes)
				}
				egressPorts := map[int32]bool{}
				for _, r := range np.Spec.Egress {
					for _, p := range r.Ports {
						egressPorts[p.Port.IntVal] = true
					}
				}
				for _, want := range []int32{443, 6443, 9000, workload.IndexPort, 53} {
					if !egressPorts[want] {
						t.Errorf("%s egress lacks port %d (API server, storage, index, DNS)", name, want)
					}
				}
			}
			// Ingress: the manager takes metrics scrapes and the sidecar injection webhook's
			// calls (from anywhere: the API server); the api pods the API port (from
			// apiClients) and metrics scrapes.
			ingress := func(np *networkingv1.NetworkPolicy) map[string][]networkingv1.NetworkPolicyPeer {
				out := map[string][]networkingv1.NetworkPolicyPeer{}
				for _, r := range np.Spec.Ingress {
					for _, p := range r.Ports {
						out[p.Port.String()] = r.From
					}
				}
				return out
			}
			if in := ingress(manager); len(in) != 2 || in["metrics"] == nil || len(in["webhook"]) != 0 {
				t.Errorf("manager ingress %v: want the metrics port from the scrapers, the webhook port from anywhere", in)
			}
			in := ingress(api)
			if len(in) != 2 || in["metrics"] == nil {
				t.Errorf("api ingress %v: want the api and metrics ports", in)
			}
			clients, ok := in["api"]
			if !ok {
				t.Errorf("api ingress %v lacks the api port", in)
			}
			wantClients := map[string]int{"defaults": 0, "production": 1}[v.name] // production: the apps namespace
			if len(clients) != wantClients {
				t.Errorf("api port open to %+v, want %d peers (networkPolicy.apiClients)", clients, wantClients)
			}
			apiDep, _ := apiDeployment(t, objs)
			if sel, _ := metav1.LabelSelectorAsSelector(&api.Spec.PodSelector); !sel.Matches(labels.Set(apiDep.Spec.Template.Labels)) {
				t.Errorf("api NetworkPolicy selects %v, not the api pods %v", api.Spec.PodSelector, apiDep.Spec.Template.Labels)
			}
			// The chart's index policies restrict egress; ingress is the operator's.
			indexPolicies := 0
			for key, np := range nps {
				if np == manager || np == api {
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

			// The operator's policy, as the manager the chart renders would make it: its search
			// port admits the manager and the api pods.
			dep := find(objs, "Deployment", releaseName+"-facesearch-manager")
			tpl := podTemplate(t, dep)
			clientPods := map[string]labels.Set{"manager": tpl.Labels, "api": apiDep.Spec.Template.Labels}
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
			admitted := map[string]bool{}
			for _, r := range op.Spec.Ingress {
				if r.Ports[0].Port.IntVal != workload.IndexPort {
					continue
				}
				if len(r.From) == 0 {
					t.Error("the search port admits any pod")
				}
				for _, peer := range r.From {
					if peer.NamespaceSelector == nil || peer.PodSelector == nil || peer.IPBlock != nil {
						t.Errorf("the search port admits %+v: want pods of %s only", peer, releaseNamespace)
						continue
					}
					nsSel, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
					podSel, _ := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if !nsSel.Matches(ns) || nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": "other"}) {
						t.Errorf("the search port admits pods of namespaces %s, want %s only", nsSel, releaseNamespace)
					}
					for role, pod := range clientPods {
						if podSel.Matches(pod) {
							admitted[role] = true
						}
					}
					if podSel.Matches(labels.Set{"app.kubernetes.io/name": "facesearch", "app.kubernetes.io/component": "index"}) {
						t.Errorf("the search port admits index pods (%s)", podSel)
					}
				}
			}
			for role, pod := range clientPods {
				if !admitted[role] {
					t.Errorf("the search port does not admit the %s pods %v", role, pod)
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
