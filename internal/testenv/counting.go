package testenv

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// CountingProxy passes every request to a MinIO server unchanged and counts the requests and
// the bytes of the answers' bodies: what a reader downloads (hack/benchscale measures what
// each index shard reads at load with it). Unlike FaultProxy it needs no test, so that
// programs can use it too. SigV4 signs the proxy's host, which the proxy keeps.
type CountingProxy struct {
	// Endpoint is host:port of the proxy, to use in place of MinIO's.
	Endpoint string

	srv             *http.Server
	bytes, requests atomic.Int64
}

// NewCountingProxy starts a counting proxy to the MinIO server at endpoint (host:port) on a
// free loopback port; Close stops it.
func NewCountingProxy(endpoint string) (*CountingProxy, error) {
	target, err := url.Parse("http://" + endpoint)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &CountingProxy{Endpoint: l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.requests.Add(1)
			rp.ServeHTTP(&countingWriter{ResponseWriter: w, n: &p.bytes}, r)
		}),
		ReadHeaderTimeout: time.Minute,
	}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Take returns the bytes of answer bodies and the requests counted since the last Take (or
// since the start), and starts counting again from zero.
func (p *CountingProxy) Take() (bytes, requests int64) {
	return p.bytes.Swap(0), p.requests.Swap(0)
}

// Close stops the proxy and cuts its connections.
func (p *CountingProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		_ = p.srv.Close()
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
