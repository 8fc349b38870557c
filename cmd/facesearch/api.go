package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// apiFlags configure the Rekognition-compatible HTTP endpoint.
type apiFlags struct {
	addr              string
	tlsCert, tlsKey   string
	credentialsSecret string
	namespace         string
	storageEndpoint   string
	storageBucket     string
	storagePrefix     string
	storageSecret     string
	storageTLS        bool
	imageSources      []facesearchv1.ImageLocation
}

func (f *apiFlags) bind(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&f.addr, "api-bind-address", defaultAddr, "address of the Rekognition-compatible HTTP endpoint; empty disables it")
	fs.StringVar(&f.tlsCert, "api-tls-cert", "", "TLS certificate file of the endpoint (with --api-tls-key)")
	fs.StringVar(&f.tlsKey, "api-tls-key", "", "TLS key file of the endpoint")
	fs.StringVar(&f.credentialsSecret, "api-credentials-secret", "", "Secret (in --api-namespace) of access keys: key = access key id, value = secret, optional <id>.collections")
	fs.StringVar(&f.namespace, "api-namespace", envOr("POD_NAMESPACE", "default"), "namespace of the Collections the endpoint creates and of its Secrets")
	fs.StringVar(&f.storageEndpoint, "api-storage-endpoint", "", "storage endpoint of collections created through the endpoint (CreateCollection is refused without it)")
	fs.StringVar(&f.storageBucket, "api-storage-bucket", "faces", "bucket of collections created through the endpoint")
	fs.StringVar(&f.storagePrefix, "api-storage-prefix", "", "key prefix of collections created through the endpoint")
	fs.StringVar(&f.storageSecret, "api-storage-secret", "minio-credentials", "Secret with accessKey and secretKey of that storage")
	fs.BoolVar(&f.storageTLS, "api-storage-tls", false, "use HTTPS for that storage")
	fs.Func("api-image-sources", "where requests' S3Objects are read from for collections created through the endpoint: "+
		"comma-separated BUCKET/PREFIX (an empty BUCKET is the storage bucket: /uploads/); default: the storage bucket under --api-storage-prefix",
		func(v string) error {
			locs, err := parseImageSources(v)
			f.imageSources = locs
			return err
		})
}

// parseImageSources reads --api-image-sources: comma-separated BUCKET/PREFIX, where BUCKET may
// be empty (the storage bucket) and PREFIX, if given, ends with "/".
func parseImageSources(v string) ([]facesearchv1.ImageLocation, error) {
	var out []facesearchv1.ImageLocation
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		bucket, prefix, _ := strings.Cut(item, "/")
		if bucket != "" && (len(bucket) < 3 || len(bucket) > 63) {
			return nil, fmt.Errorf("image source %q: a bucket name has 3 to 63 characters", item)
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			return nil, fmt.Errorf("image source %q: the prefix is a folder and ends with /", item)
		}
		if bucket == "" && prefix == "" {
			return nil, fmt.Errorf("image source %q names neither a bucket nor a prefix", item)
		}
		out = append(out, facesearchv1.ImageLocation{Bucket: bucket, Prefix: prefix})
	}
	return out, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// apiEndpoint is the endpoint as wired into a role.
type apiEndpoint struct {
	server *http.Server
	creds  *rekognition.SecretCredentials
}

// newAPIEndpoint builds the handler over the shared search path; CreateCollection and
// DeleteCollection make and delete Collection resources through c.
func newAPIEndpoint(f *apiFlags, svc *search.Service, c client.Client, creds rekognition.CredentialStore, log logr.Logger) *apiEndpoint {
	// The endpoint sees the collections of its namespace, as CollectionIds are unique there.
	svc = svc.InNamespace(f.namespace)
	var admin rekognition.CollectionAdmin
	if f.storageEndpoint != "" {
		admin = &controllers.CollectionAdmin{Client: c, Search: svc, Namespace: f.namespace, Storage: facesearchv1.StorageSpec{
			Endpoint: f.storageEndpoint, Bucket: f.storageBucket, Prefix: f.storagePrefix, TLS: f.storageTLS,
			CredentialsSecretRef: corev1.LocalObjectReference{Name: f.storageSecret},
		}, ImageSources: f.imageSources}
	}
	handler := rekognition.NewHandler(rekognition.NewServiceBackend(svc, admin), rekognition.HandlerOptions{
		Credentials: creds,
		Log:         func(msg string, kv ...any) { log.Info(msg, kv...) },
	})
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return &apiEndpoint{server: &http.Server{
		Addr:              f.addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}
}

// run serves until ctx ends, then lets requests in flight finish (up to 25 s).
func (a *apiEndpoint) run(ctx context.Context, f *apiFlags, ready func(addr string)) error {
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("while listening on %s: %w", f.addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errc <- a.server.ServeTLS(l, f.tlsCert, f.tlsKey)
		} else {
			errc <- a.server.Serve(l)
		}
	}()
	if ready != nil {
		ready(l.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := a.server.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// watchCredentialsSecret loads the access keys from a Secret now and every 30 s after, so
// that keys can be rotated without a restart.
func watchCredentialsSecret(ctx context.Context, reader client.Reader, namespace, name string, log logr.Logger) (*rekognition.SecretCredentials, error) {
	creds := &rekognition.SecretCredentials{}
	load := func() error {
		s := &corev1.Secret{}
		if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			return err
		}
		return creds.Update(s.Data)
	}
	if err := load(); err != nil {
		return nil, fmt.Errorf("while reading the endpoint's access keys from Secret %s/%s: %w", namespace, name, err)
	}
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := load(); err != nil {
					log.Error(err, "Keeping the previous access keys", "secret", namespace+"/"+name)
				}
			}
		}
	}()
	return creds, nil
}

// environmentCredentials is the one key pair of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// or a new random pair, printed, when they are unset.
func environmentCredentials() (rekognition.StaticCredentials, string) {
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	note := "access key from AWS_ACCESS_KEY_ID"
	if id == "" || secret == "" {
		id, secret = "FS"+strings.ToUpper(randomHex(9)), randomHex(20)
		note = fmt.Sprintf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY were unset; use AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s", id, secret)
	}
	return rekognition.StaticCredentials{id: {SecretAccessKey: secret}}, note
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
