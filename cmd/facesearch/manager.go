package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
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

func runManager(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of the health probes")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader so that only one manager reconciles")
	image := fs.String("index-image", os.Getenv("FACESEARCH_IMAGE"), "image of the index pods (this operator's image)")
	domain := fs.String("cluster-domain", "cluster.local", "the cluster's DNS domain")
	var ef engineFlags
	ef.bind(fs)
	var af apiFlags
	af.bind(fs, "")
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

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: *probeAddr,
		LeaderElection:         *leaderElect,
		LeaderElectionID:       "facesearch-manager.facesearch.io",
	})
	if err != nil {
		return fmt.Errorf("while creating the manager: %w", err)
	}
	svc := search.NewService(engines)
	svc.Log = ctrl.Log.WithName("search")
	if err := search.RegisterMetrics(ctrlmetrics.Registry); err != nil {
		return err
	}
	deployer := &workload.Deployer{Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Image: *image, ClusterDomain: *domain}
	if err := controllers.Setup(mgr, controllers.Options{Search: svc, Indexes: deployer}); err != nil {
		return err
	}
	if af.addr != "" {
		if af.credentialsSecret == "" {
			return fmt.Errorf("--api-credentials-secret is required with --api-bind-address: the endpoint verifies SigV4 signatures")
		}
		ctx := ctrl.SetupSignalHandler()
		creds, err := watchCredentialsSecret(ctx, mgr.GetAPIReader(), af.namespace, af.credentialsSecret, ctrl.Log.WithName("api"))
		if err != nil {
			return err
		}
		api := newAPIEndpoint(&af, svc, mgr.GetClient(), creds, ctrl.Log.WithName("api"))
		// The endpoint runs where the controllers run (the leader): that is where the
		// collections' shards are published.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return api.run(ctx, &af, nil) })); err != nil {
			return err
		}
		return startManager(mgr, ctx)
	}
	return startManager(mgr, ctrl.SetupSignalHandler())
}

func startManager(mgr ctrl.Manager, ctx context.Context) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
