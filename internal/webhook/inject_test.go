package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

const (
	testNamespace = "facesearch-system"
	testEndpoint  = "https://fs-facesearch-api.facesearch-system.svc:8443"
	testImage     = "facesearch/facesearch:0.1.0"
	testCA        = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
)

func testInjector(ca func(context.Context) ([]byte, error)) *Injector {
	if ca == nil {
		ca = func(context.Context) ([]byte, error) { return []byte(testCA), nil }
	}
	return &Injector{
		sidecar:    Sidecar{Image: testImage, Endpoint: testEndpoint},
		namespace:  testNamespace,
		decoder:    admission.NewDecoder(clientgoscheme.Scheme),
		endpointCA: ca,
	}
}

// wantContainer is the injected container, written out in full: port, --record and the CA
// are what pods and the api's Secret vary.
func wantContainer(port string, record bool, ca string) corev1.Container {
	listen := "--listen=127.0.0.1:" + port
	args := []string{"sidecar", listen}
	if record {
		args = append(args, "--record")
	}
	env := []corev1.EnvVar{{Name: "FACESEARCH_ENDPOINT", Value: testEndpoint}}
	if ca != "" {
		env = append(env, corev1.EnvVar{Name: "FACESEARCH_ENDPOINT_CA", Value: ca})
	}
	probe := corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/usr/local/bin/facesearch", "sidecar", "--probe", listen}}}
	return corev1.Container{
		Name:          "facesearch-sidecar",
		Image:         testImage,
		Args:          args,
		Env:           env,
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		VolumeMounts:  []corev1.VolumeMount{{Name: "facesearch-token", MountPath: "/var/run/secrets/facesearch.io/serviceaccount", ReadOnly: true}},
		StartupProbe:  &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 1, FailureThreshold: 30, TimeoutSeconds: 5},
		LivenessProbe: &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 10, FailureThreshold: 3, TimeoutSeconds: 5},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](65532),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

var wantVolume = corev1.Volume{Name: "facesearch-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
	Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
		Audience: "facesearch.io", ExpirationSeconds: ptr.To[int64](3600), Path: "token"}}}}}}

// appPod is an application pod in namespace apps; labels and annotations as given.
func appPod(labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: "apps", Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
	}
}

var inject = map[string]string{InjectLabel: "true"}

// admit runs the handler on pod as the API server sends it, and returns the response and the
// pod with the response's patch applied.
func admit(t *testing.T, in *Injector, namespace string, op admissionv1.Operation, pod *corev1.Pod) (admission.Response, *corev1.Pod) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: op, Namespace: namespace,
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	resp := in.Handle(context.Background(), req)
	if len(resp.Patches) == 0 {
		return resp, pod
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("the patch %s does not apply: %v", ops, err)
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(patched, out); err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func TestInjection(t *testing.T) {
	caError := func(context.Context) ([]byte, error) { return nil, errors.New("api server unreachable") }
	noCA := func(context.Context) ([]byte, error) { return nil, nil }
	withInit := appPod(inject, nil)
	withInit.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "app:1"}}
	withInit.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	hasSidecar := appPod(inject, nil)
	hasSidecar.Spec.Containers = append(hasSidecar.Spec.Containers, corev1.Container{Name: "facesearch-sidecar", Image: "mine"})
	hasInitSidecar := appPod(inject, nil)
	hasInitSidecar.Spec.InitContainers = []corev1.Container{{Name: "facesearch-sidecar", Image: "mine"}}
	hasVolume := appPod(inject, nil)
	hasVolume.Spec.Volumes = []corev1.Volume{{Name: "facesearch-token", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}

	cases := []struct {
		name      string
		pod       *corev1.Pod
		namespace string
		op        admissionv1.Operation
		ca        func(context.Context) ([]byte, error)
		// inits and volumes are the pod's lists after the patch; nil: the pod is unchanged.
		inits   []corev1.Container
		volumes []corev1.Volume
		// denied is a part of the refusal's message; code the status of an error.
		denied string
		code   int32
	}{
		{name: "labelled pod", pod: appPod(inject, nil),
			inits: []corev1.Container{wantContainer("8480", false, testCA)}, volumes: []corev1.Volume{wantVolume}},
		{name: "appended after the pod's own", pod: withInit,
			inits:   []corev1.Container{withInit.Spec.InitContainers[0], wantContainer("8480", false, testCA)},
			volumes: []corev1.Volume{withInit.Spec.Volumes[0], wantVolume}},
		{name: "record and port", pod: appPod(inject, map[string]string{RecordAnnotation: "true", PortAnnotation: "9480"}),
			inits: []corev1.Container{wantContainer("9480", true, testCA)}, volumes: []corev1.Volume{wantVolume}},
		{name: "record false", pod: appPod(inject, map[string]string{RecordAnnotation: "false"}),
			inits: []corev1.Container{wantContainer("8480", false, testCA)}, volumes: []corev1.Volume{wantVolume}},
		{name: "no ca.crt in the api's Secret", pod: appPod(inject, nil), ca: noCA,
			inits: []corev1.Container{wantContainer("8480", false, "")}, volumes: []corev1.Volume{wantVolume}},
		{name: "privileged port", pod: appPod(inject, map[string]string{PortAnnotation: "80"}), denied: `sidecar.facesearch.io/port="80": the facesearch sidecar's port must be a number from 1024 to 65535`},
		{name: "port out of range", pod: appPod(inject, map[string]string{PortAnnotation: "70000"}), denied: "from 1024 to 65535"},
		{name: "port not a number", pod: appPod(inject, map[string]string{PortAnnotation: "http"}), denied: "from 1024 to 65535"},
		{name: "port of the application", pod: appPod(inject, map[string]string{PortAnnotation: "8080"}), denied: "port 8080 is container app's"},
		{name: "host network", pod: func() *corev1.Pod { p := appPod(inject, nil); p.Spec.HostNetwork = true; return p }(), denied: "hostNetwork"},
		{name: "record misspelt", pod: appPod(inject, map[string]string{RecordAnnotation: "yes"}), denied: `want "true" or "false"`},
		{name: "CA unreadable", pod: appPod(inject, nil), ca: caError, code: http.StatusInternalServerError},
		{name: "no label", pod: appPod(nil, map[string]string{RecordAnnotation: "true"})},
		{name: "label not true", pod: appPod(map[string]string{InjectLabel: "false"}, nil)},
		{name: "inject annotation is no label", pod: appPod(nil, inject)},
		{name: "sidecar among the containers", pod: hasSidecar},
		{name: "sidecar among the init containers", pod: hasInitSidecar},
		{name: "token volume present", pod: hasVolume},
		{name: "operator's namespace", pod: appPod(inject, nil), namespace: testNamespace},
		{name: "update", pod: appPod(inject, nil), op: admissionv1.Update},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, op := tc.namespace, tc.op
			if ns == "" {
				ns = "apps"
			}
			if op == "" {
				op = admissionv1.Create
			}
			resp, got := admit(t, testInjector(tc.ca), ns, op, tc.pod)
			switch {
			case tc.code != 0:
				if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.code {
					t.Fatalf("response %+v, want an error %d", resp.Result, tc.code)
				}
				return
			case tc.denied != "":
				if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.denied) {
					t.Fatalf("response allowed=%v %+v, want denied with %q", resp.Allowed, resp.Result, tc.denied)
				}
				return
			case !resp.Allowed:
				t.Fatalf("refused: %+v", resp.Result)
			case tc.inits == nil:
				if len(resp.Patches) != 0 {
					t.Fatalf("patched a pod it must leave alone: %+v", resp.Patches)
				}
				return
			}
			if !reflect.DeepEqual(got.Spec.InitContainers, tc.inits) {
				t.Errorf("init containers\n got %+v\nwant %+v", got.Spec.InitContainers, tc.inits)
			}
			if !reflect.DeepEqual(got.Spec.Volumes, tc.volumes) {
				t.Errorf("volumes\n got %+v\nwant %+v", got.Spec.Volumes, tc.volumes)
			}
			// Nothing else changes: the application's containers, the pod's token settings.
			want := tc.pod.DeepCopy()
			want.Spec.InitContainers, want.Spec.Volumes = got.Spec.InitContainers, got.Spec.Volumes
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the patch changed more than the init containers and volumes:\n got %+v\nwant %+v", got, want)
			}

			// Idempotent: the injected pod goes through unchanged (as when two webhooks, or a
			// reinvocation, see it).
			again, _ := admit(t, testInjector(tc.ca), ns, op, got)
			if !again.Allowed || len(again.Patches) != 0 {
				t.Errorf("second pass: allowed=%v patches %+v, want allowed without a patch", again.Allowed, again.Patches)
			}
		})
	}
}

// TestSidecarOptions: the flags' audience, port and resources reach the container.
func TestSidecarOptions(t *testing.T) {
	in := testInjector(nil)
	in.sidecar.TokenAudience = "api.example"
	in.sidecar.Port = 9000
	in.sidecar.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}
	_, pod := admit(t, in, "apps", admissionv1.Create, appPod(inject, nil))
	if len(pod.Spec.InitContainers) != 1 || len(pod.Spec.Volumes) != 1 {
		t.Fatalf("not injected: %+v", pod.Spec)
	}
	c := pod.Spec.InitContainers[0]
	if c.Args[1] != "--listen=127.0.0.1:9000" || !reflect.DeepEqual(c.Resources, in.sidecar.Resources) {
		t.Errorf("args %q, resources %+v: want the flags' port and resources", c.Args, c.Resources)
	}
	if a := pod.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.Audience; a != "api.example" {
		t.Errorf("token audience %q, want api.example", a)
	}
}
