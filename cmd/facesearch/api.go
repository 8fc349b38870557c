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
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/netutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/console"
	"github.com/facesearch/facesearch-operator/internal/kubeauth"
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
	maxConnections    int
	// servedNamespaces are namespaces besides namespace whose Collections pods search with
	// their ServiceAccount tokens; tokenAudience is those tokens' ("" refuses tokens).
	servedNamespaces []string
	tokenAudience    string
	recordTTL        time.Duration
	// console serves the web console under /console/ on the endpoint's listener.
	console bool
	// warmUpTimeout bounds how long the api role's readiness waits for the records of the
	// collections it publishes at start to load.
	warmUpTimeout time.Duration
}

// namespaces are every namespace whose Collections the endpoint serves, its own first.
func (f *apiFlags) namespaces() []string {
	ns := []string{f.namespace}
	for _, n := range f.servedNamespaces {
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

func (f *apiFlags) bind(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&f.addr, "api-bind-address", defaultAddr, "address of the Rekognition-compatible HTTP endpoint; empty disables it")
	fs.StringVar(&f.tlsCert, "api-tls-cert-file", "", "PEM certificate (chain) of the endpoint; with --api-tls-key-file the endpoint serves HTTPS only (TLS 1.2+) and reloads the pair when the files change")
	fs.StringVar(&f.tlsKey, "api-tls-key-file", "", "PEM private key of --api-tls-cert-file")
	// The names before --api-tls-cert-file, kept so that existing command lines still work.
	fs.StringVar(&f.tlsCert, "api-tls-cert", "", "deprecated: use --api-tls-cert-file")
	fs.StringVar(&f.tlsKey, "api-tls-key", "", "deprecated: use --api-tls-key-file")
	fs.StringVar(&f.credentialsSecret, "api-credentials-secret", "", "Secret (in --api-namespace) of access keys: <id> = secret, <id>.scope = admin|read|search|operations, <id>.collections = *|ids (a key without them may do nothing)")
	fs.StringVar(&f.namespace, "api-namespace", envOr("POD_NAMESPACE", "default"), "namespace of the Collections the endpoint creates and of its Secrets")
	fs.StringVar(&f.tokenAudience, "api-token-audience", kubeauth.DefaultAudience, "audience of the ServiceAccount tokens the endpoint accepts (Authorization: Bearer, from the facesearch sidecar): verified by TokenReview, authorized by SubjectAccessReview on the caller's Collections; empty accepts access keys only")
	fs.Func("api-served-namespaces", "comma-separated namespaces, besides --api-namespace, whose Collections the endpoint serves to pods' ServiceAccount tokens (access keys reach --api-namespace only)", func(v string) error {
		f.servedNamespaces = nil
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
					return fmt.Errorf("namespace %q: %s", n, strings.Join(errs, "; "))
				}
				f.servedNamespaces = append(f.servedNamespaces, n)
			}
		}
		return nil
	})
	fs.DurationVar(&f.recordTTL, "api-record-ttl", controllers.DefaultRecordTTL, "how long a recorded search (a SearchRequest written when the caller asks, "+rekognition.RecordHeader+": true) is kept")
	fs.BoolVar(&f.console, "console", true, "serve the web console under /console/ on the endpoint's listener (and its TLS): sign-in with an access key pair of the endpoint, pages limited to the key's scope (docs/console.md)")
	fs.IntVar(&f.maxConnections, "api-max-connections", 1024, "connections the endpoint holds at once, authenticated or not (each costs a goroutine and buffers; idle ones are closed after 10 s without headers)")
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

// tls tells whether the endpoint serves HTTPS; a certificate without its key (or the
// reverse) is an error.
func (f *apiFlags) tls() (bool, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return false, fmt.Errorf("--api-tls-cert-file and --api-tls-key-file go together")
	}
	return f.tlsCert != "", nil
}

// scheme is the endpoint's URL scheme.
func (f *apiFlags) scheme() string {
	if on, _ := f.tls(); on {
		return "https"
	}
	return "http"
}

// loopback tells whether a listen address is on this machine only (127.0.0.1:8080,
// localhost:8080, [::1]:8080); ":8443" listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiEndpoint is the endpoint as wired into a role.
type apiEndpoint struct {
	server *http.Server
	// replicas share each key's rate limit; each allows its share (see shareRateLimit).
	replicas atomic.Int64
}

// setReplicas tells the endpoint how many replicas share each key's rate limit.
func (a *apiEndpoint) setReplicas(n int) { a.replicas.Store(int64(n)) }

// newAPIEndpoint builds the handler over the shared search path; CreateCollection and
// DeleteCollection make and delete Collection resources through c, and the tag operations
// change their tags through c after reading them from reader (the API server, not a cache:
// a tag just set is read back). With the TLS flags the certificate is loaded now, so that a
// bad one stops the start.
func newAPIEndpoint(f *apiFlags, svc *search.Service, c client.Client, reader client.Reader, creds rekognition.CredentialStore, log logr.Logger) (*apiEndpoint, error) {
	useTLS, err := f.tls()
	if err != nil {
		return nil, err
	}
	// Access keys see the collections of the endpoint's namespace, as CollectionIds are
	// unique there; a token's caller those of its own (ServiceBackend.svc).
	svc = svc.InNamespace(f.namespace)
	collections := &controllers.CollectionAdmin{Client: c, Reader: reader, Search: svc, Namespace: f.namespace}
	var admin rekognition.CollectionAdmin
	if f.storageEndpoint != "" {
		collections.Storage = facesearchv1.StorageSpec{
			Endpoint: f.storageEndpoint, Bucket: f.storageBucket, Prefix: f.storagePrefix, TLS: f.storageTLS,
			CredentialsSecretRef: corev1.LocalObjectReference{Name: f.storageSecret},
		}
		collections.ImageSources = f.imageSources
		admin = collections
	}
	backend := rekognition.NewServiceBackend(svc, admin)
	if c != nil {
		// Tags are the Collection resources': declared ones have them too, storage or not.
		backend.Tags = collections
	}
	var tokens rekognition.TokenVerifier
	if c != nil {
		backend.Recorder = &controllers.SearchRecorder{Client: c, TTL: f.recordTTL}
		if f.tokenAudience != "" {
			tokens = &kubeauth.Verifier{Client: c, Audience: f.tokenAudience, Namespaces: f.namespaces(),
				CollectionName: func(namespace, id string) string {
					if col, err := svc.InNamespace(namespace).Collection(id); err == nil {
						return col.Name
					}
					return ""
				}}
		}
	}
	a := &apiEndpoint{}
	a.replicas.Store(1)
	handler := rekognition.NewHandler(backend, rekognition.HandlerOptions{
		Credentials: creds,
		Tokens:      tokens,
		Replicas:    func() int { return int(a.replicas.Load()) },
		Log:         func(msg string, kv ...any) { log.Info(msg, kv...) },
	})
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	if f.console {
		// The same search path and keys as the endpoint; Users and SearchRequests are read
		// live, as a person looks at them now and then (a cache would hold them all).
		mux.Handle(console.Prefix, console.New(console.Options{Search: svc, Credentials: creds, Namespace: f.namespace,
			Reader: reader, Log: log.WithName("console")}))
	} else {
		// Off is absent, not the Rekognition handler's answer to an unknown request.
		mux.Handle(console.Prefix, http.NotFoundHandler())
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	server := &http.Server{
		Addr:              f.addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// SigV4 headers are a few KiB; 64 KiB leaves room and bounds what an unauthenticated
		// caller makes the server hold.
		MaxHeaderBytes: 64 << 10,
		ReadTimeout:    60 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    2 * time.Minute,
	}
	if useTLS {
		certs, err := newCertReloader(f.tlsCert, f.tlsKey, log.WithName("tls"))
		if err != nil {
			return nil, err
		}
		server.TLSConfig = serverTLSConfig(certs)
	} else if !loopback(f.addr) {
		log.Info("The endpoint serves plain HTTP: access keys sign requests, but images and answers cross the network in clear; give it --api-tls-cert-file and --api-tls-key-file", "address", f.addr)
	}
	a.server = server
	return a, nil
}

// run serves until ctx ends, then lets requests in flight finish (up to 25 s). With TLS, a
// plain HTTP request is answered 400 "Client sent an HTTP request to an HTTPS server" and
// never reaches the handler.
func (a *apiEndpoint) run(ctx context.Context, f *apiFlags, ready func(addr string)) error {
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("while listening on %s: %w", f.addr, err)
	}
	if f.maxConnections > 0 {
		// Beyond it, new connections wait in the listen queue: the process's memory and file
		// descriptors stay bounded whatever clients open.
		l = netutil.LimitListener(l, f.maxConnections)
	}
	errc := make(chan error, 1)
	go func() {
		if a.server.TLSConfig != nil {
			// The certificate comes from TLSConfig.GetCertificate, not from files named here.
			errc <- a.server.ServeTLS(l, "", "")
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
	var warned []string
	load := func() error {
		s := &corev1.Secret{}
		if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			return err
		}
		if err := creds.Update(s.Data); err != nil {
			return err
		}
		// A key left without a scope or collections can do nothing: say so once per change.
		if w := creds.Warnings(); !slices.Equal(w, warned) {
			for _, msg := range w {
				log.Info("Access key can do nothing", "secret", namespace+"/"+name, "reason", msg)
			}
			warned = w
		}
		return nil
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
// or a new random pair, printed, when they are unset; it may call every operation on every
// collection.
func environmentCredentials() (rekognition.StaticCredentials, string) {
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	note := "access key from AWS_ACCESS_KEY_ID"
	if id == "" || secret == "" {
		id, secret = "FS"+strings.ToUpper(randomHex(9)), randomHex(20)
		note = fmt.Sprintf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY were unset; use AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s", id, secret)
	}
	// The one key of the local stack is its administrator: every operation on every collection.
	return rekognition.StaticCredentials{id: rekognition.FullAccess(secret)}, note
}

// localCredentials are the local stack's keys: the administrator key of the environment and,
// from keysFile when one is named, more keys with the entries of the api's access-key Secret
// (<id>, <id>.scope, <id>.collections), so that a narrower key can be tried without a cluster.
// The file is read once, at start.
func localCredentials(keysFile string) (rekognition.StaticCredentials, string, error) {
	creds, note := environmentCredentials()
	if keysFile == "" {
		return creds, note, nil
	}
	data, err := readKeysFile(keysFile)
	if err != nil {
		return nil, "", err
	}
	keys, err := rekognition.ParseSecretData(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", keysFile, err)
	}
	for id, c := range keys {
		// Two secrets for one key id would make the environment's key depend on the file.
		if _, found := creds[id]; found {
			return nil, "", fmt.Errorf("%s: access key %s is the environment's (AWS_ACCESS_KEY_ID) already", keysFile, id)
		}
		creds[id] = c
	}
	if w := rekognition.CredentialWarnings(keys); len(w) > 0 {
		note += "; " + strings.Join(w, "; ")
	}
	return creds, fmt.Sprintf("%s; %d more from %s", note, len(keys), keysFile), nil
}

// readKeysFile reads a Secret's entries written as kubectl create secret generic
// --from-env-file takes them: one NAME=VALUE a line; blank lines and lines starting with #
// are skipped.
func readKeysFile(path string) (map[string][]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: want NAME=VALUE", path, i+1)
		}
		if _, dup := data[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set twice", path, i+1, name)
		}
		data[name] = []byte(value)
	}
	return data, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
