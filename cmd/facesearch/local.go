//go:build !nolocal

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/console"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
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
	upload := fs.String("upload", "", "BUCKET=DIR:PREFIX: upload the JPEG, PNG and WebP files under DIR to BUCKET under PREFIX before starting")
	keysFile := fs.String("api-credentials-file", "", "more access keys besides the environment's administrator key, with the entries of the api's access-key Secret (<id>=secret, <id>.scope=..., <id>.collections=...), one NAME=VALUE a line as kubectl create secret generic --from-env-file reads them; read once, at start")
	envFile := fs.String("env-file", "", "write MINIO_ENDPOINT, KUBECONFIG, API_ENDPOINT (host:port), API_URL and CONSOLE_URL lines here once they all answer, just before the serving line")
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

	// The keys first: a bad keys file fails before anything starts.
	var creds rekognition.StaticCredentials
	if af.addr != "" {
		c, note, err := localCredentials(*keysFile)
		if err != nil {
			return err
		}
		creds = c
		say(note)
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
	// Controller names are unique per process by default; the tests run one stack after
	// another in one process, each with its own manager and its own control plane.
	mgrOpts.Controller.SkipNameValidation = ptr.To(true)
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
	var role *apiRole
	started := make(chan string, 1)
	if af.addr != "" {
		apiSvc := search.NewService(engines)
		apiSvc.Log = ctrl.Log.WithName("api-search")
		if role, err = newAPIRole(mgr, &af, apiSvc, indexes, creds); err != nil {
			return err
		}
		role.onListen = func(addr string) { started <- addr }
	}
	// The manager stops with ctx, or when the stack gives up before it serves.
	mgrCtx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(mgrCtx) }()
	if af.addr != "" {
		select {
		case apiAddr = <-started:
		case err := <-errc:
			return err
		}
	}
	apiURL := ""
	if apiAddr != "" {
		apiURL = fmt.Sprintf("%s://%s", af.scheme(), apiAddr)
	}
	consoleURL := ""
	if apiURL != "" && af.console {
		consoleURL = apiURL + console.Prefix
	}
	checks := localChecks(cp, mio, role, mgr.GetClient(), apiURL)
	if err := waitAnswering(ctx, errc, checks); err != nil || ctx.Err() != nil {
		return err
	}
	if *envFile != "" {
		abs, _ := filepath.Abs(*kubeconfig)
		line := fmt.Sprintf("MINIO_ENDPOINT=%s\nKUBECONFIG=%s\nAPI_ENDPOINT=%s\n", mio.Endpoint, abs, apiAddr)
		if apiURL != "" {
			line += fmt.Sprintf("API_URL=%s\n", apiURL)
		}
		if consoleURL != "" {
			line += fmt.Sprintf("CONSOLE_URL=%s\n", consoleURL)
		}
		if err := writeFileAtomic(*envFile, []byte(line)); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("kubeconfig %s, MinIO %s", *kubeconfig, mio.Endpoint)
	// The Rekognition API stays last: scripts read the endpoint from the line's end.
	if consoleURL != "" {
		msg += ", console " + consoleURL
	}
	if apiURL != "" {
		msg += ", Rekognition API " + apiURL
	}
	say(servingPrefix + msg)
	return <-errc
}

// servingPrefix starts the one line that tells scripts the stack serves: printed once, when
// every address on it answers. No other line of the set-up says "serving:" (nor "ready").
const servingPrefix = "serving: "

// localChecks are what the serving line promises: the API server, MinIO, and the endpoint
// listening with its collections published.
func localChecks(cp *local.ControlPlane, mio *local.MinIOServer, role *apiRole, reader client.Reader, apiURL string) map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{
		"kube-apiserver": func(ctx context.Context) error {
			hc, err := rest.HTTPClientFor(cp.Config)
			if err != nil {
				return err
			}
			return httpOK(ctx, hc, strings.TrimSuffix(cp.Config.Host, "/")+"/readyz")
		},
		"MinIO": func(ctx context.Context) error {
			mc, err := mio.Client()
			if err != nil {
				return err
			}
			_, err = mc.ListBuckets(ctx)
			return err
		},
	}
	if role != nil {
		checks["Rekognition API"] = func(ctx context.Context) error {
			if err := role.ready(ctx, reader); err != nil {
				return err
			}
			// Only whether it answers: clients verify the certificate, this probe need not.
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			defer hc.CloseIdleConnections()
			return httpOK(ctx, hc, apiURL+"/healthz")
		}
	}
	return checks
}

func httpOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// waitAnswering polls the checks until all pass, the manager ends, ctx ends or two minutes
// pass: each part waited for itself to start, so this is seconds at most.
func waitAnswering(ctx context.Context, errc <-chan error, checks map[string]func(context.Context) error) error {
	const timeout = 2 * time.Minute
	deadline := time.Now().Add(timeout)
	for {
		var failed []string
		for name, check := range checks {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := check(cctx)
			cancel()
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			sort.Strings(failed)
			return fmt.Errorf("not answering after %s: %s", timeout, strings.Join(failed, "; "))
		}
		select {
		case err := <-errc:
			if err == nil {
				err = errors.New("the manager stopped")
			}
			return err
		case <-ctx.Done():
			// Told to stop before serving: as after, once the manager has stopped.
			return <-errc
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeFileAtomic writes by renaming a complete file into place: scripts wait for the file
// to exist and then read it. The file is the owner's only (os.CreateTemp's 0600).
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
		if ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp" {
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
