package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

// env is what make e2e hands the suite: the node's kubeconfig, the images it loaded into
// the node and the tools to drive it.
type env struct {
	kubeconfig string
	kubectl    string
	helm       string
	image      string // the operator's image, built from the Dockerfile
	upgrade    string // the same image under another tag: the release helm upgrade moves to
	toolsImage string // MinIO and the SDK client
	testfaces  string
	chart      string
	c          client.Client
	// expiring is a token of apps' default ServiceAccount for the endpoint's audience, made at
	// install with the shortest lifetime the API server issues (10 minutes), and expiresAt its
	// expiry: the last case checks that the endpoint refuses it once expired.
	expiring  string
	expiresAt time.Time
}

func loadEnv(t *testing.T) *env {
	t.Helper()
	kc := os.Getenv("FACESEARCH_E2E_KUBECONFIG")
	if kc == "" {
		t.Skip("FACESEARCH_E2E_KUBECONFIG is not set: run make e2e, which brings up a node and sets it")
	}
	e := &env{
		kubeconfig: kc,
		kubectl:    filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"),
		helm:       os.Getenv("FACESEARCH_HELM"),
		image:      os.Getenv("FACESEARCH_E2E_IMAGE"),
		toolsImage: os.Getenv("FACESEARCH_E2E_TOOLS_IMAGE"),
		upgrade:    os.Getenv("FACESEARCH_E2E_UPGRADE_IMAGE"),
		testfaces:  os.Getenv("FACESEARCH_TESTFACES"),
	}
	for k, v := range map[string]string{"FACESEARCH_HELM": e.helm, "FACESEARCH_E2E_IMAGE": e.image,
		"FACESEARCH_E2E_TOOLS_IMAGE": e.toolsImage, "FACESEARCH_E2E_UPGRADE_IMAGE": e.upgrade,
		"FACESEARCH_TESTFACES": e.testfaces, "KUBEBUILDER_ASSETS": e.kubectl} {
		if v == "" {
			t.Fatalf("%s is not set (make e2e sets it)", k)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e.chart = filepath.Join(root, "charts", "facesearch")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := facesearchv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if e.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a command with the node's kubeconfig and returns its standard output.
func (e *env) run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	out, err := e.try(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

func (e *env) try(stdin string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (e *env) kubectlRun(t *testing.T, args ...string) string {
	return e.run(t, "", e.kubectl, args...)
}

func (e *env) apply(t *testing.T, manifest string) {
	t.Helper()
	e.run(t, manifest, e.kubectl, "apply", "-f", "-")
}

// eventually polls cond every second until it returns true or the timeout passes; the last
// reason it gave is in the failure.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if ok, why := within(t, timeout, what, cond); !ok {
		t.Fatalf("%s: not after %s (%s)", what, timeout, why)
	}
}

// within is eventually without the failure: whether cond held in time, and its last reason.
func within(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) (bool, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return true, ""
		}
		if why != last {
			t.Logf("waiting for %s: %s", what, why)
			last = why
		}
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(time.Second)
	}
}

// podsReady says whether every pod matching the selector in ns is Running and Ready, and
// there are want of them (want < 0: any number above zero).
func (e *env) podsReady(ns string, sel client.MatchingLabels, want int) (bool, string) {
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(ns), sel); err != nil {
		return false, err.Error()
	}
	n := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			return false, p.Name + " is terminating"
		}
		if !isReady(p) {
			return false, fmt.Sprintf("%s is %s, not ready (%s)", p.Name, p.Status.Phase, podWhy(p))
		}
		n++
	}
	if n == 0 || (want >= 0 && n != want) {
		return false, fmt.Sprintf("%d ready pods, want %d", n, want)
	}
	return true, ""
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podWhy(p *corev1.Pod) string {
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			return cs.Name + ": " + w.Reason + " " + w.Message
		}
		if x := cs.State.Terminated; x != nil && x.ExitCode != 0 {
			return fmt.Sprintf("%s: exited %d %s", cs.Name, x.ExitCode, x.Reason)
		}
		if cs.RestartCount > 0 {
			return fmt.Sprintf("%s: %d restarts", cs.Name, cs.RestartCount)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			return c.Message
		}
	}
	return ""
}

// clientResult is the RESULT line of the SDK client (test/e2e/client).
type clientResult struct {
	Mode    string            `json:"mode"`
	OK      int               `json:"ok"`
	Failed  int               `json:"failed"`
	Wrong   int               `json:"wrong"`
	Errors  []string          `json:"errors"`
	Matches map[string]string `json:"matches"`
	// What the SDK retried: HTTP attempts and the failed ones among them.
	Attempts        int `json:"attempts"`
	AttemptFailures int `json:"attemptFailures"`
	// The writer of a load: indexed, failed, lost and duplicated faces.
	Writes, WriteFailed, Lost, Duplicated int
	// The searches of a load: per second, and p50/p99 latency in milliseconds.
	Rate     float64 `json:"rate"`
	P50, P99 float64
}

var progressRE = regexp.MustCompile(`PROGRESS ok=(\d+) failed=(\d+) wrong=(\d+)`)

// clientPod starts the SDK client as a Pod in the apps namespace, with the endpoint's address,
// a key pair and the CA that the suite gave that namespace.
func (e *env) clientPod(t *testing.T, name string, args ...string) {
	t.Helper()
	_, _ = e.try("", e.kubectl, "-n", appsNamespace, "delete", "pod", name, "--ignore-not-found", "--grace-period=0", "--force")
	argsJSON, _ := json.Marshal(append([]string{"/client"}, args...))
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s, namespace: %[2]s, labels: {app: e2e-client}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: client
    image: %[3]s
    imagePullPolicy: Never
    command: %[4]s
    env:
    - {name: FACESEARCH_ENDPOINT, value: "%[5]s"}
    - {name: FACESEARCH_CA_FILE, value: /ca/ca.crt}
    - {name: FACESEARCH_BUCKET, value: %[6]s}
    - name: AWS_ACCESS_KEY_ID
      valueFrom: {secretKeyRef: {name: api-client, key: accessKeyId}}
    - name: AWS_SECRET_ACCESS_KEY
      valueFrom: {secretKeyRef: {name: api-client, key: secretAccessKey}}
    volumeMounts: [{name: ca, mountPath: /ca, readOnly: true}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 128Mi}}
  volumes:
  - name: ca
    configMap: {name: api-ca}
`, name, appsNamespace, e.toolsImage, argsJSON, apiEndpoint, bucket))
}

// clientProgress reads the client Pod's last PROGRESS line.
func (e *env) clientProgress(name string) (ok, failed, wrong int, err error) {
	logs, err := e.try("", e.kubectl, "-n", appsNamespace, "logs", name)
	if err != nil {
		return 0, 0, 0, err
	}
	m := progressRE.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		return 0, 0, 0, nil
	}
	last := m[len(m)-1]
	ok, _ = strconv.Atoi(last[1])
	failed, _ = strconv.Atoi(last[2])
	wrong, _ = strconv.Atoi(last[3])
	return ok, failed, wrong, nil
}

// clientWait waits for the client Pod to finish and returns its RESULT.
func (e *env) clientWait(t *testing.T, name string, timeout time.Duration) clientResult {
	t.Helper()
	var pod corev1.Pod
	eventually(t, timeout, "client pod "+name+" to finish", func() (bool, string) {
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: appsNamespace, Name: name}, &pod); err != nil {
			return false, err.Error()
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return true, ""
		}
		return false, string(pod.Status.Phase) + " " + podWhy(&pod)
	})
	return e.clientResult(t, name, "client")
}

// clientResult reads the RESULT line the client printed in a pod's container.
func (e *env) clientResult(t *testing.T, name, container string) clientResult {
	t.Helper()
	logs := e.kubectlRun(t, "-n", appsNamespace, "logs", name, "-c", container)
	i := strings.LastIndex(logs, "RESULT ")
	if i < 0 {
		t.Fatalf("client pod %s printed no RESULT:\n%s", name, logs)
	}
	var r clientResult
	line := strings.TrimSpace(strings.SplitN(logs[i+len("RESULT "):], "\n", 2)[0])
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("client pod %s: %v in %q", name, err, line)
	}
	t.Logf("client %s: ok=%d failed=%d wrong=%d errors=%v matches=%v", name, r.OK, r.Failed, r.Wrong, r.Errors, r.Matches)
	return r
}
