package controllers

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// The suite's real parts: kube-apiserver and etcd (envtest, with the generated CRDs), a MinIO
// server, and the face engine on the default model pack. One manager, wired as the local
// stack wires it, runs the controllers for every test.
var (
	testCfg     *rest.Config
	k8sClient   client.Client
	testMinIO   *local.MinIOServer
	minioClient *minio.Client
	searchSvc   *search.Service
	managerCtx  context.Context
	// stopManager and startManager let a test restart the manager.
	stopManager  func()
	startManager func() error
)

// TestMain starts the suite's real parts only when a test needs them (requireSuite): the
// unit tests of this package run without a control plane.
func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	code := m.Run()
	if stopSuite != nil {
		stopSuite()
	}
	os.Exit(code)
}

var (
	suiteOnce sync.Once
	suiteErr  error
	stopSuite func()
)

// requireSuite starts the control plane, MinIO, the engines and the manager once, for the
// tests that need them.
func requireSuite(tb testing.TB) {
	tb.Helper()
	suiteOnce.Do(func() { stopSuite, suiteErr = startSuite() })
	if suiteErr != nil {
		tb.Fatal(suiteErr)
	}
}

func startSuite() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	cp, err := local.StartControlPlane()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	stops = append(stops, func() { _ = cp.Stop() })
	testCfg = cp.Config

	testMinIO, err = local.StartMinIO(context.Background(), local.MinIOOptions{})
	if err != nil {
		return nil, fmt.Errorf("starting MinIO: %w", err)
	}
	stops = append(stops, testMinIO.Stop)
	if minioClient, err = testMinIO.Client(); err != nil {
		return nil, fmt.Errorf("MinIO client: %w", err)
	}

	packs, err := assets.InstalledModelPacks()
	if err != nil {
		return nil, fmt.Errorf("model packs: %w", err)
	}
	lib, err := assets.ONNXRuntimeLibrary.Path()
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime: %w", err)
	}
	engines, err := search.NewEngines(search.EnginesOptions{ModelPackDirs: packs, ONNXRuntimeLibrary: lib})
	if err != nil {
		return nil, fmt.Errorf("face engines: %w", err)
	}
	stops = append(stops, func() { _ = engines.Close() })
	searchSvc = search.NewService(engines)

	scheme := newTestScheme()
	if k8sClient, err = client.New(testCfg, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	shardsCtx, stopShards := context.WithCancel(context.Background())
	stops = append(stops, stopShards)
	indexes := local.NewInProcessIndexes(shardsCtx, searchSvc.Stores)

	var done chan error
	startManager = func() error {
		opts := ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
			// The same controllers are set up again when a test restarts the manager.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)}}
		// The manager role's cache policy: Secrets and ConfigMaps read live.
		ConfigureCache(&opts)
		mgr, err := ctrl.NewManager(testCfg, opts)
		if err != nil {
			return err
		}
		if err := Setup(mgr, Options{Search: searchSvc, Indexes: indexes, CompactionInterval: testCompactionInterval}); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		managerCtx = ctx
		done = make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		stopManager = func() {
			cancel()
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "manager:", err)
			}
		}
		return nil
	}
	if err := startManager(); err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	stops = append(stops, func() { stopManager() })
	return stop, nil
}

// testCompactionInterval makes erasure observable within a test.
const testCompactionInterval = 2 * time.Second

func zapLevel() zapcoreLevel {
	if os.Getenv("FACESEARCH_TEST_DEBUG") != "" {
		return -1
	}
	return 2 // errors only: the controllers' info logs drown test output
}
