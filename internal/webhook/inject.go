package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

const (
	// InjectLabel "true" asks for the sidecar. It is a label, not an annotation, so that the
	// webhook's objectSelector has the API server send only these pods: a webhook that fails
	// closed can then never block the cluster's other pods.
	InjectLabel = "sidecar.facesearch.io/inject"
	// RecordAnnotation "true" adds --record to the sidecar: every search is recorded.
	RecordAnnotation = "sidecar.facesearch.io/record"
	// PortAnnotation is the loopback port the sidecar listens on, 1024-65535.
	PortAnnotation = "sidecar.facesearch.io/port"

	// ContainerName is the injected container's; a pod that has it is left alone.
	ContainerName = "facesearch-sidecar"
	// TokenVolumeName is the projected service account token's volume; a pod that has it is
	// left alone too.
	TokenVolumeName = "facesearch-token"
	// TokenMountPath is where the sidecar reads its token (file "token").
	TokenMountPath = "/var/run/secrets/facesearch.io/serviceaccount"
	// EndpointEnv is the sidecar's variable of the api's URL.
	EndpointEnv = "FACESEARCH_ENDPOINT"
	// EndpointCAEnv is the PEM of the CA that signed the api's certificate.
	EndpointCAEnv = "FACESEARCH_ENDPOINT_CA"

	// DefaultPort is the sidecar's port without PortAnnotation.
	DefaultPort = 8480
	// DefaultTokenAudience is the audience of the sidecar's token, which the api checks.
	DefaultTokenAudience = "facesearch.io"
	// Path is where the manager serves the webhook.
	Path = "/mutate-v1-pod"

	tokenExpirationSeconds = 3600
	// binary is the facesearch binary in the operator's image, which the probes run.
	binary = "/usr/local/bin/facesearch"
	// nonRootUID is the image's user (distroless nonroot).
	nonRootUID = 65532
)

// Sidecar is what every injected container shares; the pod's annotations choose the rest.
type Sidecar struct {
	// Image is the operator's image: the sidecar is the same binary's sidecar role.
	Image string
	// Endpoint is the api's URL (https://<api service>.<namespace>.svc:<port>).
	Endpoint string
	// TokenAudience of the projected token; DefaultTokenAudience when empty.
	TokenAudience string
	// Port is the default port; DefaultPort when 0.
	Port int32
	// Resources of the container; DefaultResources when empty.
	Resources corev1.ResourceRequirements
}

// DefaultResources are the sidecar's: a small proxy, no CPU limit so that it is never
// throttled on the request path.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

// Injector is the admission handler that adds the sidecar to the pods that ask for it.
type Injector struct {
	sidecar Sidecar
	// namespace is the operator's: its pods are never injected.
	namespace string
	decoder   admission.Decoder
	// endpointCA returns the PEM of the api's CA, nil when there is none.
	endpointCA func(context.Context) ([]byte, error)
}

var _ admission.Handler = &Injector{}

// Handle adds the sidecar and its token volume to a pod that carries InjectLabel, and leaves
// every other pod, and a pod that already has them, unchanged.
func (in *Injector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("the sidecar is injected on create only")
	}
	pod := &corev1.Pod{}
	if err := in.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if why := in.skip(req.Namespace, pod); why != "" {
		return admission.Allowed(why)
	}
	port, record, err := in.podOptions(pod)
	if err != nil {
		return admission.Denied(err.Error())
	}
	ca, err := in.endpointCA(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("while reading the CA of the facesearch endpoint: %w", err))
	}
	// Appending by JSON patch, rather than diffing the decoded pod against the request, leaves
	// the fields this build's API types do not know (a newer cluster's) as they were.
	return admission.Patched("injected the facesearch sidecar",
		appendOp("/spec/initContainers", len(pod.Spec.InitContainers), in.container(port, record, ca)),
		appendOp("/spec/volumes", len(pod.Spec.Volumes), in.tokenVolume()))
}

// skip says why a pod is not injected, "" when it is.
func (in *Injector) skip(namespace string, pod *corev1.Pod) string {
	if pod.Labels[InjectLabel] != "true" {
		return "the pod does not ask for the facesearch sidecar"
	}
	if namespace == in.namespace {
		return "pods of the operator's namespace are never injected"
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == ContainerName {
				return "the pod already has the facesearch sidecar"
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == TokenVolumeName {
			return "the pod already has the facesearch token volume"
		}
	}
	return ""
}

// podOptions reads the pod's annotations; an error refuses the pod with its message.
func (in *Injector) podOptions(pod *corev1.Pod) (port int32, record bool, err error) {
	if pod.Spec.HostNetwork {
		// Its loopback would be the node's: every process there could use the pod's token.
		return 0, false, errors.New("the facesearch sidecar is not injected into a pod with hostNetwork: its 127.0.0.1 would be the node's")
	}
	port = in.sidecar.Port
	if port == 0 {
		port = DefaultPort
	}
	if v, ok := pod.Annotations[PortAnnotation]; ok {
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil || p < 1024 || p > 65535 {
			return 0, false, fmt.Errorf("annotation %s=%q: the facesearch sidecar's port must be a number from 1024 to 65535", PortAnnotation, v)
		}
		port = int32(p)
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, p := range c.Ports {
			if p.ContainerPort == port {
				return 0, false, fmt.Errorf("port %d is container %s's: give the facesearch sidecar another with annotation %s", port, c.Name, PortAnnotation)
			}
		}
	}
	// Exactly true or false: a misspelt value must not turn the recording of searches off.
	switch v, ok := pod.Annotations[RecordAnnotation]; {
	case !ok || v == "false":
	case v == "true":
		record = true
	default:
		return 0, false, fmt.Errorf("annotation %s=%q: want \"true\" or \"false\"", RecordAnnotation, v)
	}
	return port, record, nil
}

// container is the sidecar: a native sidecar (an init container that keeps running), so that
// it starts before the application's containers and does not keep a Job's pod alive.
func (in *Injector) container(port int32, record bool, caPEM []byte) corev1.Container {
	listen := fmt.Sprintf("--listen=127.0.0.1:%d", port)
	args := []string{"sidecar", listen}
	if record {
		args = append(args, "--record")
	}
	env := []corev1.EnvVar{{Name: EndpointEnv, Value: in.sidecar.Endpoint}}
	if len(caPEM) > 0 {
		env = append(env, corev1.EnvVar{Name: EndpointCAEnv, Value: string(caPEM)})
	}
	resources := in.sidecar.Resources
	if len(resources.Requests) == 0 && len(resources.Limits) == 0 {
		resources = DefaultResources()
	}
	probe := corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{binary, "sidecar", "--probe", listen}}}
	return corev1.Container{
		Name:          ContainerName,
		Image:         in.sidecar.Image,
		Args:          args,
		Env:           env,
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Resources:     resources,
		VolumeMounts:  []corev1.VolumeMount{{Name: TokenVolumeName, MountPath: TokenMountPath, ReadOnly: true}},
		// Up to 30 s to start; the exec probes start a process, so they get more than the
		// default second each.
		StartupProbe:  &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 1, FailureThreshold: 30, TimeoutSeconds: 5},
		LivenessProbe: &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 10, FailureThreshold: 3, TimeoutSeconds: 5},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](nonRootUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// tokenVolume is the sidecar's own token for the api, with the api's audience: the pod's
// service account token (automountServiceAccountToken) is neither needed nor touched.
func (in *Injector) tokenVolume() corev1.Volume {
	audience := in.sidecar.TokenAudience
	if audience == "" {
		audience = DefaultTokenAudience
	}
	return corev1.Volume{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: audience, ExpirationSeconds: ptr.To[int64](tokenExpirationSeconds), Path: "token"}}},
	}}}
}

// appendOp appends v to the list at path, which has n items (JSON patch cannot append to a
// list that is absent).
func appendOp(path string, n int, v any) jsonpatch.JsonPatchOperation {
	if n == 0 {
		return jsonpatch.NewOperation("add", path, []any{v})
	}
	return jsonpatch.NewOperation("add", path+"/-", v)
}
