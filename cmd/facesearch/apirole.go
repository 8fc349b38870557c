package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// The api role's RBAC, generated into config/rbac/api-role.yaml (make manifests) and bound
// by the chart in the api's namespace only (a RoleBinding to that ClusterRole):
// Collections are read, created and deleted by CreateCollection and DeleteCollection, and
// updated by TagResource and UntagResource (their tags are the resources' labels and
// annotations):
// +kubebuilder:rbac:groups=facesearch.io,resources=collections,verbs=get;list;watch;create;update;delete
// The index shards' Deployments, whose readiness is the collections':
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch
// Storage keys, the index auth Secrets and the access keys, read by name (never listed):
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// The endpoint's own Service's endpoints, to know how many replicas share the rate limit:
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// Searches recorded at their callers' request, as SearchRequests with their answer:
// +kubebuilder:rbac:groups=facesearch.io,resources=searchrequests,verbs=create;delete
// +kubebuilder:rbac:groups=facesearch.io,resources=searchrequests/status,verbs=update
// The web console (docs/console.md) draws SearchRequests' answers and finds the images of
// Users' faces; it reads them live, when a person looks:
// +kubebuilder:rbac:groups=facesearch.io,resources=searchrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=facesearch.io,resources=users,verbs=get;list
// ServiceAccount tokens are reviewed (TokenReview, SubjectAccessReview) with the rights of
// the built-in ClusterRole system:auth-delegator, which the chart binds cluster-wide: the
// reviews are cluster-scoped, beyond what a RoleBinding grants.

// apiOptions are the api role's: no leader election (every replica serves), a cache of the
// served namespaces only, and the manager's policy of reading Secrets live.
func apiOptions(namespaces []string, serviceName, metricsAddr, probeAddr string) ctrl.Options {
	cached := map[string]cache.Config{}
	for _, ns := range namespaces {
		cached[ns] = cache.Config{}
	}
	o := ctrl.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		Cache:                  cache.Options{DefaultNamespaces: cached},
		// Requests in flight finish after the drain delay; the probes stop last.
		GracefulShutdownTimeout: ptrTo(45 * time.Second),
	}
	controllers.ConfigureCache(&o)
	// Of EndpointSlices, only the endpoint's own Service's.
	o.Cache.ByObject[&discoveryv1.EndpointSlice{}] = cache.ByObject{Label: endpointSliceSelector(serviceName)}
	return o
}

func endpointSliceSelector(serviceName string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: serviceName})
}

func ptrTo[T any](v T) *T { return &v }

// runAPI is the api role: the Rekognition-compatible endpoint alone, stateless, as many
// replicas as wanted behind one Service. It builds its view of the collections from a watch
// (controllers.CollectionPublisher) and writes through the store's conditional commits, as
// every replica and the manager do.
func runAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of the health probes (/readyz: listening, collections published and their records loaded, not draining)")
	domain := fs.String("cluster-domain", "cluster.local", "the cluster's DNS domain")
	serviceName := fs.String("api-service-name", "", "the endpoint's Service: the replicas behind it share the rate limit (each allows its share); empty: this replica allows all of it")
	drain := fs.Duration("shutdown-delay", 5*time.Second, "on SIGTERM, how long the endpoint keeps serving while failing readiness, so that no new connection is routed to a stopping pod")
	var ef engineFlags
	ef.bind(fs)
	var af apiFlags
	af.bind(fs, ":8443")
	fs.DurationVar(&af.warmUpTimeout, "warm-up-timeout", 10*time.Minute, "how long readiness waits, at start, for the records of the collections that exist to load (seconds per million faces); 0: it does not wait")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if af.addr == "" {
		return fmt.Errorf("--api-bind-address is required: serving the endpoint is the api role's one job")
	}
	if af.credentialsSecret == "" {
		return fmt.Errorf("--api-credentials-secret is required: the endpoint verifies SigV4 signatures")
	}
	if _, err := af.tls(); err != nil {
		return err
	}
	engines, err := ef.engines()
	if err != nil {
		return err
	}
	defer engines.Close()

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), apiOptions(af.namespaces(), *serviceName, *metricsAddr, *probeAddr))
	if err != nil {
		return fmt.Errorf("while creating the api role's manager: %w", err)
	}
	svc := search.NewService(engines)
	svc.Log = ctrl.Log.WithName("search")
	if err := search.RegisterMetrics(ctrlmetrics.Registry); err != nil {
		return err
	}
	observer := &workload.Deployer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), ClusterDomain: *domain}
	ctx := ctrl.SetupSignalHandler()
	creds, err := watchCredentialsSecret(ctx, mgr.GetAPIReader(), af.namespace, af.credentialsSecret, ctrl.Log.WithName("api"))
	if err != nil {
		return err
	}
	role, err := newAPIRole(mgr, &af, svc, observer, creds)
	if err != nil {
		return err
	}
	role.drain = *drain
	if *serviceName != "" {
		if err := role.shareRateLimit(mgr, *serviceName); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// apiRole is the endpoint with what keeps it current: the publisher of its collections, its
// readiness and its drain. The local stack runs the same, in-process.
type apiRole struct {
	af        *apiFlags
	endpoint  *apiEndpoint
	publisher *controllers.CollectionPublisher
	// drain is how long the endpoint serves after it was told to stop, failing readiness.
	drain     time.Duration
	listening atomic.Bool
	draining  atomic.Bool
	// onListen is told the address once the endpoint listens.
	onListen func(addr string)
}

// newAPIRole wires the endpoint, its publisher and its readiness check into mgr.
func newAPIRole(mgr ctrl.Manager, af *apiFlags, svc *search.Service, indexes workload.IndexObserver, creds rekognition.CredentialStore) (*apiRole, error) {
	endpoint, err := newAPIEndpoint(af, svc, mgr.GetClient(), mgr.GetAPIReader(), creds, ctrl.Log.WithName("api"))
	if err != nil {
		return nil, err
	}
	r := &apiRole{af: af, endpoint: endpoint,
		publisher: &controllers.CollectionPublisher{Client: mgr.GetClient(), Search: svc, Indexes: indexes, Namespaces: af.namespaces(),
			WarmUpTimeout: af.warmUpTimeout}}
	if err := r.publisher.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("while setting up the collection publisher: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(r.run)); err != nil {
		return nil, err
	}
	reader := mgr.GetClient()
	if err := mgr.AddReadyzCheck("api", func(req *http.Request) error { return r.ready(req.Context(), reader) }); err != nil {
		return nil, err
	}
	return r, nil
}

// ready: the endpoint listens, is not draining, and has published every collection that
// existed when it started, with its records loaded (within --warm-up-timeout).
func (r *apiRole) ready(ctx context.Context, reader client.Reader) error {
	switch {
	case r.draining.Load():
		return errors.New("draining: the endpoint is stopping")
	case !r.listening.Load():
		return errors.New("the endpoint does not listen yet")
	}
	ok, err := r.publisher.Synced(ctx, reader)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the collections are not all published yet")
	}
	return nil
}

// run serves until ctx ends; then it fails readiness and keeps serving for the drain delay
// (endpoints and kube-proxy stop routing new connections here meanwhile), and lets the
// requests in flight finish.
func (r *apiRole) run(ctx context.Context) error {
	serveCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-ctx.Done()
		r.draining.Store(true)
		if r.drain > 0 {
			ctrl.Log.WithName("api").Info("Draining: failing readiness, still serving", "for", r.drain)
			time.Sleep(r.drain)
		}
		stop()
	}()
	return r.endpoint.run(serveCtx, r.af, func(addr string) {
		r.listening.Store(true)
		if r.onListen != nil {
			r.onListen(addr)
		}
	})
}

// shareRateLimit counts the ready endpoints of the api Service and has this replica allow
// its share of each key's rate limit.
func (r *apiRole) shareRateLimit(mgr ctrl.Manager, serviceName string) error {
	sel := endpointSliceSelector(serviceName)
	inf, err := mgr.GetCache().GetInformer(context.Background(), &discoveryv1.EndpointSlice{})
	if err != nil {
		return err
	}
	count := func() {
		var list discoveryv1.EndpointSliceList
		if err := mgr.GetCache().List(context.Background(), &list, client.InNamespace(r.af.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return
		}
		n := 0
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					n++
				}
			}
		}
		r.endpoint.setReplicas(max(n, 1))
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { count() },
		UpdateFunc: func(any, any) { count() },
		DeleteFunc: func(any) { count() },
	})
	return err
}
