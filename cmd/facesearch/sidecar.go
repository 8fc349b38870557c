package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/facesearch/facesearch-operator/internal/sidecar"
)

// sidecarCAEnv holds the PEM text of the endpoint's CA, for an injector that has it at hand
// rather than in a volume. It is not a flag default: -h would print the whole PEM.
const sidecarCAEnv = "FACESEARCH_ENDPOINT_CA"

// sidecarFlags configure the sidecar role.
type sidecarFlags struct {
	listen        string
	endpoint      string
	caFile        string
	tokenFile     string
	record        bool
	probe         bool
	shutdownDelay time.Duration
	zap           zap.Options
}

// parseSidecarFlags reads the flags and refuses a listen address off the loopback interface:
// the sidecar lends the pod's identity to whoever calls it.
func parseSidecarFlags(args []string) (*sidecarFlags, error) {
	f := &sidecarFlags{}
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", sidecar.DefaultListen, "address to serve on: a loopback one only (127.0.0.0/8, [::1] or localhost)")
	fs.StringVar(&f.endpoint, "endpoint", os.Getenv("FACESEARCH_ENDPOINT"), "URL of the facesearch endpoint, https://host[:port] (http only with a warning: the token would cross the network in clear); default $FACESEARCH_ENDPOINT")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of the CA that signs the endpoint's certificate (or its PEM text in $"+sidecarCAEnv+"; neither: the system's roots)")
	fs.StringVar(&f.tokenFile, "token-file", sidecar.DefaultTokenFile, "projected ServiceAccount token that authenticates the pod to the endpoint, read again as the kubelet rotates it")
	fs.BoolVar(&f.record, "record", false, "ask the endpoint to record every search")
	fs.BoolVar(&f.probe, "probe", false, "instead of serving, GET http://<listen>/healthz once and exit 0 on 200, 1 otherwise: the container's exec probe, as the kubelet cannot reach a loopback address")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, how long to keep serving so that the application finishes its calls")
	f.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !loopback(f.listen) {
		return nil, fmt.Errorf("--listen %q is not a loopback address (127.0.0.0/8, [::1] or localhost): the sidecar authenticates its callers as the pod", f.listen)
	}
	if !f.probe && f.endpoint == "" {
		return nil, errors.New("--endpoint (or FACESEARCH_ENDPOINT) is required")
	}
	return f, nil
}

func runSidecar(args []string) error {
	f, err := parseSidecarFlags(args)
	if err != nil {
		return err
	}
	if f.probe {
		return probeSidecar(f.listen)
	}
	log := zap.New(zap.UseFlagOptions(&f.zap)).WithName("sidecar")
	proxy, err := newSidecarProxy(f, os.Getenv(sidecarCAEnv), log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// Kept until the end: a second signal during the shutdown delay does not kill the process.
	defer stop()
	return serveSidecar(ctx, f, proxy, log, nil)
}

// newSidecarProxy builds the proxy with the endpoint's CA from --ca-file or caPEM (the
// content of FACESEARCH_ENDPOINT_CA).
func newSidecarProxy(f *sidecarFlags, caPEM string, log logr.Logger) (*sidecar.Proxy, error) {
	roots, err := sidecarRootCAs(f.caFile, caPEM)
	if err != nil {
		return nil, err
	}
	proxy, err := sidecar.New(sidecar.Options{
		Endpoint:  f.endpoint,
		TokenFile: f.tokenFile,
		RootCAs:   roots,
		Record:    f.record,
		Log:       func(msg string, kv ...any) { log.Info(msg, kv...) },
	})
	if err != nil {
		return nil, fmt.Errorf("--endpoint: %w", err)
	}
	if proxy.Endpoint().Scheme == "http" {
		// Loud, as the pod's identity is readable on the way; not an error line, which zap
		// would print with a stack trace for a choice made on purpose.
		log.Info("WARNING: the endpoint is plain HTTP: the pod's ServiceAccount token, the images and the answers cross the network in clear; use https", "endpoint", proxy.Endpoint().String())
	}
	return proxy, nil
}

// sidecarRootCAs is the pool that verifies the endpoint: the CA of caFile or caPEM, or nil
// (the system's roots) when neither is given. Both at once is refused rather than one
// silently winning.
func sidecarRootCAs(caFile, caPEM string) (*x509.CertPool, error) {
	source, data := sidecarCAEnv, []byte(caPEM)
	switch {
	case caFile != "" && caPEM != "":
		return nil, fmt.Errorf("the endpoint's CA is given twice, by --ca-file and by %s: give one", sidecarCAEnv)
	case caFile != "":
		var err error
		if data, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("while reading --ca-file: %w", err)
		}
		source = caFile
	case caPEM == "":
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", source)
	}
	return pool, nil
}

// serveSidecar serves until ctx ends, keeps serving for --shutdown-delay (the application,
// stopped at the same time, may still be finishing its calls), then lets the forwards in
// flight finish.
func serveSidecar(ctx context.Context, f *sidecarFlags, proxy *sidecar.Proxy, log logr.Logger, ready func(addr string)) error {
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("while listening on %s: %w", f.listen, err)
	}
	// "localhost" is resolved through the hosts file: check what was bound.
	if a, ok := l.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		_ = l.Close()
		return fmt.Errorf("--listen %s bound %s, not a loopback address", f.listen, l.Addr())
	}
	server := &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ReadTimeout:       time.Minute,
		// A forward takes up to sidecar.ForwardTimeout before its answer is written.
		WriteTimeout: sidecar.ForwardTimeout + 25*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(l) }()
	log.Info("Serving the sidecar", "listen", l.Addr().String(), "endpoint", proxy.Endpoint().String(), "record", f.record, "tokenFile", f.tokenFile)
	if ready != nil {
		ready(l.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("Stopping after the shutdown delay", "delay", f.shutdownDelay)
	time.Sleep(f.shutdownDelay)
	shutdown, cancel := context.WithTimeout(context.Background(), sidecar.ForwardTimeout+time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// probeSidecar is the container's probe: GET /healthz of the sidecar listening on listen.
func probeSidecar(listen string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get("http://" + listen + "/healthz")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /healthz answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
