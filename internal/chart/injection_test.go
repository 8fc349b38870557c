package chart

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/facesearch/facesearch-operator/internal/webhook"
)

const (
	injectorName   = releaseName + "-facesearch-sidecar-injector"
	webhookService = releaseName + "-facesearch-webhook"
	webhookSecret  = releaseName + "-facesearch-webhook-tls"
	webhookCertDir = "/etc/facesearch/webhook-tls"
)

// narrowWebhookRule is the chart's narrowing of the generated rules (rbac.yaml): the rule on
// MutatingWebhookConfigurations names the release's own configuration, or is left out when
// name is empty (the manager does not write the caBundle).
func narrowWebhookRule(rules []rbacv1.PolicyRule, name string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if !contains(r.Resources, "mutatingwebhookconfigurations") {
			out = append(out, r)
			continue
		}
		if name != "" {
			r.ResourceNames = []string{name}
			out = append(out, r)
		}
	}
	return out
}

// TestSidecarInjection renders the injection with its values: the webhook configuration,
// its Service, the manager's flags, port, certificate, rights and network policy, or none of
// them when the injection (or the api it needs) is off.
func TestSidecarInjection(t *testing.T) {
	const httpsEndpoint = "https://" + apiService + "." + releaseNamespace + ".svc:8443"
	defaultResources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	excludeOwn := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
		Values: []string{releaseNamespace, "kube-system"}}
	cases := []struct {
		name string
		args []string
		// mode is "self", "cert-manager", or "" when nothing of the injection renders.
		mode          string
		failurePolicy admissionregistrationv1.FailurePolicyType
		// endpoint and caSecret are the sidecar's api URL and the Secret of its CA ("": none).
		endpoint, caSecret string
		port               string
		resources          corev1.ResourceRequirements
		namespaceSelector  metav1.LabelSelector
	}{
		{name: "defaults", mode: "self", failurePolicy: admissionregistrationv1.Fail, endpoint: httpsEndpoint, caSecret: chartTLSName},
		{name: "cert-manager", args: []string{withCertMgr}, mode: "cert-manager", failurePolicy: admissionregistrationv1.Fail,
			endpoint: httpsEndpoint, caSecret: chartTLSName},
		{name: "cert-manager present but not wanted", args: []string{withCertMgr, "--set", "sidecar.injection.certManager.enabled=false"},
			mode: "self", failurePolicy: admissionregistrationv1.Fail, endpoint: httpsEndpoint, caSecret: chartTLSName},
		{name: "failurePolicy Ignore", args: []string{"--set", "sidecar.injection.failurePolicy=Ignore"},
			mode: "self", failurePolicy: admissionregistrationv1.Ignore, endpoint: httpsEndpoint, caSecret: chartTLSName},
		{name: "namespaces, port and resources", args: []string{"--set", "sidecar.port=9480",
			"--set-json", `sidecar.resources={"requests":{"cpu":"20m","memory":"48Mi"},"limits":{"memory":"96Mi"}}`,
			"--set-json", `sidecar.injection.namespaceSelector={"matchLabels":{"facesearch":"on"},"matchExpressions":[{"key":"tier","operator":"Exists"}]}`},
			mode: "self", failurePolicy: admissionregistrationv1.Fail, endpoint: httpsEndpoint, caSecret: chartTLSName, port: "9480",
			resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("48Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("96Mi")}},
			namespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"facesearch": "on"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}, excludeOwn}}},
		{name: "api over plain HTTP", args: []string{"--set", "api.tls.enabled=false"},
			mode: "self", failurePolicy: admissionregistrationv1.Fail, endpoint: "http://" + apiService + "." + releaseNamespace + ".svc:8443"},
		{name: "the user's api Secret", args: []string{"--set", "api.tls.secretName=my-api-tls", "--set", "api.port=9443"},
			mode: "self", failurePolicy: admissionregistrationv1.Fail, endpoint: "https://" + apiService + "." + releaseNamespace + ".svc:9443", caSecret: "my-api-tls"},
		{name: "turned off", args: []string{withCertMgr, "--set", "sidecar.injection.enabled=false"}},
		{name: "no api", args: []string{"--set", "api.enabled=false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderArgs(t, tc.args...)
			spec, c := managerContainer(t, objs)
			assertFlagsDefined(t, "manager", c.Args[1:])
			mwc := find(objs, "MutatingWebhookConfiguration", injectorName)
			svc := find(objs, "Service", webhookService)
			role := managerRole(t, objs)
			webhookIngress := managerWebhookIngress(t, objs)
			if tc.mode == "" {
				if mwc != nil || svc != nil || hasPort(c.Ports, "webhook", 9443) || webhookIngress != nil {
					t.Error("the injection is off, yet its configuration, Service, port or ingress rendered")
				}
				for _, a := range c.Args {
					if (strings.HasPrefix(a, "--webhook-") || strings.HasPrefix(a, "--sidecar-")) && a != "--webhook-port=0" {
						t.Errorf("manager arg %q with the injection off", a)
					}
				}
				if !contains(c.Args, "--webhook-port=0") {
					t.Errorf("manager args %q: want --webhook-port=0 (the manager's default serves it)", c.Args)
				}
				if !reflect.DeepEqual(role.Rules, narrowWebhookRule(role.Rules, "")) {
					t.Errorf("the manager may still write MutatingWebhookConfigurations: %+v", role.Rules)
				}
				if countComponent(objs, "Certificate", "webhook") != 0 {
					t.Error("a webhook Certificate rendered with the injection off")
				}
				return
			}

			if mwc == nil || svc == nil {
				t.Fatalf("MutatingWebhookConfiguration %s or Service %s not rendered", injectorName, webhookService)
			}
			checkWebhook(t, mwc, tc.failurePolicy, tc.namespaceSelector, excludeOwn)
			checkWebhookService(t, svc, objs)
			if !hasPort(c.Ports, "webhook", 9443) {
				t.Errorf("manager ports %+v lack webhook 9443", c.Ports)
			}
			if webhookIngress == nil || len(webhookIngress.From) != 0 {
				t.Errorf("manager NetworkPolicy admits the webhook port from %+v, want anywhere (the API server)", webhookIngress)
			}

			port, resources := tc.port, tc.resources
			if port == "" {
				port = "8480"
			}
			if resources.Requests == nil {
				resources = defaultResources
			}
			want := []string{"--webhook-port=9443", "--sidecar-endpoint=" + tc.endpoint, "--sidecar-port=" + port}
			if tc.caSecret != "" {
				want = append(want, "--sidecar-endpoint-ca-secret="+tc.caSecret)
			} else if hasArgPrefix(c.Args, "--sidecar-endpoint-ca-secret=") {
				t.Errorf("manager args %q name a CA Secret for a plain HTTP api", c.Args)
			}
			annotation := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]
			mounted := ""
			for _, m := range c.VolumeMounts {
				for _, v := range spec.Volumes {
					if m.MountPath == webhookCertDir && v.Name == m.Name && v.Secret != nil {
						mounted = v.Secret.SecretName
					}
				}
			}
			narrowed := narrowWebhookRule(role.Rules, injectorName)
			switch tc.mode {
			case "self":
				want = append(want, "--webhook-cert-mode=self", "--webhook-secret="+webhookSecret,
					"--webhook-configuration="+injectorName, "--webhook-service="+webhookService)
				if annotation != "" || mounted != "" || countComponent(objs, "Certificate", "webhook") != 0 {
					t.Errorf("self-managed certificate, yet cert-manager's annotation %q, a mounted Secret %q or a Certificate", annotation, mounted)
				}
				if !reflect.DeepEqual(role.Rules, narrowed) || len(narrowWebhookRule(role.Rules, "")) == len(role.Rules) {
					t.Errorf("the manager's rule on MutatingWebhookConfigurations is missing or not narrowed to %s: %+v", injectorName, role.Rules)
				}
			case "cert-manager":
				want = append(want, "--webhook-cert-mode=files", "--webhook-cert-dir="+webhookCertDir)
				if annotation != releaseNamespace+"/"+releaseName+"-facesearch-webhook" || mounted != webhookSecret {
					t.Errorf("inject-ca-from %q, Secret mounted at %s %q; want cert-manager's CA injection and its Secret mounted", annotation, webhookCertDir, mounted)
				}
				checkWebhookCertificate(t, objs)
				if !reflect.DeepEqual(role.Rules, narrowWebhookRule(role.Rules, "")) {
					t.Errorf("cert-manager injects the caBundle, yet the manager may write MutatingWebhookConfigurations: %+v", role.Rules)
				}
			}
			for _, a := range want {
				if !contains(c.Args, a) {
					t.Errorf("manager args %q lack %q", c.Args, a)
				}
			}
			var got corev1.ResourceRequirements
			for _, a := range c.Args {
				if js, ok := strings.CutPrefix(a, "--sidecar-resources="); ok {
					if err := json.Unmarshal([]byte(js), &got); err != nil {
						t.Fatalf("%s: %v", a, err)
					}
				}
			}
			if !equalResources(got, resources) {
				t.Errorf("--sidecar-resources %+v, want %+v", got, resources)
			}
		})
	}

	out, err := helmOutput(t, "template", releaseName, chartDir, "--namespace", releaseNamespace, "--set", "sidecar.injection.failurePolicy=Never")
	if err == nil || !strings.Contains(out, "sidecar.injection.failurePolicy must be Fail or Ignore") {
		t.Errorf("failurePolicy Never: err %v, output %s; want a refusal", err, out)
	}
}

// checkWebhook: one webhook calling the manager's Service on the code's path, for pods
// created with the injection label, outside the release namespace and kube-system.
func checkWebhook(t *testing.T, o *unstructured.Unstructured, policy admissionregistrationv1.FailurePolicyType,
	userSelector metav1.LabelSelector, excludeOwn metav1.LabelSelectorRequirement) {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, mwc); err != nil {
		t.Fatal(err)
	}
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	wantService := &admissionregistrationv1.ServiceReference{Namespace: releaseNamespace, Name: webhookService, Path: ptr.To(webhook.Path), Port: ptr.To[int32](443)}
	if !reflect.DeepEqual(w.ClientConfig.Service, wantService) || w.ClientConfig.URL != nil || len(w.ClientConfig.CABundle) != 0 {
		t.Errorf("clientConfig %+v, want the Service %+v and no caBundle (the manager's or cert-manager's to write)", w.ClientConfig, wantService)
	}
	wantRules := []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)}}}
	if !reflect.DeepEqual(w.Rules, wantRules) {
		t.Errorf("rules %+v, want CREATE of v1 pods", w.Rules)
	}
	if w.ObjectSelector == nil || !reflect.DeepEqual(w.ObjectSelector.MatchLabels, map[string]string{webhook.InjectLabel: "true"}) || len(w.ObjectSelector.MatchExpressions) != 0 {
		t.Errorf("objectSelector %+v, want the label %s=true only: the API server must send no other pod", w.ObjectSelector, webhook.InjectLabel)
	}
	wantNS := userSelector
	if wantNS.MatchExpressions == nil {
		wantNS.MatchExpressions = []metav1.LabelSelectorRequirement{excludeOwn}
	}
	if w.NamespaceSelector == nil || !reflect.DeepEqual(*w.NamespaceSelector, wantNS) {
		t.Errorf("namespaceSelector %+v, want %+v", w.NamespaceSelector, wantNS)
	}
	sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{releaseNamespace, "kube-system"} {
		if sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns, "facesearch": "on", "tier": "web"}) {
			t.Errorf("pods of %s may be injected", ns)
		}
	}
	if w.FailurePolicy == nil || *w.FailurePolicy != policy || w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		w.TimeoutSeconds == nil || *w.TimeoutSeconds != 5 || w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy ||
		!reflect.DeepEqual(w.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("webhook %+v: want failurePolicy %s, sideEffects None, timeoutSeconds 5, reinvocationPolicy Never, admissionReviewVersions [v1]", w, policy)
	}
}

// checkWebhookService: port 443 to the manager pods' webhook port.
func checkWebhookService(t *testing.T, o *unstructured.Unstructured, objs []*unstructured.Unstructured) {
	t.Helper()
	svc := &corev1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != "webhook" {
		t.Errorf("webhook Service ports %+v, want 443 to the port named webhook", svc.Spec.Ports)
	}
	tpl := podTemplate(t, find(objs, "Deployment", releaseName+"-facesearch-manager"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tpl.Labels)) {
		t.Errorf("webhook Service selects %v, not the manager pods %v", svc.Spec.Selector, tpl.Labels)
	}
}

// checkWebhookCertificate: cert-manager's Certificate for the Service's name the API server
// calls, written to the Secret the manager mounts, from a CA Issuer of its own.
func checkWebhookCertificate(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	cert := find(objs, "Certificate", releaseName+"-facesearch-webhook")
	if cert == nil {
		t.Fatal("no webhook Certificate")
	}
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if secret != webhookSecret || !contains(names, webhookService+"."+releaseNamespace+".svc") {
		t.Errorf("webhook Certificate writes %q for %v, want %s for %s.%s.svc", secret, names, webhookSecret, webhookService, releaseNamespace)
	}
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	ca := find(objs, "Issuer", issuer)
	if ca == nil {
		t.Fatalf("the webhook Certificate's issuer %q is not rendered", issuer)
	}
	if caSecret, _, _ := unstructured.NestedString(ca.Object, "spec", "ca", "secretName"); caSecret == "" {
		t.Errorf("the webhook Certificate's issuer %q is no CA Issuer", issuer)
	}
}

// managerRole is the rendered ClusterRole of the manager.
func managerRole(t *testing.T, objs []*unstructured.Unstructured) *rbacv1.ClusterRole {
	t.Helper()
	o := find(objs, "ClusterRole", releaseName+"-facesearch-manager")
	if o == nil {
		t.Fatal("no manager ClusterRole")
	}
	role := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
		t.Fatal(err)
	}
	return role
}

// managerWebhookIngress is the manager NetworkPolicy's rule for the webhook port, or nil.
func managerWebhookIngress(t *testing.T, objs []*unstructured.Unstructured) *networkingv1.NetworkPolicyIngressRule {
	t.Helper()
	np := networkPolicies(t, objs)[releaseNamespace+"/"+releaseName+"-facesearch-manager"]
	if np == nil {
		t.Fatal("no manager NetworkPolicy")
	}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port != nil && p.Port.String() == "webhook" {
				return &r
			}
		}
	}
	return nil
}

func hasArgPrefix(args []string, prefix string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

// equalResources compares quantities by value (10m and 0.01 are the same).
func equalResources(a, b corev1.ResourceRequirements) bool {
	same := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for k, q := range x {
			if q2, ok := y[k]; !ok || q.Cmp(q2) != 0 {
				return false
			}
		}
		return true
	}
	return same(a.Requests, b.Requests) && same(a.Limits, b.Limits)
}
