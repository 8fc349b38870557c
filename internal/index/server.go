package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// SearchRequest is the body of POST /search.
type SearchRequest struct {
	Vector []float32 `json:"vector"`
	SearchOptions
}

// SearchResponse is the answer of POST /search.
type SearchResponse struct {
	Matches    []Match `json:"matches"`
	Generation uint64  `json:"generation"`
}

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Registry receives the metrics; nil means a new registry of the server's own.
	Registry *prometheus.Registry
	// Draining, when set and true, makes /readyz fail so that Services stop sending work
	// while searches in flight finish (graceful shutdown).
	Draining *atomic.Bool
}

// Metrics are the index role's Prometheus metrics.
type Metrics struct {
	Vectors    prometheus.Gauge
	Generation prometheus.Gauge
	Latency    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Vectors: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "facesearch", Subsystem: "index", Name: "vectors_loaded",
			Help: "Face vectors held by this shard.",
		}),
		Generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "facesearch", Subsystem: "index", Name: "generation",
			Help: "The last commit of the collection this shard reflects.",
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "facesearch", Subsystem: "index", Name: "search_duration_seconds",
			Help:    "Time to answer one search.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	reg.MustRegister(m.Vectors, m.Generation, m.Latency)
	return m
}

// NewServer serves a shard: POST /search, GET /healthz, /readyz (200 once loaded) and /metrics.
func NewServer(shard *Shard, opts ServerOptions) http.Handler {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	prev := shard.OnChange
	shard.OnChange = func(n int, gen uint64) {
		m.Vectors.Set(float64(n))
		m.Generation.Set(float64(gen))
		if prev != nil {
			prev(n, gen)
		}
	}
	if shard.Ready() {
		m.Vectors.Set(float64(shard.Len()))
		m.Generation.Set(float64(shard.Generation()))
	}
	mux := http.NewServeMux()
	// Errors writing a response body are not handled here or below: the status line has
	// gone out and the client has gone away; there is no one left to tell.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !shard.Ready() {
			http.Error(w, "loading", http.StatusServiceUnavailable)
			return
		}
		if opts.Draining != nil && opts.Draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /search", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req SearchRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, errs.New(errs.InvalidParameter, "the search request does not decode: %v", err))
			return
		}
		gen := shard.Generation()
		matches, err := shard.Search(r.Context(), req.Vector, req.SearchOptions)
		if err != nil {
			writeError(w, err)
			return
		}
		if matches == nil {
			matches = []Match{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(SearchResponse{Matches: matches, Generation: gen})
		m.Latency.Observe(time.Since(start).Seconds())
	})
	return mux
}

// errorBody is an *errs.Error on the wire, so that the caller's search path sees the code
// and retryability the shard saw.
type errorBody struct {
	Code      errs.Code `json:"code"`
	Message   string    `json:"message"`
	Retryable bool      `json:"retryable"`
}

// statusOf is the HTTP status a shard answers an error code with.
func statusOf(code errs.Code) int {
	switch code {
	case errs.ResourceNotReady:
		return http.StatusServiceUnavailable
	case errs.InvalidParameter:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	code := errs.CodeOf(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(statusOf(code))
	_ = json.NewEncoder(w).Encode(errorBody{Code: code, Message: errs.Message(err), Retryable: errs.IsRetryable(err)}) // nobody to report a failed write to
}

type client struct {
	url  string
	http *http.Client
}

// NewClient returns a Searcher for a shard served by NewServer at baseURL.
func NewClient(baseURL string) Searcher {
	return &client{url: baseURL, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *client) Search(ctx context.Context, query []float32, opts SearchOptions) ([]Match, error) {
	body, _ := json.Marshal(SearchRequest{Vector: query, SearchOptions: opts})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/search", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// A shard that cannot be reached is, to the search path, one that is not ready.
		return nil, errs.Wrap(errs.ResourceNotReady, err, "index shard %s is unreachable", c.url)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb); err != nil || eb.Code == "" {
			return nil, errs.New(errs.ResourceNotReady, "index shard %s answered %s", c.url, resp.Status)
		}
		return nil, &errs.Error{Code: eb.Code, Message: eb.Message, Retryable: eb.Retryable}
	}
	var sr SearchResponse
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
		return nil, fmt.Errorf("while decoding the answer of %s: %w", c.url, err)
	}
	return sr.Matches, nil
}

// IndexOptions configure the index role.
type IndexOptions struct {
	Endpoint, AccessKey, SecretKey string
	Secure                         bool
	Bucket, Prefix, CollectionID   string
	Shard, Shards                  int
	// ListenAddress is where the HTTP server listens, e.g. ":8080".
	ListenAddress string
	// DrainDelay is how long readiness fails before the server stops on shutdown, so that
	// Services stop routing here first (the index role uses 5s; 0 in tests).
	DrainDelay time.Duration
	// Shard tuning; Shard and Shards above win over ShardOptions' own.
	ShardOptions ShardOptions
}

// RunIndex is the index role: it serves one shard of one collection until ctx ends. The
// server listens at once; /readyz turns 200 when the shard is loaded.
func RunIndex(ctx context.Context, opts IndexOptions) error {
	if opts.CollectionID == "" || opts.Shards < 1 || opts.Shard < 0 || opts.Shard >= opts.Shards {
		return fmt.Errorf("index: need a collection and 0 <= shard < shards (got %d of %d)", opts.Shard, opts.Shards)
	}
	st, err := newStore(opts)
	if err != nil {
		return err
	}
	so := opts.ShardOptions
	so.Shard, so.Shards = opts.Shard, opts.Shards
	shard := NewShard(st, opts.CollectionID, so)
	var draining atomic.Bool
	srv := &http.Server{Addr: opts.ListenAddress, Handler: NewServer(shard, ServerOptions{Draining: &draining}), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- shard.Run(runCtx) }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Stop taking work first: fail readiness, give endpoints time to drop this pod, then
	// let the searches in flight finish before the shard stops following the store.
	draining.Store(true)
	if runErr == nil {
		time.Sleep(opts.DrainDelay)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	cancel()
	return runErr
}
