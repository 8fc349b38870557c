package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

const (
	// doorway is a Collection of the apps namespace, searched by its pods with their own
	// ServiceAccount tokens through the injected sidecar.
	doorway = "doorway"
	// recordTTLSeconds is the chart's api.serviceAccountTokens.recordTTLSeconds in the suite.
	recordTTLSeconds = 30
	sidecarName      = "facesearch-sidecar"
)

// sidecarSearch: an application pod labelled for injection gets the sidecar, searches
// localhost with the SDK (dummy keys) and the raw-image shortcut, and finds the right people
// with nothing but its ServiceAccount's RBAC grant; its searches are recorded as
// SearchRequests that expire. A ServiceAccount without the grant is refused with
// AccessDeniedException, and tokens for another audience or of a deleted pod are refused.
func (e *env) sidecarSearch(t *testing.T, ph photos) {
	ctx := context.Background()
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: minio-credentials, namespace: %[1]s}
stringData: {accessKey: %[2]s, secretKey: %[3]s}
---
apiVersion: facesearch.io/v1alpha1
kind: Collection
metadata: {name: %[4]s, namespace: %[1]s}
spec:
  storage:
    endpoint: minio.minio.svc:9000
    bucket: %[5]s
    prefix: doorway/
    credentialsSecretRef: {name: minio-credentials}
  imageSources: [{prefix: photos/}]
  index: {shards: 1, replicas: 1}
  deletionPolicy: Delete
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: frontdesk, namespace: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: stranger, namespace: %[1]s}
---
# Who may search which collection, declared like everything else.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: search-doorway, namespace: %[1]s}
rules:
- apiGroups: [facesearch.io]
  resources: [collections]
  resourceNames: [%[4]s]
  verbs: [search]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: frontdesk-search-doorway, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: search-doorway}
subjects: [{kind: ServiceAccount, name: frontdesk, namespace: %[1]s}]
`, appsNamespace, minioUser, minioPassword, doorway, bucket))
	who := people[:2]
	for _, p := range who {
		e.applyUserIn(t, appsNamespace, doorway, p, ph.enrol[p])
	}
	for _, p := range who {
		e.waitUserActiveIn(t, appsNamespace, p)
	}
	eventually(t, 3*time.Minute, "Collection doorway Ready", func() (bool, string) {
		var col facesearchv1.Collection
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: appsNamespace, Name: doorway}, &col); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(col.Status.Conditions, facesearchv1.ReadyCondition)
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", c)
	})

	// The shortcut's photo, as raw bytes in a ConfigMap the client mounts.
	shortcutUser := who[1]
	photo, err := os.ReadFile(filepath.Join(e.testfaces, "johns", shortcutUser, filepath.Base(ph.search[shortcutUser][1])))
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: appsNamespace, Name: "doorway-photo"}, BinaryData: map[string][]byte{"photo.jpg": photo}}
	if err := e.c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	cases := searchCases(ph, who)

	// The granted pod, recording its searches.
	e.sidecarPod(t, "frontdesk", "frontdesk", true, append([]string{"sidecar", "-collection", doorway, "-photo-file", "/photo/photo.jpg", "-photo-user", shortcutUser}, cases...)...)
	e.checkInjected(t, "frontdesk", true)
	calls := len(cases)/2 + 1
	if r := e.podClientWait(t, "frontdesk", 3*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != calls {
		t.Fatalf("frontdesk through its sidecar: %+v", r)
	}

	// Its searches are recorded, with who asked and the answer.
	var records []facesearchv1.SearchRequest
	eventually(t, 30*time.Second, "recorded searches", func() (bool, string) {
		var list facesearchv1.SearchRequestList
		if err := e.c.List(ctx, &list, client.InNamespace(appsNamespace), client.MatchingLabels{"facesearch.io/recorded": "true", "facesearch.io/service-account": "frontdesk"}); err != nil {
			return false, err.Error()
		}
		records = list.Items
		return len(records) >= calls, fmt.Sprintf("%d of %d", len(records), calls)
	})
	for _, sr := range records {
		c := apimeta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
		if c == nil || c.Status != metav1.ConditionTrue || len(sr.Status.UserMatches) == 0 || !slices.Contains(who, sr.Status.UserMatches[0].User.UserID) {
			t.Errorf("record %s: condition %+v, matches %+v", sr.Name, c, sr.Status.UserMatches)
		}
		if img := sr.Spec.Image; img.Bytes != nil || (img.Digest == nil && img.S3Object == nil) {
			t.Errorf("record %s keeps its image as %+v; want a digest or the S3Object", sr.Name, img)
		}
		if sr.Annotations["facesearch.io/requested-from-pod"] != "frontdesk" || sr.Annotations["facesearch.io/requested-by"] != "system:serviceaccount:"+appsNamespace+":frontdesk" {
			t.Errorf("record %s annotations %v", sr.Name, sr.Annotations)
		}
	}
	t.Logf("%d searches recorded as SearchRequests", len(records))

	// A ServiceAccount without a grant: refused, by type, on both paths.
	e.sidecarPod(t, "stranger", "stranger", false, append([]string{"sidecar", "-collection", doorway, "-photo-file", "/photo/photo.jpg", "-expect-error", "AccessDeniedException"}, cases...)...)
	e.checkInjected(t, "stranger", false)
	if r := e.podClientWait(t, "stranger", 3*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != calls {
		t.Fatalf("stranger: %+v", r)
	}

	// Tokens the endpoint must refuse, sent to it directly as a forger would.
	other := e.serviceAccountToken(t, "frontdesk", "https://kubernetes.default.svc.cluster.local", "")
	if typ := e.bearerCall(t, other); typ != "UnrecognizedClientException" {
		t.Errorf("a token for the API server's audience: %q, want UnrecognizedClientException", typ)
	}
	if typ := e.bearerCall(t, e.expiring); typ != "AccessDeniedException" {
		t.Errorf("a valid token of a ServiceAccount without a grant: %q, want AccessDeniedException", typ)
	}
	bound := e.serviceAccountToken(t, "stranger", "facesearch.io", "stranger")
	e.kubectlRun(t, "-n", appsNamespace, "delete", "pod", "stranger", "--grace-period=0", "--force", "--wait=true")
	if typ := e.bearerCall(t, bound); typ != "UnrecognizedClientException" {
		t.Errorf("a token of a deleted pod: %q, want UnrecognizedClientException", typ)
	}

	// Pods that did not ask for the sidecar were left alone.
	var pods corev1.PodList
	if err := e.c.List(ctx, &pods, client.InNamespace(appsNamespace), client.MatchingLabels{"app": "e2e-client"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if hasContainer(&p, sidecarName) {
			t.Errorf("pod %s got the sidecar without asking", p.Name)
		}
	}

	// The records expire.
	eventually(t, time.Duration(recordTTLSeconds)*time.Second+2*time.Minute, "recorded searches deleted after their TTL", func() (bool, string) {
		var list facesearchv1.SearchRequestList
		if err := e.c.List(ctx, &list, client.InNamespace(appsNamespace), client.MatchingLabels{"facesearch.io/recorded": "true"}); err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
}

// sidecarPod runs the client in a pod labelled for injection, as ServiceAccount sa, with no
// key and no CA of its own: the sidecar is its only way to the endpoint.
func (e *env) sidecarPod(t *testing.T, name, sa string, record bool, args ...string) {
	t.Helper()
	argsJSON, _ := json.Marshal(append([]string{"/client"}, args...))
	annotations := "{}"
	if record {
		annotations = `{sidecar.facesearch.io/record: "true"}`
	}
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: %[2]s
  labels: {app: e2e-sidecar-client, sidecar.facesearch.io/inject: "true"}
  annotations: %[7]s
spec:
  serviceAccountName: %[3]s
  automountServiceAccountToken: false
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: client
    image: %[4]s
    imagePullPolicy: Never
    command: %[5]s
    env:
    - {name: FACESEARCH_ENDPOINT, value: "http://127.0.0.1:8480"}
    - {name: FACESEARCH_BUCKET, value: %[6]s}
    - {name: AWS_ACCESS_KEY_ID, value: any}
    - {name: AWS_SECRET_ACCESS_KEY, value: any}
    volumeMounts: [{name: photo, mountPath: /photo, readOnly: true}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 128Mi}}
  volumes:
  - name: photo
    configMap: {name: doorway-photo}
`, name, appsNamespace, sa, e.toolsImage, argsJSON, bucket, annotations))
}

// checkInjected checks the pod the API server stored: the sidecar as a native sidecar, its
// projected token for the endpoint's audience, and no key anywhere.
func (e *env) checkInjected(t *testing.T, name string, record bool) {
	t.Helper()
	var pod corev1.Pod
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: appsNamespace, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	var sc *corev1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == sidecarName {
			sc = &pod.Spec.InitContainers[i]
		}
	}
	if sc == nil || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("pod %s: no native sidecar %s injected (init containers %+v)", name, sidecarName, pod.Spec.InitContainers)
	}
	if got := slices.Contains(sc.Args, "--record"); got != record {
		t.Errorf("pod %s: sidecar args %v, --record %v; want %v", name, sc.Args, got, record)
	}
	audience := ""
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience != "" {
				audience = s.ServiceAccountToken.Audience
			}
		}
	}
	if audience != "facesearch.io" {
		t.Errorf("pod %s: projected token audience %q, want facesearch.io", name, audience)
	}
	for _, c := range append(pod.Spec.Containers, pod.Spec.InitContainers...) {
		for _, env := range c.Env {
			if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
				t.Errorf("pod %s: container %s reads Secret %s: the in-cluster path needs no static key", name, c.Name, env.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range append(p.Spec.Containers, p.Spec.InitContainers...) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// podClientWait is clientWait for a pod whose main container is "client" beside a sidecar.
func (e *env) podClientWait(t *testing.T, name string, timeout time.Duration) clientResult {
	t.Helper()
	eventually(t, timeout, "client in pod "+name+" to finish", func() (bool, string) {
		var pod corev1.Pod
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: appsNamespace, Name: name}, &pod); err != nil {
			return false, err.Error()
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == "client" && s.State.Terminated != nil {
				return true, ""
			}
		}
		return false, string(pod.Status.Phase) + " " + podWhy(&pod)
	})
	return e.clientResult(t, name, "client")
}

// serviceAccountToken asks the API server for a token of an apps ServiceAccount, bound to a
// pod when one is named.
func (e *env) serviceAccountToken(t *testing.T, sa, audience, pod string) string {
	t.Helper()
	ctx := context.Background()
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)}}
	if pod != "" {
		var p corev1.Pod
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: appsNamespace, Name: pod}, &p); err != nil {
			t.Fatal(err)
		}
		req.Spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID}
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: appsNamespace, Name: sa}}
	if err := e.c.SubResource("token").Create(ctx, account, req); err != nil {
		t.Fatal(err)
	}
	return req.Status.Token
}

// bearerCall sends a search with the token straight to the api Service (its ClusterIP, from
// the host through kube-proxy) and returns the error type of the answer ("" for 200).
func (e *env) bearerCall(t *testing.T, token string) string {
	t.Helper()
	ctx := context.Background()
	var svc corev1.Service
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: release + "-api"}, &svc); err != nil {
		t.Fatal(err)
	}
	var sec corev1.Secret
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: release + "-api-tls"}, &sec); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sec.Data["ca.crt"])
	host := release + "-api." + releaseNamespace + ".svc"
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(svc.Spec.ClusterIP, "8443"))
		},
	}
	body := fmt.Sprintf(`{"CollectionId":%q,"Image":{"S3Object":{"Bucket":%q,"Name":"photos/x.jpg"}}}`, doorway, bucket)
	req, err := http.NewRequest(http.MethodPost, "https://"+host+":8443/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "RekognitionService.SearchUsersByImage")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.Header.Get("X-Amzn-ErrorType")
}

// expiredToken: the token made at install, valid then (refused for want of a grant in
// SidecarSearchesWithPodIdentity), is refused as expired once its 10 minutes have passed.
func (e *env) expiredToken(t *testing.T) {
	if wait := time.Until(e.expiresAt.Add(5 * time.Second)); wait > 0 {
		t.Logf("waiting %s for the token to expire", wait.Round(time.Second))
		time.Sleep(wait)
	}
	if typ := e.bearerCall(t, e.expiring); typ != "ExpiredTokenException" {
		t.Errorf("an expired token: %q, want ExpiredTokenException", typ)
	}
}
