package chart

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	certFlag      = "--api-tls-cert-file=/etc/facesearch/api-tls/tls.crt"
	keyFlag       = "--api-tls-key-file=/etc/facesearch/api-tls/tls.key"
	chartTLSName  = releaseName + "-facesearch-api-tls"
	apiService    = releaseName + "-facesearch-api"
	withCertMgr   = "--api-versions=cert-manager.io/v1"
	apiTLSMountAt = "/etc/facesearch/api-tls"
)

// apiDNSNames are the names a client in the cluster may use for the api Service.
var apiDNSNames = []string{apiService, apiService + "." + releaseNamespace, apiService + "." + releaseNamespace + ".svc",
	apiService + "." + releaseNamespace + ".svc.cluster.local"}

// renderArgs runs helm template with the default values and extra arguments.
func renderArgs(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := decodeObjects(runHelm(t, append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, args...)...))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// managerContainer returns the manager's pod spec and container.
func managerContainer(t *testing.T, objs []*unstructured.Unstructured) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	dep := find(objs, "Deployment", releaseName+"-facesearch-manager")
	if dep == nil {
		t.Fatal("no manager Deployment")
	}
	tpl := podTemplate(t, dep)
	return &tpl.Spec, &tpl.Spec.Containers[0]
}

// apiContainer returns the api pods' spec and container.
func apiContainer(t *testing.T, objs []*unstructured.Unstructured) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	dep, c := apiDeployment(t, objs)
	return &dep.Spec.Template.Spec, c
}

// mountedTLSSecret is the Secret a container mounts at the API's TLS path, or "".
func mountedTLSSecret(t *testing.T, spec *corev1.PodSpec, c *corev1.Container) string {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != apiTLSMountAt {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("the TLS Secret is mounted with subPath %q: the kubelet would not update it", m.SubPath)
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
		t.Fatalf("mount %s names no Secret volume", m.Name)
	}
	return ""
}

// TestAPITLSByDefault renders the chart as installed with its defaults, on a cluster without
// and with cert-manager, and with the TLS values changed: the API is HTTPS unless turned
// off, the api pods get the TLS flags and the Secret (the manager neither), and the
// certificate is the chart's (Helm's CA, or cert-manager's) unless the user names a Secret.
func TestAPITLSByDefault(t *testing.T) {
	cases := []struct {
		name string
		args []string
		// secret is the Secret mounted into the api pods ("" for plain HTTP).
		secret string
		// source: "helm" (a generated Secret), "cert-manager" (the chart's CA chain),
		// "issuer" (a Certificate from the user's issuer), "" (nothing rendered).
		source string
	}{
		{name: "defaults without cert-manager", secret: chartTLSName, source: "helm"},
		{name: "defaults with cert-manager", args: []string{withCertMgr}, secret: chartTLSName, source: "cert-manager"},
		{name: "cert-manager present but not wanted", args: []string{withCertMgr, "--set", "api.tls.certManager.enabled=false"}, secret: chartTLSName, source: "helm"},
		{name: "cert-manager with the user's issuer", args: []string{withCertMgr, "--set-json", `api.tls.certManager.issuerRef={"name":"corp-ca","kind":"ClusterIssuer","group":"cert-manager.io"}`}, secret: chartTLSName, source: "issuer"},
		{name: "the user's Secret", args: []string{withCertMgr, "--set", "api.tls.secretName=my-api-tls"}, secret: "my-api-tls"},
		{name: "TLS turned off", args: []string{"--set", "api.tls.enabled=false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderArgs(t, tc.args...)
			spec, c := apiContainer(t, objs)
			tlsOn := tc.secret != ""
			if contains(c.Args, certFlag) != tlsOn || contains(c.Args, keyFlag) != tlsOn {
				t.Errorf("api args %q: TLS flags present = %v, want %v", c.Args, contains(c.Args, certFlag), tlsOn)
			}
			if got := mountedTLSSecret(t, spec, c); got != tc.secret {
				t.Errorf("api pods mount TLS Secret %q, want %q", got, tc.secret)
			}
			mspec, mc := managerContainer(t, objs)
			if got := mountedTLSSecret(t, mspec, mc); got != "" || contains(mc.Args, certFlag) || contains(mc.Args, keyFlag) {
				t.Errorf("the manager still takes the API's certificate (Secret %q, args %q)", got, mc.Args)
			}
			svc := find(objs, "Service", apiService)
			if svc == nil {
				t.Fatal("no api Service")
			}
			ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			wantPort := map[bool]string{true: "https", false: "http"}[tlsOn]
			if len(ports) != 1 || ports[0].(map[string]any)["name"] != wantPort {
				t.Errorf("api Service ports %v, want one named %s", ports, wantPort)
			}

			secret := find(objs, "Secret", chartTLSName)
			if (secret != nil) != (tc.source == "helm") {
				t.Errorf("Secret %s rendered = %v, want %v", chartTLSName, secret != nil, tc.source == "helm")
			}
			if secret != nil {
				checkGeneratedSecret(t, secret)
			}
			// The API's; the sidecar injection webhook's are TestSidecarInjection's.
			certs, issuers := countComponent(objs, "Certificate", "api"), countComponent(objs, "Issuer", "api")
			want := map[string][2]int{"cert-manager": {2, 2}, "issuer": {1, 0}}[tc.source]
			if certs != want[0] || issuers != want[1] {
				t.Errorf("%d Certificates and %d Issuers, want %d and %d", certs, issuers, want[0], want[1])
			}
			if want[0] > 0 {
				checkCertificate(t, objs, tc.source == "cert-manager")
			}
		})
	}
	// The flags the chart passes exist in the binary.
	_, c := apiContainer(t, renderArgs(t))
	assertFlagsDefined(t, "api", c.Args[1:])
}

// checkGeneratedSecret: Helm's Secret holds a key pair for the api Service's names and the
// CA that signed it.
func checkGeneratedSecret(t *testing.T, secret *unstructured.Unstructured) {
	t.Helper()
	if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != string(corev1.SecretTypeTLS) {
		t.Errorf("Secret type %q, want %s", typ, corev1.SecretTypeTLS)
	}
	data := map[string][]byte{}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		v, _, _ := unstructured.NestedString(secret.Object, "data", k)
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			t.Fatalf("Secret data %s: %v (%d bytes)", k, err, len(b))
		}
		data[k] = b
	}
	pair, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"])
	if err != nil {
		t.Fatalf("tls.crt and tls.key are no pair: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data["ca.crt"]) {
		t.Fatal("ca.crt holds no certificate")
	}
	block, _ := pem.Decode(data["ca.crt"])
	if ca, err := x509.ParseCertificate(block.Bytes); err != nil || !ca.IsCA {
		t.Errorf("ca.crt is not a CA certificate (%v)", err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range apiDNSNames {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the certificate does not verify for %s with ca.crt: %v", name, err)
		}
	}
}

// checkCertificate: cert-manager's Certificate writes the Secret the api pods mount, for the
// api Service's names; with the chart's own chain, its issuer is a CA Issuer whose CA
// Certificate the selfSigned Issuer signs.
func checkCertificate(t *testing.T, objs []*unstructured.Unstructured, ownChain bool) {
	t.Helper()
	cert := find(objs, "Certificate", apiService)
	if cert == nil {
		t.Fatalf("no Certificate %s", apiService)
	}
	if got, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); got != chartTLSName {
		t.Errorf("Certificate secretName %q, want %q", got, chartTLSName)
	}
	names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	for _, n := range apiDNSNames {
		if !contains(names, n) {
			t.Errorf("Certificate dnsNames %v lack %s", names, n)
		}
	}
	issuer, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef")
	if !ownChain {
		if issuer["name"] != "corp-ca" || issuer["kind"] != "ClusterIssuer" {
			t.Errorf("issuerRef %v, want the user's ClusterIssuer corp-ca", issuer)
		}
		return
	}
	caIssuer := find(objs, "Issuer", issuer["name"])
	if caIssuer == nil || issuer["kind"] != "Issuer" {
		t.Fatalf("issuerRef %v names no rendered Issuer", issuer)
	}
	caSecret, _, _ := unstructured.NestedString(caIssuer.Object, "spec", "ca", "secretName")
	var caCert *unstructured.Unstructured
	for _, o := range objs {
		if s, _, _ := unstructured.NestedString(o.Object, "spec", "secretName"); o.GetKind() == "Certificate" && s == caSecret {
			caCert = o
		}
	}
	if caSecret == "" || caCert == nil {
		t.Fatalf("the CA Issuer's Secret %q is written by no Certificate", caSecret)
	}
	if isCA, _, _ := unstructured.NestedBool(caCert.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate is not isCA")
	}
	selfRef, _, _ := unstructured.NestedStringMap(caCert.Object, "spec", "issuerRef")
	self := find(objs, "Issuer", selfRef["name"])
	if self == nil {
		t.Fatalf("the CA Certificate's issuer %v is not rendered", selfRef)
	}
	if _, ok, _ := unstructured.NestedMap(self.Object, "spec", "selfSigned"); !ok {
		t.Errorf("the CA Certificate's issuer %s is not selfSigned", self.GetName())
	}
}

// TestFetchedModelPacksArePinned: with modelPacks.source=fetch the chart needs each archive's
// sha256 and the init container checks it before unpacking.
func TestFetchedModelPacksArePinned(t *testing.T) {
	base := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--set", "modelPacks.source=fetch",
		"--set", "modelPacks.packs={faceplugin-1.0}", "--set", "modelPacks.fetch.urls.faceplugin-1\\.0=http://models/fp.tar.gz"}
	out, err := exec.Command(helmBinary(t), base...).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("modelPacks.fetch.sha256.faceplugin-1.0 is required")) {
		t.Errorf("fetch without a sha256: err %v, output %s; want a refusal naming modelPacks.fetch.sha256", err, out)
	}
	out, err = exec.Command(helmBinary(t), append(base, "--set", "modelPacks.fetch.sha256.faceplugin-1\\.0=abc")...).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("64 lower-case hex")) {
		t.Errorf("fetch with a malformed sha256: err %v, output %s", err, out)
	}
	sum := strings.Repeat("ab", 32)
	objs, err := decodeObjects(runHelm(t, append(base, "--set", "modelPacks.fetch.sha256.faceplugin-1\\.0="+sum)...))
	if err != nil {
		t.Fatal(err)
	}
	// The manager and the api pods both embed faces: each fetches the packs the same way.
	mspec, _ := managerContainer(t, objs)
	aspec, _ := apiContainer(t, objs)
	for role, spec := range map[string]*corev1.PodSpec{"manager": mspec, "api": aspec} {
		if len(spec.InitContainers) != 1 {
			t.Fatalf("%s: %d init containers, want 1", role, len(spec.InitContainers))
		}
		script := strings.Join(spec.InitContainers[0].Args, "\n")
		check := strings.Index(script, "sha256sum -c")
		unpack := strings.Index(script, "tar -xzf")
		if !strings.Contains(script, sum+"  /models/faceplugin-1.0.tar.gz") || check < 0 || unpack < check {
			t.Errorf("%s: the init container does not check the archive's sha256 before unpacking it:\n%s", role, script)
		}
		mounted := false
		for _, m := range spec.Containers[0].VolumeMounts {
			if m.Name == "model-packs" && m.MountPath == "/models" && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: the fetched packs are not mounted read-only at /models", role)
		}
	}
}
