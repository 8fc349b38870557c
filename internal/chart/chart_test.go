package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

func TestHelmLint(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir}, v.valuesArgs()...)
			runHelm(t, args...)
		})
	}
}

// podTemplate returns the Pod template of a workload object, or nil for other kinds.
func podTemplate(t *testing.T, o *unstructured.Unstructured) *corev1.PodTemplateSpec {
	t.Helper()
	var path []string
	switch o.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		path = []string{"spec", "template"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	case "Pod":
		tpl := &corev1.PodTemplateSpec{}
		spec, _, _ := unstructured.NestedMap(o.Object, "spec")
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &tpl.Spec); err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		return tpl
	default:
		return nil
	}
	m, found, err := unstructured.NestedMap(o.Object, path...)
	if err != nil || !found {
		t.Fatalf("%s %s has no pod template (%v)", o.GetKind(), o.GetName(), err)
	}
	tpl := &corev1.PodTemplateSpec{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, tpl); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return tpl
}

// securityCheck is one rule of the restricted Pod Security profile (plus the read-only root
// filesystem, which restricted does not demand but this project does).
type securityCheck struct {
	name string
	pod  func(*corev1.PodSpec) bool
	// container is checked on every container and init container; nil checks only the pod.
	container func(*corev1.PodSpec, *corev1.Container) bool
}

func runAsNonRoot(p *corev1.PodSpec, c *corev1.Container) bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return *c.SecurityContext.RunAsNonRoot
	}
	return p.SecurityContext != nil && p.SecurityContext.RunAsNonRoot != nil && *p.SecurityContext.RunAsNonRoot
}

func seccompRuntimeDefault(p *corev1.PodSpec, c *corev1.Container) bool {
	ok := func(s *corev1.SeccompProfile) bool {
		return s != nil && (s.Type == corev1.SeccompProfileTypeRuntimeDefault || s.Type == corev1.SeccompProfileTypeLocalhost)
	}
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		return ok(c.SecurityContext.SeccompProfile)
	}
	return p.SecurityContext != nil && ok(p.SecurityContext.SeccompProfile)
}

var securityChecks = []securityCheck{
	{name: "no host namespaces", pod: func(p *corev1.PodSpec) bool { return !p.HostNetwork && !p.HostPID && !p.HostIPC }},
	{name: "no hostPath volumes", pod: func(p *corev1.PodSpec) bool {
		for _, v := range p.Volumes {
			if v.HostPath != nil {
				return false
			}
		}
		return true
	}},
	{name: "runAsNonRoot", container: runAsNonRoot},
	{name: "not run as UID 0", container: func(p *corev1.PodSpec, c *corev1.Container) bool {
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			return *c.SecurityContext.RunAsUser != 0
		}
		return p.SecurityContext == nil || p.SecurityContext.RunAsUser == nil || *p.SecurityContext.RunAsUser != 0
	}},
	{name: "seccomp RuntimeDefault", container: seccompRuntimeDefault},
	{name: "allowPrivilegeEscalation false", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		return c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation
	}},
	{name: "not privileged", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		return c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged
	}},
	{name: "readOnlyRootFilesystem", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		return c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem
	}},
	{name: "capabilities drop ALL, add none", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil || len(c.SecurityContext.Capabilities.Add) > 0 {
			return false
		}
		for _, d := range c.SecurityContext.Capabilities.Drop {
			if d == "ALL" {
				return true
			}
		}
		return false
	}},
	{name: "no host ports", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				return false
			}
		}
		return true
	}},
	{name: "resource requests and memory limit", container: func(_ *corev1.PodSpec, c *corev1.Container) bool {
		return len(c.Resources.Requests) > 0 && !c.Resources.Limits.Memory().IsZero()
	}},
}

// assertRestricted checks every rule on a pod spec and all its containers.
func assertRestricted(t *testing.T, what string, spec *corev1.PodSpec) {
	t.Helper()
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, check := range securityChecks {
		t.Run(check.name, func(t *testing.T) {
			if check.pod != nil && !check.pod(spec) {
				t.Errorf("%s: pod fails %q", what, check.name)
			}
			if check.container == nil {
				return
			}
			for i := range containers {
				if !check.container(spec, &containers[i]) {
					t.Errorf("%s: container %s fails %q", what, containers[i].Name, check.name)
				}
			}
		})
	}
}

func TestRenderedPodsAreRestricted(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			checked := map[string]bool{}
			for _, o := range render(t, v) {
				tpl := podTemplate(t, o)
				if tpl == nil {
					continue
				}
				checked[o.GetKind()+"/"+o.GetName()] = true
				t.Run(o.GetKind()+"/"+o.GetName(), func(t *testing.T) {
					assertRestricted(t, o.GetKind()+" "+o.GetName(), &tpl.Spec)
				})
			}
			// The manager's pods and the api's (with their init container in production).
			for _, want := range []string{"Deployment/" + releaseName + "-facesearch-manager", "Deployment/" + releaseName + "-facesearch-api"} {
				if !checked[want] {
					t.Errorf("%s not rendered; checked %v", want, checked)
				}
			}
		})
	}
}

// TestRenderedManager checks what the manager Deployment must carry in each variant: the
// controllers only, the HTTP API being the api Deployment's (TestRenderedAPI).
func TestRenderedManager(t *testing.T) {
	type want struct {
		args         []string
		env          map[string]string
		initCount    int
		monitors     int
		indexPolices []string
		secret       bool
	}
	cases := map[string]want{
		"defaults": {
			args: []string{"manager", "--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080",
				"--index-image=facesearch/facesearch:0.1.0", "--index-token-rotation=720h", "--index-network-policy=true",
				`--index-metrics-scrapers=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`},
			env: map[string]string{"FACESEARCH_MODEL_PACKS": "/opt/facesearch/models/faceplugin-1.0,/opt/facesearch/models/dlib-blazeface-1.0", "POD_NAMESPACE": "fieldRef:metadata.namespace",
				"FACESEARCH_ONNXRUNTIME": "/opt/facesearch/lib/libonnxruntime.so"},
			indexPolices: []string{releaseNamespace},
		},
		"production": {
			args: []string{"manager", "--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080",
				"--index-image=facesearch/facesearch:0.1.0-test", "--max-decode-bytes=1Gi"},
			env: map[string]string{"FACESEARCH_MODEL_PACKS": "/models/faceplugin-1.0", "POD_NAMESPACE": "fieldRef:metadata.namespace",
				"FACESEARCH_ONNXRUNTIME": "/opt/facesearch/lib/libonnxruntime.so"},
			initCount:    1,
			monitors:     2,
			indexPolices: []string{"team-a", "team-b"},
			secret:       true,
		},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			w, ok := cases[v.name]
			if !ok {
				t.Fatalf("no expectations for variant %s", v.name)
			}
			objs := render(t, v)
			dep := find(objs, "Deployment", releaseName+"-facesearch-manager")
			if dep == nil {
				t.Fatal("no manager Deployment")
			}
			tpl := podTemplate(t, dep)
			c := tpl.Spec.Containers[0]
			for _, a := range w.args {
				if !contains(c.Args, a) {
					t.Errorf("manager args %q lack %q", c.Args, a)
				}
			}
			if c.Args[0] != "manager" {
				t.Errorf("first arg is %q, want the manager role", c.Args[0])
			}
			assertFlagsDefined(t, "manager", c.Args[1:])
			// The manager serves no API any more: no --api-* flag, port or certificate.
			for _, a := range c.Args {
				if strings.HasPrefix(a, "--api-") {
					t.Errorf("manager arg %q: the HTTP API is the api Deployment's", a)
				}
			}
			for _, p := range c.Ports {
				if p.Name == "api" {
					t.Errorf("manager container has an api port %+v", p)
				}
			}
			for _, vol := range tpl.Spec.Volumes {
				if vol.Secret != nil {
					t.Errorf("manager mounts Secret %s (volume %s): the API's certificate is the api pods'", vol.Secret.SecretName, vol.Name)
				}
			}
			env := envMap(c.Env)
			for k, val := range w.env {
				if env[k] != val {
					t.Errorf("env %s = %q, want %q", k, env[k], val)
				}
			}
			if _, ok := env["POD_NAME"]; ok {
				t.Error("manager env has POD_NAME: it no longer labels its own pod")
			}
			for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe || p.HTTPGet.Port.String() != "probes" {
					t.Errorf("probe %s missing or wrong: %+v", probe, p)
				}
			}
			if !hasPort(c.Ports, "probes", 8081) {
				t.Errorf("no probes port 8081 in %+v", c.Ports)
			}
			if len(tpl.Spec.InitContainers) != w.initCount {
				t.Errorf("%d init containers, want %d", len(tpl.Spec.InitContainers), w.initCount)
			}
			// The leader-election Role: Leases and Events; nothing about pods.
			le := find(objs, "Role", releaseName+"-facesearch-leader-election")
			for _, verb := range []string{"get", "list", "watch", "patch", "update", "create", "delete"} {
				if roleAllows(t, le, "", "pods", verb) {
					t.Errorf("the leader-election Role lets the manager %s pods", verb)
				}
			}
			if got := count(objs, "ServiceMonitor"); got != w.monitors {
				t.Errorf("%d ServiceMonitors, want %d", got, w.monitors)
			}
			if got := find(objs, "Secret", "facesearch-storage") != nil; got != w.secret {
				t.Errorf("storage Secret rendered = %v, want %v", got, w.secret)
			}
			var nsOfIndexPolicies []string
			for _, o := range objs {
				if o.GetKind() == "NetworkPolicy" && strings.HasSuffix(o.GetName(), "-index") {
					nsOfIndexPolicies = append(nsOfIndexPolicies, o.GetNamespace())
				}
			}
			sort.Strings(nsOfIndexPolicies)
			if !reflect.DeepEqual(nsOfIndexPolicies, w.indexPolices) {
				t.Errorf("index NetworkPolicies in %v, want %v", nsOfIndexPolicies, w.indexPolices)
			}
			if find(objs, "NetworkPolicy", releaseName+"-facesearch-manager") == nil {
				t.Error("no manager NetworkPolicy")
			}
		})
	}
}

// envMap is a container's environment, a fieldRef as "fieldRef:<path>".
func envMap(vars []corev1.EnvVar) map[string]string {
	env := map[string]string{}
	for _, e := range vars {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPort(ports []corev1.ContainerPort, name string, port int32) bool {
	for _, p := range ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func count(objs []*unstructured.Unstructured, kind string) int {
	n := 0
	for _, o := range objs {
		if o.GetKind() == kind {
			n++
		}
	}
	return n
}

// countComponent counts the objects of kind labelled app.kubernetes.io/component=component.
func countComponent(objs []*unstructured.Unstructured, kind, component string) int {
	n := 0
	for _, o := range objs {
		if o.GetKind() == kind && o.GetLabels()["app.kubernetes.io/component"] == component {
			n++
		}
	}
	return n
}

// TestCRDsMatchGenerated fails when the chart's crds/ drifts from controller-gen's output.
func TestCRDsMatchGenerated(t *testing.T) {
	generated, _ := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	inChart, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(generated) == 0 {
		t.Fatal("no generated CRDs in config/crd/bases")
	}
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	const fix = "copy them: cp config/crd/bases/*.yaml charts/facesearch/crds/"
	if !reflect.DeepEqual(names(generated), names(inChart)) {
		t.Fatalf("chart CRDs %v differ from generated %v; %s", names(inChart), names(generated), fix)
	}
	for _, g := range generated {
		t.Run(filepath.Base(g), func(t *testing.T) {
			assertSameBytes(t, g, filepath.Join(chartDir, "crds", filepath.Base(g)), fix)
		})
	}
}

// TestClusterRoleMatchesGenerated fails when the chart's ClusterRoles drift from the rules
// controller-gen generates from the RBAC markers: the manager's (controllers, the sidecar
// injection webhook) and the api role's (cmd/facesearch). The manager's rule on
// MutatingWebhookConfigurations is narrowed to the release's own (TestSidecarInjection).
func TestClusterRoleMatchesGenerated(t *testing.T) {
	for _, role := range []struct {
		name, generated, file string
		narrow                func([]rbacv1.PolicyRule) []rbacv1.PolicyRule
	}{
		{name: "manager", generated: filepath.Join("config", "rbac", "role.yaml"), file: "manager-role.yaml",
			narrow: func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule { return narrowWebhookRule(rules, injectorName) }},
		{name: "api", generated: filepath.Join("config", "rbac", "api", "role.yaml"), file: "api-role.yaml"},
	} {
		t.Run(role.name, func(t *testing.T) {
			generatedPath := filepath.Join(repoRoot, role.generated)
			assertSameBytes(t, generatedPath, filepath.Join(chartDir, "files", role.file),
				"run make manifests (cp "+role.generated+" charts/facesearch/files/"+role.file+")")
			data, err := os.ReadFile(generatedPath)
			if err != nil {
				t.Fatal(err)
			}
			var generated rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(data, &generated); err != nil {
				t.Fatal(err)
			}
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					o := find(render(t, v), "ClusterRole", releaseName+"-facesearch-"+role.name)
					if o == nil {
						t.Fatalf("no %s ClusterRole rendered", role.name)
					}
					var rendered rbacv1.ClusterRole
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &rendered); err != nil {
						t.Fatal(err)
					}
					want := generated.Rules
					if role.narrow != nil {
						want = role.narrow(want)
					}
					if !reflect.DeepEqual(rendered.Rules, want) {
						t.Errorf("rendered rules differ from %s:\nrendered:  %+v\ngenerated: %+v", role.generated, rendered.Rules, want)
					}
				})
			}
		})
	}
}

func assertSameBytes(t *testing.T, want, got, fix string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("%v; %s", err, fix)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s; %s", got, want, fix)
	}
}

// TestCRDsRenderWithIncludeCRDs checks helm installs exactly the generated CRDs.
func TestCRDsRenderWithIncludeCRDs(t *testing.T) {
	objs, err := decodeObjects(runHelm(t, "template", releaseName, chartDir, "--namespace", releaseNamespace, "--include-crds"))
	if err != nil {
		t.Fatal(err)
	}
	var crds []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o.GetName())
		}
	}
	sort.Strings(crds)
	want := []string{"collections.facesearch.io", "searchrequests.facesearch.io", "users.facesearch.io"}
	if !reflect.DeepEqual(crds, want) {
		t.Errorf("CRDs %v, want %v", crds, want)
	}
}

// roleAllows says whether a rendered Role grants verb on resource in apiGroup.
func roleAllows(t *testing.T, role *unstructured.Unstructured, apiGroup, resource, verb string) bool {
	t.Helper()
	if role == nil {
		t.Fatal("Role not rendered")
	}
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		m, _ := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(m, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(m, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
		if contains(groups, apiGroup) && contains(resources, resource) && contains(verbs, verb) {
			return true
		}
	}
	return false
}
