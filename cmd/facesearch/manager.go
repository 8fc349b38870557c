package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/webhook"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(facesearchv1.AddToScheme(s))
	return s
}

// managerOptions are the manager role's: its client reads Secrets and ConfigMaps live and
// caches only the index shards' Deployments and Services (controllers.ConfigureCache), so
// the ClusterRole needs no list or watch on Secrets and ConfigMaps, and none of them sits in
// the manager's memory.
func managerOptions(metricsAddr, probeAddr string, leaderElect bool) ctrl.Options {
	o := ctrl.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "facesearch-manager.facesearch.io",
		// The process exits as soon as the manager stops, so the lease can be handed over at
		// once: in a rolling update the new pod is elected within a second of the old one
		// stopping, not after the 15 s lease runs out.
		LeaderElectionReleaseOnCancel: true,
	}
	controllers.ConfigureCache(&o)
	return o
}

func runManager(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of the health probes")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader so that only one manager reconciles")
	image := fs.String("index-image", os.Getenv("FACESEARCH_IMAGE"), "image of the index pods (this operator's image)")
	domain := fs.String("cluster-domain", "cluster.local", "the cluster's DNS domain")
	tokenRotation := fs.Duration("index-token-rotation", 30*24*time.Hour, "how often each Collection's index token is replaced (the previous one stays valid for 10 minutes); 0 never")
	networkPolicy := fs.Bool("index-network-policy", true, "give every Collection a NetworkPolicy: its index pods' search port open to the manager and api pods only, the metrics port to --index-metrics-scrapers")
	scrapers := fs.String("index-metrics-scrapers", "", "JSON list of NetworkPolicy peers that may scrape the index pods' metrics port; empty: any")
	managerNamespace := fs.String("manager-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the manager and api pods (for the index NetworkPolicies); default $POD_NAMESPACE")
	var ef engineFlags
	ef.bind(fs)
	var inj injectionFlags
	inj.bind(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if *image == "" {
		return fmt.Errorf("--index-image (or FACESEARCH_IMAGE) is required")
	}
	// Checked before the models load: a wrong flag fails at once.
	var injection *webhook.Options
	if inj.opts.Port != 0 {
		o, err := inj.options(*image, *managerNamespace)
		if err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		injection = &o
	}
	engines, err := ef.engines()
	if err != nil {
		return err
	}
	defer engines.Close()

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), managerOptions(*metricsAddr, *probeAddr, *leaderElect))
	if err != nil {
		return fmt.Errorf("while creating the manager: %w", err)
	}
	svc := search.NewService(engines)
	svc.Log = ctrl.Log.WithName("search")
	if err := search.RegisterMetrics(ctrlmetrics.Registry); err != nil {
		return err
	}
	deployer := &workload.Deployer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Image: *image, ClusterDomain: *domain, TokenRotation: *tokenRotation}
	if *tokenRotation == 0 {
		deployer.TokenRotation = -1
	}
	if *networkPolicy {
		np, err := indexNetworkPolicy(*managerNamespace, *scrapers)
		if err != nil {
			return err
		}
		deployer.NetworkPolicy = np
	}
	if err := controllers.Setup(mgr, controllers.Options{Search: svc, Indexes: deployer}); err != nil {
		return err
	}
	if injection != nil {
		if err := webhook.Setup(mgr, *injection); err != nil {
			return err
		}
	}
	return startManager(ctrl.SetupSignalHandler(), mgr)
}

// injectionFlags are the sidecar injection's: the webhook server, its certificate, and the
// container it injects.
type injectionFlags struct {
	opts      webhook.Options
	certMode  string
	resources string
	port      int
}

func (f *injectionFlags) bind(fs *flag.FlagSet) {
	fs.IntVar(&f.opts.Port, "webhook-port", 9443, "port of the sidecar injection webhook, served by every replica; 0 turns the injection off")
	fs.StringVar(&f.certMode, "webhook-cert-mode", string(webhook.CertSelf), "the webhook's certificate: self (a CA and certificate the manager keeps in --webhook-secret, and writes into the caBundle of --webhook-configuration) or files (tls.crt and tls.key in --webhook-cert-dir, reloaded when they change; cert-manager injects the caBundle)")
	fs.StringVar(&f.opts.CertDir, "webhook-cert-dir", "/etc/facesearch/webhook-tls", "directory of tls.crt and tls.key with --webhook-cert-mode=files")
	fs.StringVar(&f.opts.Service, "webhook-service", "facesearch-webhook", "the webhook's Service in --manager-namespace: the self-managed certificate is for <service>.<namespace>.svc")
	fs.StringVar(&f.opts.Secret, "webhook-secret", "facesearch-webhook-tls", "kubernetes.io/tls Secret in --manager-namespace holding the self-managed CA and certificate (created when absent)")
	fs.StringVar(&f.opts.Configuration, "webhook-configuration", "facesearch-sidecar-injector", "MutatingWebhookConfiguration whose webhooks get the self-managed CA as caBundle")
	fs.StringVar(&f.opts.Sidecar.Image, "sidecar-image", "", "image of the injected sidecar (default: --index-image, this operator's image)")
	fs.StringVar(&f.opts.Sidecar.Endpoint, "sidecar-endpoint", "", "URL of the api the sidecar calls, https://<api service>.<namespace>.svc:<port>")
	fs.StringVar(&f.opts.EndpointCASecret, "sidecar-endpoint-ca-secret", "", "the api's TLS Secret in --manager-namespace: its ca.crt is given to the sidecar as FACESEARCH_ENDPOINT_CA (none without ca.crt)")
	fs.StringVar(&f.opts.Sidecar.TokenAudience, "sidecar-token-audience", webhook.DefaultTokenAudience, "audience of the sidecar's projected service account token")
	fs.IntVar(&f.port, "sidecar-port", webhook.DefaultPort, "loopback port of the sidecar when the pod has no "+webhook.PortAnnotation+" annotation")
	fs.StringVar(&f.resources, "sidecar-resources", "", `JSON resources of the sidecar, as a container's (default {"requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"128Mi"}})`)
}

// options completes the flags with the operator's image and namespace.
func (f *injectionFlags) options(image, namespace string) (webhook.Options, error) {
	o := f.opts
	o.CertMode = webhook.CertMode(f.certMode)
	o.Namespace = namespace
	if o.Sidecar.Image == "" {
		o.Sidecar.Image = image
	}
	if f.port < 1024 || f.port > 65535 {
		return o, fmt.Errorf("--sidecar-port %d: want 1024 to 65535", f.port)
	}
	o.Sidecar.Port = int32(f.port)
	if f.resources != "" {
		// Strict: a misspelt key would otherwise leave the sidecar without requests.
		if err := yaml.UnmarshalStrict([]byte(f.resources), &o.Sidecar.Resources); err != nil {
			return o, fmt.Errorf("--sidecar-resources: %w", err)
		}
	} else {
		o.Sidecar.Resources = webhook.DefaultResources()
	}
	return o, nil
}

// indexNetworkPolicy reads the flags of the index NetworkPolicies.
func indexNetworkPolicy(namespace, scrapers string) (*workload.NetworkPolicyOptions, error) {
	if namespace == "" {
		return nil, fmt.Errorf("--manager-namespace (or POD_NAMESPACE) is required with --index-network-policy: the policies admit the manager and api pods of that namespace")
	}
	np := &workload.NetworkPolicyOptions{ManagerNamespace: namespace}
	if scrapers != "" {
		if err := json.Unmarshal([]byte(scrapers), &np.MetricsScrapers); err != nil {
			return nil, fmt.Errorf("--index-metrics-scrapers: %w", err)
		}
	}
	return np, nil
}

func startManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
