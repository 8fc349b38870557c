package webhook

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The RBAC of the self-managed certificate: the Secret is read by name (never listed), and
// the webhook configuration's caBundle patched. The chart narrows the latter to its own
// configuration by name.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;update;patch

// CertMode is where the webhook's serving certificate comes from.
type CertMode string

const (
	// CertSelf is the manager's own certificate: it keeps a CA and a serving certificate in
	// a Secret and writes the CA into the webhook configuration's caBundle (Certifier).
	CertSelf CertMode = "self"
	// CertFiles is a certificate from files: tls.crt and tls.key in a directory (cert-manager's
	// Secret, mounted), reloaded when they change; cert-manager's CA injector writes the
	// caBundle.
	CertFiles CertMode = "files"
)

// Options of the sidecar injection.
type Options struct {
	// Port of the webhook server; Host its address, all when empty.
	Port int
	Host string
	// Namespace is the operator's: its pods are never injected, and the Secrets below are in it.
	Namespace string
	// CertMode picks the certificate's source; CertDir is the directory of CertFiles.
	CertMode CertMode
	CertDir  string
	// Service is the webhook's Service: CertSelf's certificate is for <Service>.<Namespace>.svc.
	Service string
	// Secret holds CertSelf's CA and certificate.
	Secret string
	// Configuration is the MutatingWebhookConfiguration whose caBundle CertSelf writes.
	Configuration string
	// ExtraHosts are put in CertSelf's certificate besides the Service's names (a test's
	// 127.0.0.1).
	ExtraHosts []string
	// Sidecar is what every injected container shares.
	Sidecar Sidecar
	// EndpointCASecret is the api's TLS Secret in Namespace: its ca.crt is given to the
	// sidecar. Empty: none (a plain HTTP endpoint).
	EndpointCASecret string
}

// Validate names every flag that is missing or wrong.
func (o *Options) Validate() error {
	var errs []error
	need := func(v, flag string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required by the sidecar injection (--webhook-port=0 turns it off)", flag))
		}
	}
	need(o.Namespace, "--manager-namespace (or POD_NAMESPACE)")
	need(o.Sidecar.Image, "--sidecar-image (or --index-image)")
	need(o.Sidecar.Endpoint, "--sidecar-endpoint")
	switch o.CertMode {
	case CertSelf:
		need(o.Service, "--webhook-service")
		need(o.Secret, "--webhook-secret")
		need(o.Configuration, "--webhook-configuration")
	case CertFiles:
		need(o.CertDir, "--webhook-cert-dir")
	default:
		errs = append(errs, fmt.Errorf("--webhook-cert-mode %q: want self or files", o.CertMode))
	}
	if o.Port <= 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port %d: want 1 to 65535 (0 turns the injection off)", o.Port))
	}
	if u, err := url.Parse(o.Sidecar.Endpoint); o.Sidecar.Endpoint != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		errs = append(errs, fmt.Errorf("--sidecar-endpoint %q: want an http(s)://host:port URL", o.Sidecar.Endpoint))
	}
	return errors.Join(errs...)
}

// Setup adds to mgr the webhook server (every replica's, not only the leader's), the
// injection handler on Path, a readiness check that the server answers TLS, and in CertSelf
// mode the Certifier that gives it its certificate.
func Setup(mgr ctrl.Manager, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := ctrl.Log.WithName("webhook")
	serverOpts := crwebhook.Options{Host: o.Host, Port: o.Port}
	switch o.CertMode {
	case CertSelf:
		c := &Certifier{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
			Secret:        types.NamespacedName{Namespace: o.Namespace, Name: o.Secret},
			Configuration: o.Configuration,
			Hosts:         append([]string{o.Service + "." + o.Namespace + ".svc", o.Service + "." + o.Namespace, o.Service}, o.ExtraHosts...),
			Log:           log}
		if err := mgr.Add(c); err != nil {
			return err
		}
		serverOpts.TLSOpts = []func(*tls.Config){func(cfg *tls.Config) { cfg.GetCertificate = c.GetCertificate }}
	case CertFiles:
		serverOpts.CertDir = o.CertDir
	}
	// HTTP/1.1 only, as kubebuilder's scaffold serves webhooks since the HTTP/2 rapid reset
	// attacks (CVE-2023-44487); the API server needs nothing more.
	serverOpts.TLSOpts = append(serverOpts.TLSOpts, func(cfg *tls.Config) {
		cfg.MinVersion = tls.VersionTLS12
		cfg.NextProtos = []string{"http/1.1"}
	})
	server := crwebhook.NewServer(serverOpts)
	injector := &Injector{sidecar: o.Sidecar, namespace: o.Namespace, decoder: admission.NewDecoder(mgr.GetScheme())}
	ca := &endpointCA{reader: mgr.GetAPIReader(), now: time.Now}
	if o.EndpointCASecret != "" {
		ca.secret = types.NamespacedName{Namespace: o.Namespace, Name: o.EndpointCASecret}
	}
	injector.endpointCA = ca.get
	server.Register(Path, &crwebhook.Admission{Handler: injector})
	if err := mgr.Add(server); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("webhook", server.StartedChecker())
}
