package chart

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// warnings collects the API server's warning headers; PodSecurity admission answers
// workload objects that would make violating Pods with warnings, not errors.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// restrictedNamespace is labelled the way install.md tells users to label the operator's
// and the Collections' namespaces, so PodSecurity admission enforces the restricted profile.
func restrictedNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
	}}}
}

// TestDryRunAgainstAPIServer applies every rendered object to a real kube-apiserver (envtest,
// with the project's CRDs installed) with a server-side dry run, and creates a Pod from every
// Pod template (the chart's and the operator's index pods) under the restricted profile.
func TestDryRunAgainstAPIServer(t *testing.T) {
	cp := testenv.ControlPlane(t)

	warn := &warnings{}
	cfg := rest.CopyConfig(cp.Config)
	cfg.WarningHandler = warn
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := facesearchv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Namespaces are created for real: a dry-run object's namespace must exist.
	for _, ns := range []string{releaseNamespace, "team-a", "team-b"} {
		if err := c.Create(ctx, restrictedNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}

	serviceMonitorInstalled := hasKind(c.RESTMapper(), schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"})
	// Every kind the chart may render, across the variants, reaches the API server: the api's
	// PodDisruptionBudget (policy/v1) and HorizontalPodAutoscaler (autoscaling/v2) included.
	appliedKinds := map[string]bool{}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			applied := 0
			for _, o := range render(t, v) {
				name := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
				if o.GetObjectKind().GroupVersionKind().Group == "monitoring.coreos.com" && !serviceMonitorInstalled {
					t.Logf("skipped %s: the monitoring.coreos.com CRDs are not installed", name)
					continue
				}
				warn.take()
				if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("facesearch-chart-test"), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Errorf("server-side dry run of %s: %v", name, err)
					continue
				}
				applied++
				appliedKinds[o.GetAPIVersion()+"/"+o.GetKind()] = true
				for _, w := range warn.take() {
					if strings.Contains(w, "PodSecurity") {
						t.Errorf("%s: %s", name, w)
					}
				}
				if tpl := podTemplate(t, o); tpl != nil {
					dryRunPod(ctx, t, c, o.GetNamespace(), name, tpl)
				}
			}
			if applied == 0 {
				t.Fatal("nothing applied")
			}
			t.Logf("%d objects passed the server-side dry run", applied)
		})
	}
	for _, kind := range []string{"policy/v1/PodDisruptionBudget", "autoscaling/v2/HorizontalPodAutoscaler",
		"rbac.authorization.k8s.io/v1/RoleBinding", "networking.k8s.io/v1/NetworkPolicy",
		"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration"} {
		if !appliedKinds[kind] {
			t.Errorf("no %s passed the dry run in any variant", kind)
		}
	}

	// Helm generates the API's CA and certificate when there is no cert-manager; an upgrade
	// must keep them (lookup), or every client would have to trust a new CA each time.
	t.Run("generated API certificate kept on upgrade", func(t *testing.T) {
		installed := find(render(t, variants[0]), "Secret", chartTLSName)
		if installed == nil {
			t.Fatalf("no Secret %s rendered", chartTLSName)
		}
		// As helm install leaves it: owned by the release.
		installed.SetAnnotations(map[string]string{"meta.helm.sh/release-name": releaseName, "meta.helm.sh/release-namespace": releaseNamespace})
		if err := c.Create(ctx, installed); err != nil {
			t.Fatal(err)
		}
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := cp.WriteKubeconfig(kubeconfig); err != nil {
			t.Fatal(err)
		}
		// --dry-run=server renders with lookup answered by the API server, as an upgrade does.
		objs, err := decodeObjects(runHelm(t, "template", releaseName, chartDir, "--namespace", releaseNamespace,
			"--is-upgrade", "--dry-run=server", "--kubeconfig", kubeconfig))
		if err != nil {
			t.Fatal(err)
		}
		upgraded := find(objs, "Secret", chartTLSName)
		if upgraded == nil {
			t.Fatalf("no Secret %s rendered on upgrade", chartTLSName)
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			was, _, _ := unstructured.NestedString(installed.Object, "data", k)
			now, _, _ := unstructured.NestedString(upgraded.Object, "data", k)
			if was == "" || now != was {
				t.Errorf("the upgrade changed %s of Secret %s", k, chartTLSName)
			}
		}
	})

	// The index pods the operator creates must pass the same profile, in any namespace of
	// Collections that is labelled like the release namespace.
	t.Run("operator index Deployment", func(t *testing.T) {
		col := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "team-a"},
			Spec: facesearchv1.CollectionSpec{Index: facesearchv1.IndexSpec{Shards: 2, Replicas: ptr.To[int32](2),
				Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("100m")},
					Limits: corev1.ResourceList{corev1.ResourceMemory: mustQuantity("1Gi")}}}}}
		col.Spec.Storage.CredentialsSecretRef.Name = "minio-credentials"
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workload.ShardName(col.Name, 0), Namespace: col.Namespace}}
		workload.BuildShardDeployment(dep, workload.IndexSpecOf(col, store.Connection{Endpoint: "minio.storage.svc:9000", Bucket: "faces"}), "facesearch/facesearch:0.1.0", 0)
		assertRestricted(t, "index Deployment", &dep.Spec.Template.Spec)
		assertFlagsDefined(t, "index", dep.Spec.Template.Spec.Containers[0].Args[1:])
		warn.take()
		if err := c.Create(ctx, dep, client.DryRunAll); err != nil {
			t.Fatalf("dry run of the index Deployment: %v", err)
		}
		for _, w := range warn.take() {
			if strings.Contains(w, "PodSecurity") {
				t.Errorf("index Deployment: %s", w)
			}
		}
		dryRunPod(ctx, t, c, col.Namespace, "index Deployment", &dep.Spec.Template)
	})
}

// dryRunPod creates a Pod from a template with a dry run; PodSecurity admission rejects it
// if it breaks the namespace's enforced profile.
func dryRunPod(ctx context.Context, t *testing.T, c client.Client, namespace, from string, tpl *corev1.PodTemplateSpec) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "dry-run-", Namespace: namespace, Labels: tpl.Labels}, Spec: *tpl.Spec.DeepCopy()}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("a Pod from %s fails the restricted profile: %v", from, err)
	}
}

func hasKind(m meta.RESTMapper, gvk schema.GroupVersionKind) bool {
	_, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}
