package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/facesearch/facesearch-operator/internal/pki"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// clock is the renewals' time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

const serviceHost = "fs-facesearch-webhook.facesearch-system.svc"

// TestMain gives controller-runtime's own loggers (the webhook server's) a sink: errors only,
// everything with FACESEARCH_TEST_DEBUG.
func TestMain(m *testing.M) {
	level := zapcore.ErrorLevel
	if os.Getenv("FACESEARCH_TEST_DEBUG") != "" {
		level = zapcore.DebugLevel
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	os.Exit(m.Run())
}

// TestOnAPIServer runs the webhook against a real kube-apiserver (envtest): replicas racing
// for the self-managed certificate, its renewals, pods created through the API server, and a
// certificate served from files.
func TestOnAPIServer(t *testing.T) {
	cp := testenv.ControlPlane(t)
	ctx := context.Background()
	admin, err := client.NewWithWatch(cp.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{testNamespace, "apps"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("replicas racing for the Secret", func(t *testing.T) { testRace(ctx, t, admin) })
	t.Run("renewals near expiry", func(t *testing.T) { testRenewal(ctx, t, admin) })
	t.Run("pods through the API server", func(t *testing.T) { testPods(ctx, t, cp.Config, admin) })
	t.Run("certificate from files", func(t *testing.T) { testFiles(ctx, t, cp.Config) })
}

// configuration is a MutatingWebhookConfiguration as the chart renders it, calling url; a
// second webhook checks that every one gets the caBundle.
func configuration(name, url string, webhooks int) *admissionregistrationv1.MutatingWebhookConfiguration {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for i := range webhooks {
		mwc.Webhooks = append(mwc.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name:         fmt.Sprintf("sidecar%d.facesearch.io", i),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url)},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{InjectLabel: "true"}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{testNamespace, "kube-system"}}}},
		})
	}
	return mwc
}

// unreachable is the URL of the configurations whose webhooks are never called: their
// objectSelector matches no pod of the test.
func unreachable(mwc *admissionregistrationv1.MutatingWebhookConfiguration) *admissionregistrationv1.MutatingWebhookConfiguration {
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"never": "true"}}
	}
	return mwc
}

func newCertifier(t *testing.T, c client.Client, reader client.Reader, secret, config string, now func() time.Time) *Certifier {
	return &Certifier{Client: c, Reader: reader, Secret: types.NamespacedName{Namespace: testNamespace, Name: secret},
		Configuration: config, Hosts: []string{serviceHost, "fs-facesearch-webhook.facesearch-system", "fs-facesearch-webhook"},
		Now: now, Log: testr.New(t)}
}

// served is the certificate a Certifier serves.
func served(t *testing.T, c *Certifier) *x509.Certificate {
	t.Helper()
	cert, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return cert.Leaf
}

// state reads the Secret and the caBundle of every webhook of the configuration, which must
// all be the Secret's ca.crt.
func state(ctx context.Context, t *testing.T, c client.Client, secret, config string) (*corev1.Secret, *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: testNamespace, Name: secret}, sec); err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, types.NamespacedName{Name: config}, mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if string(w.ClientConfig.CABundle) != string(sec.Data[CACertKey]) {
			t.Errorf("webhook %s's caBundle is not the Secret's ca.crt", w.Name)
		}
	}
	return sec, mwc
}

// verifies says whether cert chains to a CA of caPEM for the Service's name at now.
func verifies(cert *x509.Certificate, caPEM []byte, now time.Time) bool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: serviceHost, CurrentTime: now})
	return err == nil
}

func testRace(ctx context.Context, t *testing.T, admin client.WithWatch) {
	if err := admin.Create(ctx, unreachable(configuration("race", "https://127.0.0.1:1/none", 2))); err != nil {
		t.Fatal(err)
	}
	// B makes the Secret between A's read and A's create: A's create fails with
	// AlreadyExists, and A serves what B made.
	b := newCertifier(t, admin, admin, "race-tls", "race", nil)
	var once sync.Once
	aClient := interceptor.NewClient(admin, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		var err error
		once.Do(func() { err = b.Reconcile(ctx) })
		if err != nil {
			return err
		}
		return c.Create(ctx, obj, opts...)
	}})
	a := newCertifier(t, aClient, admin, "race-tls", "race", nil)
	if err := a.Reconcile(ctx); err != nil {
		t.Fatalf("the replica that lost the race: %v", err)
	}
	sec, _ := state(ctx, t, admin, "race-tls", "race")
	if !served(t, a).Equal(served(t, b)) || !served(t, a).Equal(leaf(t, sec.Data[corev1.TLSCertKey])) {
		t.Error("the two replicas do not both serve the Secret's certificate")
	}
	if !verifies(served(t, a), sec.Data[CACertKey], time.Now()) {
		t.Error("the served certificate does not verify against the caBundle for the Service's name")
	}
	if sec.Type != corev1.SecretTypeTLS || len(sec.Data[CAKeyKey]) == 0 {
		t.Errorf("Secret of type %s with keys %v, want kubernetes.io/tls with ca.key", sec.Type, keys(sec.Data))
	}

	// Four replicas starting at once, on a Secret that does not exist yet.
	if err := admin.Create(ctx, unreachable(configuration("race-all", "https://127.0.0.1:1/none", 1))); err != nil {
		t.Fatal(err)
	}
	replicas := make([]*Certifier, 4)
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i := range replicas {
		replicas[i] = newCertifier(t, admin, admin, "race-all-tls", "race-all", nil)
		wg.Go(func() { errs[i] = replicas[i].Reconcile(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sec, _ = state(ctx, t, admin, "race-all-tls", "race-all")
	for i, r := range replicas {
		if !served(t, r).Equal(leaf(t, sec.Data[corev1.TLSCertKey])) {
			t.Errorf("replica %d does not serve the Secret's certificate", i)
		}
	}
}

func testRenewal(ctx context.Context, t *testing.T, admin client.WithWatch) {
	if err := admin.Create(ctx, unreachable(configuration("renew", "https://127.0.0.1:1/none", 1))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	clk := &clock{t: start}
	b := newCertifier(t, admin, admin, "renew-tls", "renew", clk.Now)
	// A's update of a renewal comes after B's: it conflicts, and A serves what B wrote.
	var bFirst bool
	aClient := interceptor.NewClient(admin, interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		if bFirst {
			bFirst = false
			if err := b.Reconcile(ctx); err != nil {
				return err
			}
		}
		return c.Update(ctx, obj, opts...)
	}})
	a := newCertifier(t, aClient, admin, "renew-tls", "renew", clk.Now)
	reconcile := func(cs ...*Certifier) {
		t.Helper()
		for _, c := range cs {
			if err := c.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	reconcile(a, b)
	sec0, mwc0 := state(ctx, t, admin, "renew-tls", "renew")
	first := served(t, a)

	// 200 of 365 days: more than a third left, nothing written.
	clk.set(start.Add(200 * 24 * time.Hour))
	reconcile(a, b)
	sec, mwc := state(ctx, t, admin, "renew-tls", "renew")
	if sec.ResourceVersion != sec0.ResourceVersion || mwc.ResourceVersion != mwc0.ResourceVersion || !served(t, a).Equal(first) {
		t.Error("renewed with more than a third of the validity left")
	}

	// 250 days: less than a third left. The serving certificate is renewed under the same CA,
	// so the caBundle stays; B renews first and A, conflicting, takes B's.
	clk.set(start.Add(250 * 24 * time.Hour))
	bFirst = true
	reconcile(a)
	sec, mwc = state(ctx, t, admin, "renew-tls", "renew")
	renewed := served(t, a)
	if renewed.Equal(first) || !renewed.Equal(served(t, b)) {
		t.Fatal("after the renewal, A and B do not both serve a new certificate")
	}
	if string(sec.Data[CACertKey]) != string(sec0.Data[CACertKey]) || mwc.ResourceVersion != mwc0.ResourceVersion {
		t.Error("renewing the serving certificate changed the CA or the caBundle")
	}
	if !verifies(renewed, sec.Data[CACertKey], clk.Now()) || renewed.NotAfter.Before(clk.Now().Add(364*24*time.Hour)) {
		t.Errorf("the renewed certificate does not verify or expires on %v", renewed.NotAfter)
	}

	// 6.5 years: the serving certificate has long expired and is renewed, still under the
	// first CA (it has more than a third of its 10 years left).
	clk.set(start.Add(13 * 365 * 24 * time.Hour / 2))
	reconcile(a, b)
	sec, _ = state(ctx, t, admin, "renew-tls", "renew")
	if string(sec.Data[CACertKey]) != string(sec0.Data[CACertKey]) || !verifies(served(t, b), sec.Data[CACertKey], clk.Now()) {
		t.Fatal("at 6.5 years: want a valid certificate under the first CA")
	}

	// 7 years: the CA is renewed with a new serving certificate, and the old CA stays in the
	// caBundle while replicas still serve the certificate it signed.
	clk.set(start.Add(7 * 365 * 24 * time.Hour))
	reconcile(a)
	sec, _ = state(ctx, t, admin, "renew-tls", "renew")
	if n := strings.Count(string(sec.Data[CACertKey]), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("ca.crt holds %d certificates after the CA's renewal, want the new and the old", n)
	}
	stale := served(t, b) // B has not re-read the Secret yet
	if !verifies(stale, sec.Data[CACertKey], clk.Now()) {
		t.Error("the API server would refuse the replica still serving the old CA's certificate")
	}
	if verifies(served(t, a), sec0.Data[CACertKey], clk.Now()) || !verifies(served(t, a), firstPEMBlock(t, sec.Data[CACertKey]), clk.Now()) {
		t.Error("the new serving certificate is not the new CA's")
	}
	reconcile(b)
	if !served(t, b).Equal(served(t, a)) {
		t.Error("B does not serve the new certificate after its re-read")
	}

	// Past the old CA's end: it leaves the bundle.
	clk.set(start.Add(10*365*24*time.Hour + 24*time.Hour))
	reconcile(a)
	sec, _ = state(ctx, t, admin, "renew-tls", "renew")
	if n := strings.Count(string(sec.Data[CACertKey]), "BEGIN CERTIFICATE"); n != 1 {
		t.Errorf("ca.crt holds %d certificates after the old CA expired, want 1", n)
	}
	if !verifies(served(t, a), sec.Data[CACertKey], clk.Now()) {
		t.Error("the served certificate does not verify at the end")
	}
}

// firstPEMBlock is the first certificate of a PEM bundle.
func firstPEMBlock(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	return pem.EncodeToMemory(block)
}

// leaf parses the first certificate of a PEM bundle.
func leaf(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// testPods: a manager bound to the generated ClusterRole serves the webhook with its own
// certificate; the API server calls it for the labelled pods only.
func testPods(ctx context.Context, t *testing.T, cfg *rest.Config, admin client.Client) {
	port := freePort(t)
	if err := admin.Create(ctx, configuration("pods-injector", fmt.Sprintf("https://127.0.0.1:%d%s", port, Path), 1)); err != nil {
		t.Fatal(err)
	}
	// The chart's injection would otherwise stay in the API server for the other subtests.
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "pods-injector"}})
	})
	apiCA, _ := pki.NewCA("api CA", time.Hour)
	apiTLS := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "fs-facesearch-api-tls"},
		Data: map[string][]byte{CACertKey: apiCA.CertPEM}}
	if err := admin.Create(ctx, apiTLS); err != nil {
		t.Fatal(err)
	}
	startManager(t, asManagerRole(ctx, t, cfg, admin), Options{
		Port: port, Host: "127.0.0.1", Namespace: testNamespace, CertMode: CertSelf,
		Service: "fs-facesearch-webhook", Secret: "pods-webhook-tls", Configuration: "pods-injector",
		ExtraHosts: []string{"127.0.0.1"}, EndpointCASecret: apiTLS.Name,
		Sidecar: Sidecar{Image: testImage, Endpoint: testEndpoint},
	})

	pod := func(labels, annotations map[string]string) *corev1.Pod {
		p := appPod(labels, annotations)
		p.Spec.Containers[0].Ports = nil
		// A cluster's ServiceAccount admission sets it before the webhooks run; envtest's
		// API server has that plugin off, and a projected token needs it.
		p.Spec.ServiceAccountName = "default"
		return p
	}
	injected := func(p *corev1.Pod) bool {
		return len(p.Spec.InitContainers) == 1 && p.Spec.InitContainers[0].Name == ContainerName
	}
	// The API server sees the caBundle a moment after the manager writes it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := pod(inject, nil)
		err := admin.Create(ctx, p, client.DryRunAll)
		if err == nil && injected(p) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a labelled pod is still not injected (err %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	labelled := pod(inject, map[string]string{RecordAnnotation: "true"})
	if err := admin.Create(ctx, labelled); err != nil {
		t.Fatal(err)
	}
	if !injected(labelled) {
		t.Fatalf("labelled pod created without the sidecar: %+v", labelled.Spec.InitContainers)
	}
	c := labelled.Spec.InitContainers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env[EndpointEnv] != testEndpoint || env[EndpointCAEnv] != string(apiCA.CertPEM) {
		t.Errorf("sidecar env %v: want the endpoint and the api Secret's ca.crt", env)
	}
	if c.Args[len(c.Args)-1] != "--record" || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar args %q, restartPolicy %v: want --record and a native sidecar", c.Args, c.RestartPolicy)
	}
	if len(labelled.Spec.Volumes) == 0 || labelled.Spec.Volumes[len(labelled.Spec.Volumes)-1].Name != TokenVolumeName {
		t.Errorf("volumes %+v lack the token volume", labelled.Spec.Volumes)
	}

	plain := pod(nil, nil)
	if err := admin.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if len(plain.Spec.InitContainers) != 0 {
		t.Errorf("an unlabelled pod got init containers %+v", plain.Spec.InitContainers)
	}
	own := pod(inject, nil)
	own.Namespace = testNamespace
	if err := admin.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	if len(own.Spec.InitContainers) != 0 {
		t.Errorf("a pod of the operator's namespace got init containers %+v", own.Spec.InitContainers)
	}
	err := admin.Create(ctx, pod(inject, map[string]string{PortAnnotation: "80"}))
	if err == nil || !strings.Contains(err.Error(), "must be a number from 1024 to 65535") {
		t.Errorf("a pod with port 80 was not refused with the reason: %v", err)
	}
}

// asManagerRole is cfg impersonating a user bound to the ClusterRole generated from the RBAC
// markers (config/rbac/role.yaml), so that a missing marker fails here.
func asManagerRole(ctx context.Context, t *testing.T, cfg *rest.Config, admin client.Client) *rest.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	const user = "facesearch-webhook-test"
	role.Name = user
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	out := rest.CopyConfig(cfg)
	out.Impersonate = rest.ImpersonationConfig{UserName: user}
	return out
}

// startManager runs a manager with the webhook until the test ends.
func startManager(t *testing.T, cfg *rest.Config, o Options) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: clientgoscheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0", Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// testFiles: with CertFiles the server serves the pair in the directory, and the new one when
// the files change (as the kubelet updates a mounted Secret).
func testFiles(ctx context.Context, t *testing.T, cfg *rest.Config) {
	dir := t.TempDir()
	write := func(name string) *x509.Certificate {
		t.Helper()
		ca, err := pki.NewCA(name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := pki.IssueServing(ca, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// The key first: the watcher reloads once both match.
		for _, f := range []struct {
			name string
			data []byte
		}{{corev1.TLSPrivateKeyKey, kp.KeyPEM}, {corev1.TLSCertKey, kp.CertPEM}} {
			if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf
	}
	want := write("first")
	port := freePort(t)
	startManager(t, cfg, Options{Port: port, Host: "127.0.0.1", Namespace: testNamespace, CertMode: CertFiles, CertDir: dir,
		Sidecar: Sidecar{Image: testImage, Endpoint: testEndpoint}})
	servedCert := func() (*x509.Certificate, error) {
		d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test compares the certificate itself
		conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}
	waitFor := func(what string, want *x509.Certificate, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			got, err := servedCert()
			if err == nil && got.Equal(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still not served after %v (err %v)", what, timeout, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the files' certificate", want, 30*time.Second)
	// Past certwatcher's 10 s poll, should its file watch miss the change.
	waitFor("the rewritten certificate", write("second"), 30*time.Second)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
