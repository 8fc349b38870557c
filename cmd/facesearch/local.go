package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// runLocal is the embedded default: the whole stack on this machine, with the index shards
// in-process because a local control plane has no kubelet. Every other path is the cluster's.
func runLocal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "bin/local.kubeconfig", "where to write the kubeconfig of the local control plane")
	dataDir := fs.String("data-dir", "", "MinIO data directory (default: a temporary one, removed on exit)")
	minioPort := fs.Int("minio-port", 0, "MinIO port on 127.0.0.1 (0: a free one)")
	accessKey := fs.String("minio-access-key", "facesearch-demo", "MinIO root access key")
	secretKey := fs.String("minio-secret-key", "facesearch-demo-secret-key", "MinIO root secret key")
	upload := fs.String("upload", "", "BUCKET=DIR:PREFIX: upload the JPEG and PNG files under DIR to BUCKET under PREFIX before starting")
	envFile := fs.String("env-file", "", "write MINIO_ENDPOINT, KUBECONFIG, API_ENDPOINT (host:port) and API_URL lines here once ready")
	var ef engineFlags
	ef.bind(fs)
	var af apiFlags
	af.bind(fs, "127.0.0.1:8080")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if _, err := af.tls(); err != nil {
		return err
	}

	engines, err := ef.engines()
	if err != nil {
		return err
	}
	defer engines.Close()

	say("starting MinIO")
	mio, err := local.StartMinIO(ctx, local.MinIOOptions{Dir: *dataDir, Port: *minioPort, AccessKey: *accessKey, SecretKey: *secretKey})
	if err != nil {
		return err
	}
	defer mio.Stop()
	if *upload != "" {
		if err := uploadTree(ctx, mio, *upload); err != nil {
			return err
		}
	}

	say("starting the local control plane (kube-apiserver, etcd)")
	cp, err := local.StartControlPlane()
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	if err := os.MkdirAll(filepath.Dir(*kubeconfig), 0o755); err != nil {
		return err
	}
	if err := cp.WriteKubeconfig(*kubeconfig); err != nil {
		return err
	}

	mgrOpts := ctrl.Options{Scheme: newScheme(), Metrics: metricsserver.Options{BindAddress: "0"}}
	controllers.ConfigureCache(&mgrOpts)
	mgr, err := ctrl.NewManager(cp.Config, mgrOpts)
	if err != nil {
		return err
	}
	svc := search.NewService(engines)
	svc.Log = ctrl.Log.WithName("search")
	if err := search.RegisterMetrics(ctrlmetrics.Registry); err != nil {
		return err
	}
	indexes := local.NewInProcessIndexes(ctx, svc.Stores)
	if err := controllers.Setup(mgr, controllers.Options{Search: svc, Indexes: indexes}); err != nil {
		return err
	}
	// The endpoint's CreateCollection stores new collections in the local MinIO.
	if err := ensureSecret(ctx, mgr.GetAPIReader(), cp.Config, af.namespace, af.storageSecret, map[string]string{
		controllers.AccessKeySecretKey: mio.AccessKey, controllers.SecretKeySecretKey: mio.SecretKey,
	}); err != nil {
		return err
	}
	if af.storageEndpoint == "" {
		af.storageEndpoint = mio.Endpoint
	}
	// The api role runs in-process as on a cluster: its own search path, fed by the
	// publisher from what the manager made, writing through its own store.
	apiAddr := ""
	started := make(chan string, 1)
	if af.addr != "" {
		creds, note := environmentCredentials()
		say(note)
		apiSvc := search.NewService(engines)
		apiSvc.Log = ctrl.Log.WithName("api-search")
		role, err := newAPIRole(mgr, &af, apiSvc, indexes, creds)
		if err != nil {
			return err
		}
		role.onListen = func(addr string) { started <- addr }
	}
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	if af.addr != "" {
		select {
		case apiAddr = <-started:
		case err := <-errc:
			return err
		}
	}
	if *envFile != "" {
		abs, _ := filepath.Abs(*kubeconfig)
		line := fmt.Sprintf("MINIO_ENDPOINT=%s\nKUBECONFIG=%s\nAPI_ENDPOINT=%s\n", mio.Endpoint, abs, apiAddr)
		if apiAddr != "" {
			line += fmt.Sprintf("API_URL=%s://%s\n", af.scheme(), apiAddr)
		}
		if err := os.WriteFile(*envFile, []byte(line), 0o600); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("ready: kubeconfig %s, MinIO %s", *kubeconfig, mio.Endpoint)
	if apiAddr != "" {
		msg += fmt.Sprintf(", Rekognition API %s://%s", af.scheme(), apiAddr)
	}
	say(msg)
	return <-errc
}

func say(msg string) { fmt.Fprintf(os.Stderr, "facesearch local: %s\n", msg) }

// uploadTree uploads the images under a directory: BUCKET=DIR:PREFIX.
func uploadTree(ctx context.Context, mio *local.MinIOServer, spec string) error {
	bucket, rest, ok := strings.Cut(spec, "=")
	dir, prefix, _ := strings.Cut(rest, ":")
	if !ok || dir == "" {
		return fmt.Errorf("--upload wants BUCKET=DIR:PREFIX, got %q", spec)
	}
	mc, err := mio.Client()
	if err != nil {
		return err
	}
	if exists, err := mc.BucketExists(ctx, bucket); err != nil {
		return err
	} else if !exists {
		if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return err
		}
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := strings.ToLower(filepath.Ext(path))
		if ext != ".jpg" && ext != ".jpeg" && ext != ".png" {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if _, err := mc.FPutObject(ctx, bucket, prefix+filepath.ToSlash(rel), path, minio.PutObjectOptions{}); err != nil {
			return err
		}
		n++
		return nil
	})
	say(fmt.Sprintf("uploaded %d images to s3://%s/%s", n, bucket, prefix))
	return err
}

// ensureSecret creates or replaces a Secret with the given string data.
func ensureSecret(ctx context.Context, _ client.Reader, cfg *rest.Config, namespace, name string, data map[string]string) error {
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err = controllerutil.CreateOrUpdate(ctx, c, s, func() error {
		s.StringData = data
		return nil
	})
	return err
}
