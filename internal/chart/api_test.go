package chart

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

const apiName = releaseName + "-facesearch-api"

// convert turns a rendered object into its typed form.
func convert[T any](t *testing.T, o *unstructured.Unstructured, out *T) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("%T not rendered", out)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// apiDeployment returns the api Deployment and its container.
func apiDeployment(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	o := find(objs, "Deployment", apiName)
	if o == nil {
		t.Fatal("no api Deployment")
	}
	dep := convert(t, o, &appsv1.Deployment{})
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("api pods have %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	return dep, &dep.Spec.Template.Spec.Containers[0]
}

// flagValue is the value of --name=value among args, or "".
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestRenderedAPI checks the api Deployment in each variant: the api role with the flags it
// defines, the probes and rollout that keep requests served while pods come and go, its own
// ServiceAccount bound in the release namespace only, and the Service that reaches its pods
// and nothing else.
func TestRenderedAPI(t *testing.T) {
	type want struct {
		args      []string
		env       map[string]string
		initCount int
		replicas  int32 // 0: left to the HorizontalPodAutoscaler
		// pdb is "maxUnavailable=N" or "minAvailable=N".
		pdb            string
		hpaMin, hpaMax int32
	}
	cases := map[string]want{
		"defaults": {
			args: []string{"api", "--api-bind-address=:8443", "--api-credentials-secret=facesearch-api-keys",
				"--api-service-name=" + apiName, "--shutdown-delay=10s", "--health-probe-bind-address=:8081",
				"--metrics-bind-address=:8080", "--cluster-domain=cluster.local", "--inference-threads=1",
				"--max-concurrent-inferences=0", "--zap-log-level=info", "--console=true", certFlag, keyFlag,
				"--api-storage-endpoint=minio.minio.svc:9000", "--api-storage-bucket=faces",
				"--api-storage-secret=facesearch-storage", "--api-storage-tls=true"},
			env: map[string]string{"POD_NAMESPACE": "fieldRef:metadata.namespace",
				"FACESEARCH_MODEL_PACKS": "/opt/facesearch/models/faceplugin-1.0,/opt/facesearch/models/dlib-blazeface-1.0",
				"FACESEARCH_ONNXRUNTIME": "/opt/facesearch/lib/libonnxruntime.so"},
			replicas: 2,
			pdb:      "maxUnavailable=1",
		},
		"production": {
			args: []string{"api", "--api-bind-address=:9443", "--api-service-name=" + apiName, certFlag, keyFlag,
				"--api-storage-endpoint=minio.storage.svc:9000", "--api-storage-bucket=faces-prod",
				"--api-image-sources=uploads/faces/,/enrol/", "--max-decode-bytes=1Gi"},
			env: map[string]string{"POD_NAMESPACE": "fieldRef:metadata.namespace", "FACESEARCH_MODEL_PACKS": "/models/faceplugin-1.0",
				"FACESEARCH_ONNXRUNTIME": "/opt/facesearch/lib/libonnxruntime.so"},
			initCount: 1,
			pdb:       "minAvailable=2",
			hpaMin:    3, hpaMax: 10,
		},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			w, ok := cases[v.name]
			if !ok {
				t.Fatalf("no expectations for variant %s", v.name)
			}
			objs := render(t, v)
			dep, c := apiDeployment(t, objs)
			tpl := dep.Spec.Template

			// The api role, with flags it defines.
			if c.Args[0] != "api" {
				t.Fatalf("first arg is %q, want the api role", c.Args[0])
			}
			assertFlagsDefined(t, "api", c.Args[1:])
			for _, a := range w.args {
				if !contains(c.Args, a) {
					t.Errorf("api args %q lack %q", c.Args, a)
				}
			}
			env := envMap(c.Env)
			for k, val := range w.env {
				if env[k] != val {
					t.Errorf("api env %s = %q, want %q", k, env[k], val)
				}
			}
			if len(tpl.Spec.InitContainers) != w.initCount {
				t.Errorf("%d init containers, want %d", len(tpl.Spec.InitContainers), w.initCount)
			}
			apiPort := int32(8443)
			if v.name == "production" {
				apiPort = 9443
			}
			for _, p := range []struct {
				name string
				port int32
			}{{"api", apiPort}, {"metrics", 8080}, {"probes", 8081}} {
				if !hasPort(c.Ports, p.name, p.port) {
					t.Errorf("api container lacks port %s %d: %+v", p.name, p.port, c.Ports)
				}
			}

			// Probes: ready only when listening with the collections published, checked often
			// enough that a draining pod leaves the endpoints within its drain.
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "probes" ||
				p.PeriodSeconds < 1 || p.PeriodSeconds > 5 {
				t.Errorf("readiness probe %+v: want /readyz on probes every 1 to 5 s", p)
			}
			for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "probes" {
					t.Errorf("%s probe %+v: want /healthz on probes", name, p)
				}
			}

			// Rollout: a new pod serves before an old one goes; the old one drains in its grace.
			ru := dep.Spec.Strategy.RollingUpdate
			if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
				ru.MaxSurge == nil || ru.MaxSurge.String() != "1" || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
				t.Errorf("strategy %+v: want RollingUpdate, maxSurge 1, maxUnavailable 0", dep.Spec.Strategy)
			}
			delay, err := time.ParseDuration(flagValue(c.Args, "shutdown-delay"))
			if err != nil {
				t.Fatalf("--shutdown-delay: %v", err)
			}
			if g := tpl.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= delay+30*time.Second {
				t.Errorf("terminationGracePeriodSeconds %v: want more than the drain %s + 30 s", g, delay)
			}

			// Spread over nodes, preferred, counting the api pods.
			spread := false
			for _, tsc := range tpl.Spec.TopologySpreadConstraints {
				sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
				if err != nil {
					t.Fatal(err)
				}
				if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.WhenUnsatisfiable == corev1.ScheduleAnyway && sel.Matches(labels.Set(tpl.Labels)) {
					spread = true
				}
			}
			if !spread {
				t.Errorf("topologySpreadConstraints %+v: want the api pods spread by hostname, ScheduleAnyway", tpl.Spec.TopologySpreadConstraints)
			}

			// The Service: the api pods only, and named as --api-service-name says.
			svcObj := find(objs, "Service", apiName)
			if svcObj == nil {
				t.Fatal("no api Service")
			}
			svc := convert(t, svcObj, &corev1.Service{})
			if got := flagValue(c.Args, "api-service-name"); got != svc.Name {
				t.Errorf("--api-service-name=%s, but the api Service is %s", got, svc.Name)
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(tpl.Labels)) {
				t.Errorf("api Service selector %v does not select the api pods %v", svc.Spec.Selector, tpl.Labels)
			}
			for _, o := range objs {
				if other := podTemplate(t, o); other != nil && o.GetName() != dep.Name && sel.Matches(labels.Set(other.Labels)) {
					t.Errorf("api Service selector %v also selects the pods of %s %s", svc.Spec.Selector, o.GetKind(), o.GetName())
				}
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != apiPort || svc.Spec.Ports[0].TargetPort.String() != "api" {
				t.Errorf("api Service ports %+v: want %d to the pods' api port", svc.Spec.Ports, apiPort)
			}

			// Replicas, PodDisruptionBudget, HorizontalPodAutoscaler.
			hpaObj := find(objs, "HorizontalPodAutoscaler", apiName)
			if w.hpaMax == 0 {
				if hpaObj != nil {
					t.Error("a HorizontalPodAutoscaler rendered with autoscaling off")
				}
				if dep.Spec.Replicas == nil || *dep.Spec.Replicas != w.replicas {
					t.Errorf("replicas %v, want %d", dep.Spec.Replicas, w.replicas)
				}
			} else {
				if _, ok, _ := unstructured.NestedFieldNoCopy(find(objs, "Deployment", apiName).Object, "spec", "replicas"); ok {
					t.Error("the api Deployment sets replicas while the HorizontalPodAutoscaler scales it: each upgrade would reset them")
				}
				checkHPA(t, hpaObj, w.hpaMin, w.hpaMax)
			}
			checkPDB(t, find(objs, "PodDisruptionBudget", apiName), w.pdb, tpl.Labels)

			// Its own ServiceAccount, bound in the release namespace only.
			checkAPIRBAC(t, objs, tpl.Spec.ServiceAccountName)
		})
	}
}

func checkHPA(t *testing.T, o *unstructured.Unstructured, minReplicas, maxReplicas int32) {
	t.Helper()
	if o == nil {
		t.Fatal("no HorizontalPodAutoscaler with autoscaling on")
	}
	if o.GetAPIVersion() != "autoscaling/v2" {
		t.Errorf("HorizontalPodAutoscaler is %s, want autoscaling/v2", o.GetAPIVersion())
	}
	hpa := convert(t, o, &autoscalingv2.HorizontalPodAutoscaler{})
	ref := hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != apiName || ref.APIVersion != "apps/v1" {
		t.Errorf("HorizontalPodAutoscaler scales %+v, want the api Deployment", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != minReplicas || hpa.Spec.MaxReplicas != maxReplicas {
		t.Errorf("HorizontalPodAutoscaler replicas %v to %d, want %d to %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, minReplicas, maxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		hpa.Spec.Metrics[0].Resource.Target.AverageUtilization == nil {
		t.Errorf("HorizontalPodAutoscaler metrics %+v, want the CPU utilization", hpa.Spec.Metrics)
	}
}

// checkPDB: want is "" (none), "maxUnavailable=N" or "minAvailable=N".
func checkPDB(t *testing.T, o *unstructured.Unstructured, want string, podLabels map[string]string) {
	t.Helper()
	if want == "" {
		if o != nil {
			t.Error("a PodDisruptionBudget rendered with api.podDisruptionBudget.enabled=false")
		}
		return
	}
	if o == nil {
		t.Fatal("no api PodDisruptionBudget")
	}
	if o.GetAPIVersion() != "policy/v1" {
		t.Errorf("PodDisruptionBudget is %s, want policy/v1", o.GetAPIVersion())
	}
	pdb := convert(t, o, &policyv1.PodDisruptionBudget{})
	got := ""
	switch {
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable == nil:
		got = "minAvailable=" + pdb.Spec.MinAvailable.String()
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable == nil:
		got = "maxUnavailable=" + pdb.Spec.MaxUnavailable.String()
	}
	if got != want {
		t.Errorf("PodDisruptionBudget %+v, want %s", pdb.Spec, want)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(podLabels)) || sel.Matches(labels.Set{"app.kubernetes.io/name": "facesearch",
		"app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "manager"}) {
		t.Errorf("PodDisruptionBudget selector %v (%v): want the api pods only", pdb.Spec.Selector, err)
	}
}

// checkAPIRBAC: the api pods run as a ServiceAccount of their own, whose ClusterRole (the
// generated api-role, TestClusterRoleMatchesGenerated) is bound by a RoleBinding in the
// release namespace and by no ClusterRoleBinding.
func checkAPIRBAC(t *testing.T, objs []*unstructured.Unstructured, serviceAccount string) {
	t.Helper()
	if serviceAccount != apiName {
		t.Errorf("api pods run as %q, want their own ServiceAccount %s", serviceAccount, apiName)
	}
	if mgr := find(objs, "Deployment", releaseName+"-facesearch-manager"); mgr != nil && podTemplate(t, mgr).Spec.ServiceAccountName == serviceAccount {
		t.Error("the api pods share the manager's ServiceAccount")
	}
	if sa := find(objs, "ServiceAccount", serviceAccount); sa == nil || sa.GetNamespace() != releaseNamespace {
		t.Errorf("ServiceAccount %s not rendered in %s", serviceAccount, releaseNamespace)
	}
	if find(objs, "ClusterRole", apiName) == nil {
		t.Errorf("no ClusterRole %s", apiName)
	}
	// The release namespace and those whose pods search with their tokens.
	served := []string{releaseNamespace}
	if _, c := apiDeployment(t, objs); c != nil {
		if v := flagValue(c.Args, "api-served-namespaces"); v != "" {
			served = append(served, strings.Split(v, ",")...)
		}
	}
	bound := false
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			crb := convert(t, o, &rbacv1.ClusterRoleBinding{})
			for _, s := range crb.Subjects {
				// TokenReviews and SubjectAccessReviews are cluster-scoped: that one
				// built-in role, which grants only those two creates, is bound cluster-wide.
				if s.Kind == "ServiceAccount" && s.Name == serviceAccount && crb.RoleRef.Name != "system:auth-delegator" {
					t.Errorf("ClusterRoleBinding %s binds the api ServiceAccount cluster-wide", crb.Name)
				}
			}
			if crb.RoleRef.Name == apiName {
				t.Errorf("ClusterRoleBinding %s binds the api ClusterRole cluster-wide", crb.Name)
			}
		case "RoleBinding":
			rb := convert(t, o, &rbacv1.RoleBinding{})
			for _, s := range rb.Subjects {
				if s.Kind != "ServiceAccount" || s.Name != serviceAccount {
					continue
				}
				if !slices.Contains(served, rb.Namespace) || rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != apiName || s.Namespace != releaseNamespace {
					t.Errorf("RoleBinding %s/%s binds %s/%s to the api ServiceAccount; want ClusterRole %s in %s", rb.Namespace, rb.Name,
						rb.RoleRef.Kind, rb.RoleRef.Name, apiName, releaseNamespace)
					continue
				}
				bound = true
			}
		}
	}
	if !bound {
		t.Errorf("no RoleBinding in %s binds ClusterRole %s to the api ServiceAccount", releaseNamespace, apiName)
	}
}

// TestAPIValues renders the api's optional objects on and off.
func TestAPIValues(t *testing.T) {
	t.Run("autoscaling on", func(t *testing.T) {
		objs := renderArgs(t, "--set", "api.autoscaling.enabled=true", "--set", "api.autoscaling.minReplicas=2", "--set", "api.autoscaling.maxReplicas=4")
		checkHPA(t, find(objs, "HorizontalPodAutoscaler", apiName), 2, 4)
		if _, ok, _ := unstructured.NestedFieldNoCopy(find(objs, "Deployment", apiName).Object, "spec", "replicas"); ok {
			t.Error("replicas set on the api Deployment with autoscaling on")
		}
	})
	t.Run("replicas", func(t *testing.T) {
		dep, _ := apiDeployment(t, renderArgs(t, "--set", "api.replicas=3"))
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
			t.Errorf("replicas %v, want 3", dep.Spec.Replicas)
		}
	})
	t.Run("no PodDisruptionBudget", func(t *testing.T) {
		checkPDB(t, find(renderArgs(t, "--set", "api.podDisruptionBudget.enabled=false"), "PodDisruptionBudget", apiName), "", nil)
	})
	t.Run("minAvailable", func(t *testing.T) {
		objs := renderArgs(t, "--set", "api.podDisruptionBudget.minAvailable=50%")
		dep, _ := apiDeployment(t, objs)
		checkPDB(t, find(objs, "PodDisruptionBudget", apiName), "minAvailable=50%", dep.Spec.Template.Labels)
	})
	t.Run("a ServiceAccount of the user's", func(t *testing.T) {
		objs := renderArgs(t, "--set", "api.serviceAccount.create=false", "--set", "api.serviceAccount.name=my-api")
		dep, _ := apiDeployment(t, objs)
		if dep.Spec.Template.Spec.ServiceAccountName != "my-api" || find(objs, "ServiceAccount", "my-api") != nil || find(objs, "ServiceAccount", apiName) != nil {
			t.Errorf("api pods run as %q; want my-api, not created by the chart", dep.Spec.Template.Spec.ServiceAccountName)
		}
		rb := convert(t, find(objs, "RoleBinding", apiName), &rbacv1.RoleBinding{})
		if len(rb.Subjects) != 1 || rb.Subjects[0].Name != "my-api" {
			t.Errorf("RoleBinding subjects %+v, want my-api", rb.Subjects)
		}
	})
	t.Run("console", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"on by default", nil, "true"},
			{"off", []string{"--set", "api.console.enabled=false"}, "false"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, c := apiDeployment(t, renderArgs(t, tc.args...))
				if got := flagValue(c.Args, "console"); got != tc.want {
					t.Errorf("--console=%q, want %q", got, tc.want)
				}
				assertFlagsDefined(t, "api", c.Args[1:])
			})
		}
	})
	t.Run("a grace period shorter than the drain is refused", func(t *testing.T) {
		out, err := helmOutput(t, "template", releaseName, chartDir, "--namespace", releaseNamespace,
			"--set", "api.shutdownDelaySeconds=20", "--set", "api.terminationGracePeriodSeconds=40")
		if err == nil || !strings.Contains(out, "must exceed api.shutdownDelaySeconds + 30") {
			t.Errorf("err %v, output %s; want a refusal", err, out)
		}
	})
	t.Run("ServiceAccount tokens", func(t *testing.T) {
		cases := []struct {
			name          string
			args          []string
			audience      string
			served        []string
			authDelegator bool
		}{
			{"default", nil, "facesearch.io", nil, true},
			{"served namespaces", []string{"--set", "api.serviceAccountTokens.servedNamespaces={apps," + releaseNamespace + ",shop}"},
				"facesearch.io", []string{"apps", "shop"}, true},
			{"another audience", []string{"--set", "api.serviceAccountTokens.audience=faces.example.com"}, "faces.example.com", nil, true},
			{"off", []string{"--set", "api.serviceAccountTokens.enabled=false", "--set", "api.serviceAccountTokens.servedNamespaces={apps}"}, "", nil, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				objs := renderArgs(t, tc.args...)
				_, c := apiDeployment(t, objs)
				if got := flagValue(c.Args, "api-token-audience"); got != tc.audience {
					t.Errorf("--api-token-audience=%q, want %q", got, tc.audience)
				}
				checkAPIRBAC(t, objs, apiName)
				for _, ns := range tc.served {
					rb := findIn(objs, "RoleBinding", ns, apiName)
					if rb == nil {
						t.Errorf("no RoleBinding of the api role in served namespace %s", ns)
					}
				}
				if tc.served == nil && flagValue(c.Args, "api-served-namespaces") != "" {
					t.Errorf("--api-served-namespaces=%q without served namespaces", flagValue(c.Args, "api-served-namespaces"))
				}
				crb := find(objs, "ClusterRoleBinding", apiName+"-auth-delegator")
				if (crb != nil) != tc.authDelegator {
					t.Errorf("auth-delegator ClusterRoleBinding rendered: %v, want %v", crb != nil, tc.authDelegator)
				}
				if crb != nil {
					b := convert(t, crb, &rbacv1.ClusterRoleBinding{})
					if b.RoleRef.Name != "system:auth-delegator" || len(b.Subjects) != 1 || b.Subjects[0].Name != apiName {
						t.Errorf("auth-delegator binding %+v", b)
					}
				}
			})
		}
	})
	t.Run("api disabled", func(t *testing.T) {
		for _, o := range renderArgs(t, "--set", "api.enabled=false") {
			lbl := o.GetLabels()["app.kubernetes.io/component"]
			if lbl == "api" || strings.Contains(o.GetName(), "-api") {
				t.Errorf("%s %s rendered with api.enabled=false", o.GetKind(), o.GetName())
			}
		}
	})
}
