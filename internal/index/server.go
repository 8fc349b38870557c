package index

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
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
	// Shard and Shards say which faces the answer is from (ShardOptions'): during a reshard
	// a Service also reaches pods of the previous layout, whose answers must not be merged.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
}

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Registry receives the metrics; nil means a new registry of the server's own.
	Registry *prometheus.Registry
	// Draining, when set and true, makes /readyz fail so that Services stop sending work
	// while searches in flight finish (graceful shutdown).
	Draining *atomic.Bool
	// Tokens are the bearer tokens a search must carry, any one of them. With none, every
	// search is refused.
	Tokens TokenSource
}

// Metrics are the index role's Prometheus metrics.
type Metrics struct {
	Vectors    prometheus.Gauge
	Generation prometheus.Gauge
	Latency    prometheus.Histogram
	Refused    prometheus.Counter
}

// registerFollowMetrics exposes how the shard learns of commits: its pulls by cause, and
// whether a notification stream is live.
func registerFollowMetrics(reg prometheus.Registerer, shard *Shard) {
	p := shard.Pulls()
	pulls := func(cause string, n *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "facesearch", Subsystem: "index", Name: "pulls_total",
			Help:        "Reads of the collection's new commits, by cause: notification, poll or catchup (a search that wanted newer data).",
			ConstLabels: prometheus.Labels{"cause": cause},
		}, func() float64 { return float64(n.Load()) })
	}
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "facesearch", Subsystem: "index", Name: "notifications_live",
		Help: "1 while a live notification stream announces the collection's commits, 0 while the shard polls instead.",
	}, func() float64 {
		if shard.NotificationsLive() {
			return 1
		}
		return 0
	})
	bytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "facesearch", Subsystem: "index", Name: "vector_bytes",
		Help: "Bytes of the shard's vectors and FaceIds in memory (int8 codes, scales, fp16 copies): the part of its memory that grows with the collection.",
	}, func() float64 { return float64(shard.Bytes()) })
	reg.MustRegister(pulls("notification", &p.Notified), pulls("poll", &p.Polled), pulls("catchup", &p.CaughtUp), live, bytes)
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
		Refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "facesearch", Subsystem: "index", Name: "searches_unauthenticated_total",
			Help: "Searches refused because they carried no token or a wrong one.",
		}),
	}
	reg.MustRegister(m.Vectors, m.Generation, m.Latency, m.Refused)
	return m
}

// Handlers are a shard's two HTTP handlers, for two ports: the search port, which only the
// manager may reach, and the probe port, for the kubelet and the metrics scrapers.
type Handlers struct {
	// Search serves POST /search to callers with a token, and nothing else.
	Search http.Handler
	// Probes serves GET /healthz, /readyz (200 once loaded) and /metrics, and nothing else.
	Probes http.Handler
}

// maxSearchBody bounds the body of one search: a query vector and its options.
const maxSearchBody = 1 << 20

// NewServer serves a shard.
func NewServer(shard *Shard, opts ServerOptions) Handlers {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	registerFollowMetrics(reg, shard)
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
	probes := http.NewServeMux()
	// Errors writing a response body are not handled here or below: the status line has
	// gone out and the client has gone away; there is no one left to tell.
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	probes.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
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
	probes.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	search := http.NewServeMux()
	search.HandleFunc("POST /search", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Nothing of the request is read before the caller is known.
		if !authenticated(r, opts.Tokens) {
			m.Refused.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="facesearch-index"`)
			writeError(w, errs.New(errs.AccessDenied, "a search needs the collection's index token"))
			return
		}
		var req SearchRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSearchBody)).Decode(&req); err != nil {
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
		_ = json.NewEncoder(w).Encode(SearchResponse{Matches: matches, Generation: gen, Shard: shard.opts.Shard, Shards: shard.opts.Shards})
		m.Latency.Observe(time.Since(start).Seconds())
	})
	return Handlers{Search: search, Probes: probes}
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
	case errs.AccessDenied:
		return http.StatusUnauthorized
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
	url           string
	http          *http.Client
	creds         *Credentials
	shard, shards int
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Credentials are the tokens sent as the bearer token: the current one first, the
	// previous one when the shard refuses it (a rotation under way). The caller may Set new
	// ones at any time.
	Credentials *Credentials
	// HTTPClient makes the requests; its transport carries the TLS settings for an https://
	// baseURL (see NewHTTPClient). Nil: a plain one.
	HTTPClient *http.Client
	// Shard and Shards, when Shards > 0, are what the shard must say it serves: an answer
	// from a pod of another layout (a reshard rolling) is tried again, like a failure in
	// transport, and never returned.
	Shard, Shards int
}

// NewHTTPClient returns an HTTP client for shards; tlsConfig (nil for plain HTTP) is the one
// of pki.ClientConfig: the collection's CA and the name its shards' certificate carries.
// Share one per collection: it keeps the connections to the shards open.
func NewHTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:           nil, // cluster-internal: never through an HTTP(S)_PROXY
		TLSClientConfig: tlsConfig,
		// A pod that is gone answers nothing, not even a refusal: bound the connect.
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		// A kept-alive connection to a killed pod stays open on this side until TCP gives up
		// (minutes): a ping unanswered for 2 s after 2 s of silence closes it, and the search
		// on it fails fast and is retried on a new connection (client.Search).
		HTTP2: &http.HTTP2Config{SendPingTimeout: 2 * time.Second, PingTimeout: 2 * time.Second},
	}}
}

// NewClient returns a Searcher for a shard served by NewServer's Search handler at baseURL.
func NewClient(baseURL string, opts ClientOptions) Searcher {
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &client{url: baseURL, http: hc, creds: opts.Credentials, shard: opts.Shard, shards: opts.Shards}
}

// searchAttempts bounds the tries of one shard search that fails in transport.
const searchAttempts = 3

// Search asks the shard. A search is read-only, so one that failed in transport (the pod that
// held the connection was killed or is gone), or was answered by a pod of another shard
// layout, is tried again on a new connection: the shard's Service sends that to another
// ready replica once the failed one has left its endpoints, which takes the endpoint
// controller and kube-proxy about a second (and picks one of the ready pods at random).
func (c *client) Search(ctx context.Context, query []float32, opts SearchOptions) ([]Match, error) {
	body, _ := json.Marshal(SearchRequest{Vector: query, SearchOptions: opts})
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		matches, err := c.searchOnce(ctx, body)
		var te *transportError
		if err == nil || !errors.As(err, &te) || attempt == searchAttempts || ctx.Err() != nil {
			return matches, err
		}
		c.http.CloseIdleConnections()
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff *= 3
	}
}

// transportError marks a search that got no answer from the shard (as opposed to an answer
// that says no), the one kind worth a new connection.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (c *client) searchOnce(ctx context.Context, body []byte) ([]Match, error) {
	var resp *http.Response
	for _, token := range c.creds.tokens() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/search", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err = c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// A shard that cannot be reached is, to the search path, one that is not ready.
			return nil, errs.Wrap(errs.ResourceNotReady, &transportError{err}, "index shard %s is unreachable", c.url)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			break
		}
		// Refused: try the previous token, which a shard that has not yet seen a rotated
		// Secret still holds.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		// The operator's own credential was refused: to the caller the index cannot be used
		// (yet), not an access decision about the caller.
		return nil, errs.New(errs.ResourceNotReady, "index shard %s refused the manager's token", c.url)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb); err != nil || eb.Code == "" {
			return nil, errs.New(errs.ResourceNotReady, "index shard %s answered %s", c.url, resp.Status)
		}
		return nil, &errs.Error{Code: eb.Code, Message: eb.Message, Retryable: eb.Retryable}
	}
	var sr SearchResponse
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
		if ctx.Err() == nil {
			// The connection broke in the middle of the answer.
			return nil, errs.Wrap(errs.ResourceNotReady, &transportError{err}, "index shard %s broke off its answer", c.url)
		}
		return nil, fmt.Errorf("while decoding the answer of %s: %w", c.url, err)
	}
	// A pod that does not say (Shards 0) predates the check: its answer is taken, as
	// before, so that searches go on while an upgrade rolls the index pods.
	if c.shards > 0 && sr.Shards > 0 && (sr.Shard != c.shard || sr.Shards != c.shards) {
		err := fmt.Errorf("shard %d of %d answered for shard %d of %d", sr.Shard, sr.Shards, c.shard, c.shards)
		return nil, errs.Wrap(errs.ResourceNotReady, &transportError{err}, "index shard %s is served by a pod of another layout (a reshard is rolling)", c.url)
	}
	return sr.Matches, nil
}

// IndexOptions configure the index role.
type IndexOptions struct {
	Endpoint, AccessKey, SecretKey string
	Secure                         bool
	Bucket, Prefix, CollectionID   string
	Shard, Shards                  int
	// ListenAddress is where POST /search is served, e.g. ":8080": over TLS when
	// TLSCertFile is set.
	ListenAddress string
	// ProbeAddress is where /healthz, /readyz and /metrics are served over plain HTTP, e.g.
	// ":8081": the port of the kubelet and the metrics scrapers, and only theirs.
	ProbeAddress string
	// TokenFiles hold the bearer tokens a search must carry, one per file (empty files are
	// skipped), read again as they change. Required: the role does not serve searches to
	// anyone who asks.
	TokenFiles []string
	// TLSCertFile and TLSKeyFile are the search port's certificate and key (PEM), read again
	// as they change.
	TLSCertFile, TLSKeyFile string
	// DrainDelay is how long readiness fails before the server stops on shutdown, so that
	// Services stop routing here first (the index role uses 5s; 0 in tests).
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long the searches in flight may take to finish once the
	// drain delay is over; 0 means DefaultShutdownTimeout. The pod's termination grace period
	// must cover DrainDelay and ShutdownTimeout.
	ShutdownTimeout time.Duration
	// Log receives the role's events (the notification stream's state); zero: none.
	Log logr.Logger
	// Shard tuning; Shard and Shards above win over ShardOptions' own.
	ShardOptions ShardOptions
}

// DefaultShutdownTimeout is IndexOptions.ShutdownTimeout's default.
const DefaultShutdownTimeout = 20 * time.Second

// RunIndex is the index role: it serves one shard of one collection until ctx ends. The
// servers listen at once; /readyz turns 200 when the shard is loaded. When ctx ends the pod
// drains: /readyz fails at once, searches are still served for DrainDelay (while endpoints
// and kube-proxy stop routing here), then the search server shuts down gracefully: it takes
// no new connection, tells HTTP/2 clients to go elsewhere (GOAWAY), and waits up to
// ShutdownTimeout for the searches in flight.
func RunIndex(ctx context.Context, opts IndexOptions) error {
	if opts.CollectionID == "" || opts.Shards < 1 || opts.Shard < 0 || opts.Shard >= opts.Shards {
		return fmt.Errorf("index: need a collection and 0 <= shard < shards (got %d of %d)", opts.Shard, opts.Shards)
	}
	if len(opts.TokenFiles) == 0 {
		return errors.New("index: a token file is required (searches are served to the manager only)")
	}
	if opts.ProbeAddress == "" || opts.ProbeAddress == opts.ListenAddress {
		return errors.New("index: the probe address must be set and differ from the search address")
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return errors.New("index: a TLS certificate needs its key, and a key its certificate")
	}
	tokens, err := NewTokenFiles(opts.TokenFiles...)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	var tlsConfig *tls.Config
	if opts.TLSCertFile != "" {
		certs, err := newCertFiles(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		tlsConfig = &tls.Config{GetCertificate: certs.getCertificate, MinVersion: tls.VersionTLS13}
	}
	st, err := newStore(opts)
	if err != nil {
		return err
	}
	so := opts.ShardOptions
	so.Shard, so.Shards = opts.Shard, opts.Shards
	if so.Log.GetSink() == nil {
		so.Log = opts.Log
	}
	shard := NewShard(st, opts.CollectionID, so)
	var draining atomic.Bool
	h := NewServer(shard, ServerOptions{Draining: &draining, Tokens: tokens})
	searchL, err := net.Listen("tcp", opts.ListenAddress)
	if err != nil {
		return err
	}
	probeL, err := net.Listen("tcp", opts.ProbeAddress)
	if err != nil {
		searchL.Close()
		return err
	}
	searchSrv := &http.Server{Handler: h.Search, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	probeSrv := &http.Server{Handler: h.Probes, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 3)
	go func() {
		var err error
		if tlsConfig != nil {
			err = searchSrv.ServeTLS(searchL, "", "")
		} else {
			err = searchSrv.Serve(searchL)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	go func() {
		if err := probeSrv.Serve(probeL); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	shutdown := opts.ShutdownTimeout
	if shutdown <= 0 {
		shutdown = DefaultShutdownTimeout
	}
	sctx, scancel := context.WithTimeout(context.Background(), shutdown)
	defer scancel()
	_ = searchSrv.Shutdown(sctx)
	_ = probeSrv.Shutdown(sctx)
	cancel()
	return runErr
}
