package workload

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// SearchClientComponents are the app.kubernetes.io/component of the pods that call the index
// pods' search port: the manager (SearchRequests, enrolment) and the api role (the HTTP
// endpoint). The chart labels them so (facesearch.managerSelectorLabels and
// facesearch.apiSelectorLabels), in the release namespace.
var SearchClientComponents = []string{"manager", "api"}

// SearchClientPodSelector selects the operator's manager and api pods: the only pods that
// may reach the index pods' search port.
func SearchClientPodSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{
		MatchLabels: map[string]string{"app.kubernetes.io/name": "facesearch"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: LabelComponent, Operator: metav1.LabelSelectorOpIn, Values: append([]string(nil), SearchClientComponents...),
		}},
	}
}

// NetworkPolicyOptions make the Deployer give every Collection a NetworkPolicy for its
// index pods.
type NetworkPolicyOptions struct {
	// ManagerNamespace is where the manager and api pods (SearchClientPodSelector) run: the
	// only pods that may reach the search port.
	ManagerNamespace string
	// MetricsScrapers may reach the probe and metrics port; empty: any source (the kubelet's
	// probes are not subject to NetworkPolicies on common CNIs).
	MetricsScrapers []networkingv1.NetworkPolicyPeer
}

// NetworkPolicyName is the name of the NetworkPolicy of the Collection named collectionName.
func NetworkPolicyName(collectionName string) string { return collectionName + "-index" }

// BuildNetworkPolicy fills in the NetworkPolicy of a Collection's index pods: ingress to the
// search port only from the manager and api pods, to the metrics port only from the scrapers.
// Egress is left to the chart's policy for the namespaces it knows (storage and DNS only).
func BuildNetworkPolicy(np *networkingv1.NetworkPolicy, collectionName string, opts NetworkPolicyOptions) {
	tcp := func(port int) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(port))}}
	}
	np.Labels = map[string]string{"app.kubernetes.io/name": "facesearch", LabelComponent: componentIndex, LabelCollection: collectionName}
	np.Spec = networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/name": "facesearch", LabelComponent: componentIndex, LabelCollection: collectionName}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": opts.ManagerNamespace}},
					PodSelector:       SearchClientPodSelector(),
				}},
				Ports: tcp(IndexPort),
			},
			{From: opts.MetricsScrapers, Ports: tcp(IndexProbePort)},
		},
	}
}
