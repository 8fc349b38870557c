package chart

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
// manager pods of this release, and every policy restricts both directions.
func TestNetworkPolicies(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			nps := networkPolicies(t, render(t, v))
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
			for _, want := range []int32{443, 6443, 9000, 8080, 53} {
				if !egressPorts[want] {
					t.Errorf("manager egress lacks port %d (API server, storage, index, DNS)", want)
				}
			}
			indexPolicies := 0
			for key, np := range nps {
				if np == manager {
					continue
				}
				indexPolicies++
				if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "index" {
					t.Errorf("%s selects %v, want the index pods", key, np.Spec.PodSelector.MatchLabels)
				}
				if len(np.Spec.Ingress) != 1 {
					t.Fatalf("%s: %d ingress rules, want 1", key, len(np.Spec.Ingress))
				}
				rule := np.Spec.Ingress[0]
				if len(rule.Ports) != 1 || rule.Ports[0].Port.IntVal != 8080 {
					t.Errorf("%s: ingress ports %v, want only 8080", key, rule.Ports)
				}
				fromManager := false
				for _, peer := range rule.From {
					if peer.PodSelector == nil {
						continue // a metrics scraper namespace
					}
					if peer.PodSelector.MatchLabels["app.kubernetes.io/component"] != "manager" ||
						peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != releaseNamespace {
						t.Errorf("%s admits %+v, want only the manager pods of %s", key, peer, releaseNamespace)
					}
					fromManager = true
				}
				if !fromManager {
					t.Errorf("%s does not admit the manager", key)
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
