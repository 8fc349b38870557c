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

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/search"
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
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if *image == "" {
		return fmt.Errorf("--index-image (or FACESEARCH_IMAGE) is required")
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
	return startManager(ctrl.SetupSignalHandler(), mgr)
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
