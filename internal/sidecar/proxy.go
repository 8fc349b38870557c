package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The contract the injector and the endpoint are written against.
const (
	// DefaultListen is where the sidecar listens: the pod's loopback interface only.
	DefaultListen = "127.0.0.1:8480"
	// DefaultTokenFile is where the injector mounts the projected ServiceAccount token whose
	// audience is the endpoint.
	DefaultTokenFile = "/var/run/secrets/facesearch.io/serviceaccount/token"
	// MaxBodyBytes bounds a forwarded request body: CompareFaces carries two 5 MB images as
	// base64 (13.4 MiB) and its JSON.
	MaxBodyBytes = 16 << 20
	// MaxImageBytes bounds the image of POST /search, as Rekognition bounds an image given
	// as bytes.
	MaxImageBytes = 5 << 20
	// ForwardTimeout bounds one forward. The endpoint's own deadline is 30 s: its
	// InternalServerError answer arrives before the proxy gives up.
	ForwardTimeout = 35 * time.Second
	// RecordHeader, "true", asks the endpoint to record the search.
	RecordHeader = "X-Facesearch-Record"
)

const (
	targetPrefix = "RekognitionService."
	contentType  = "application/x-amz-json-1.1"

	typeAccessDenied     = "AccessDeniedException"
	typeImageTooLarge    = "ImageTooLargeException"
	typeInternalError    = "InternalServerError"
	typeInvalidParameter = "InvalidParameterException"
	typeUnknownOperation = "UnknownOperationException"
)

// imageOperations take an image: a body over the limit is ImageTooLargeException for them,
// as the endpoint answers.
var imageOperations = map[string]bool{
	"IndexFaces": true, "SearchFacesByImage": true, "SearchUsersByImage": true, "DetectFaces": true, "CompareFaces": true,
}

// responseHeaders are the endpoint's headers the application gets back; the SDKs read no
// other. Content-Length is set apart, as the body is streamed.
var responseHeaders = []string{"Content-Type", "X-Amzn-Requestid", "X-Amzn-Errortype", "Retry-After"}

// Options configure New.
type Options struct {
	// Endpoint is the URL of the operator's Rekognition-compatible endpoint: https (or http),
	// a host, and no path but "/".
	Endpoint string
	// TokenFile holds the pod's projected ServiceAccount token (default DefaultTokenFile).
	TokenFile string
	// RootCAs verify the endpoint's certificate; nil means the system's roots.
	RootCAs *x509.CertPool
	// Record asks the endpoint to record every search, whatever the application says.
	Record bool
	// Log, when set, receives one line per failed request as a message and key/value pairs
	// (logr style). Neither bodies nor the token are ever passed to it.
	Log func(msg string, keysAndValues ...any)

	// now is the token file's clock; for tests.
	now func() time.Time
}

// Proxy is the sidecar's http.Handler: POST / forwards a Rekognition request, POST /search
// is the SearchUsersByImage shortcut, GET /healthz tells whether the token is there.
type Proxy struct {
	endpoint *url.URL
	target   string
	client   *http.Client
	token    *tokenFile
	record   bool
	log      func(msg string, keysAndValues ...any)
}

// New checks the options and builds the proxy; the token file is read on the first request.
func New(opts Options) (*Proxy, error) {
	u, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if opts.TokenFile == "" {
		opts.TokenFile = DefaultTokenFile
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	return &Proxy{
		endpoint: u,
		target:   u.String(),
		client:   newClient(opts.RootCAs),
		token:    newTokenFile(opts.TokenFile, opts.now),
		record:   opts.Record,
		log:      opts.Log,
	}, nil
}

// Endpoint is the URL requests are forwarded to.
func (p *Proxy) Endpoint() *url.URL {
	u := *p.endpoint
	return &u
}

// parseEndpoint admits an http(s) URL with a host and nothing a forward would drop or
// misread: requests go to "/", as the endpoint serves them.
func parseEndpoint(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("the endpoint URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the endpoint URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("the endpoint URL %q is not https:// (or http://)", raw)
	case u.Host == "":
		return nil, fmt.Errorf("the endpoint URL %q has no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("the endpoint URL %q holds credentials; the sidecar sends the pod's token", u.Redacted())
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("the endpoint URL %q has a path or query: the endpoint serves at /", raw)
	}
	u.Path = "/"
	return u, nil
}

// newClient is the one client of every forward: keep-alives, so that a search costs no TLS
// handshake, and HTTP/1.1 only, because the endpoint's Service balances connections: over
// HTTP/2 every request of the pod would go down one connection to one replica.
func newClient(rootCAs *x509.CertPool) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Client{
		Timeout: ForwardTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rootCAs},
			TLSHandshakeTimeout: 10 * time.Second,
			Protocols:           &protocols,
			// An application's calls in parallel each keep their connection.
			MaxIdleConnsPerHost: 32,
			// Below the endpoint's 2 minutes: the proxy drops an idle connection before the
			// endpoint does, and does not send a request down one being closed.
			IdleConnTimeout:    90 * time.Second,
			DisableCompression: true,
		},
		// A redirect is the endpoint's answer to pass on, not one to follow with the token.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ServeHTTP serves one request of a program of the pod.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The listener is on loopback already; this check still holds if that ever changes (a
	// port forwarded, another listen address).
	if !loopbackAddr(r.RemoteAddr) {
		p.fail(w, "", http.StatusForbidden, typeAccessDenied, "The facesearch sidecar serves the programs of its own pod only")
		return
	}
	switch r.URL.Path {
	case "/":
		if methodAllowed(w, r, http.MethodPost) {
			p.forwardRequest(w, r)
		}
	case "/search":
		if methodAllowed(w, r, http.MethodPost) {
			p.search(w, r)
		}
	case "/healthz":
		if methodAllowed(w, r, http.MethodGet, http.MethodHead) {
			p.healthz(w)
		}
	default:
		writeError(w, http.StatusNotFound, typeUnknownOperation, fmt.Sprintf("No such path %q: POST / (Rekognition JSON), POST /search or GET /healthz", r.URL.Path))
	}
}

func methodAllowed(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, typeUnknownOperation, fmt.Sprintf("Method %s is not supported on %s; use %s", r.Method, r.URL.Path, strings.Join(methods, " or ")))
	return false
}

func (p *Proxy) healthz(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := p.token.Token(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, err.Error()+"\n")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// forwardRequest passes on a Rekognition request as the application's SDK made it, but for
// its authentication.
func (p *Proxy) forwardRequest(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok || !validOperation(op) {
		p.fail(w, "", http.StatusBadRequest, typeUnknownOperation, fmt.Sprintf("X-Amz-Target %q is not %s<Operation>", target, targetPrefix))
		return
	}
	if r.ContentLength > MaxBodyBytes {
		p.tooLarge(w, op)
		return
	}
	body := &boundedBody{r: r.Body, left: MaxBodyBytes}
	p.forward(w, r, forward{
		op:          op,
		body:        body,
		bounded:     body,
		length:      r.ContentLength,
		contentType: r.Header.Get("Content-Type"),
		record:      strings.EqualFold(r.Header.Get(RecordHeader), "true"),
	})
}

// validOperation bounds what is logged and sent on as an operation name.
func validOperation(op string) bool {
	if op == "" || len(op) > 64 {
		return false
	}
	for _, c := range op {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// forward is one request to send to the endpoint.
type forward struct {
	op          string
	body        io.Reader
	bounded     *boundedBody // the application's body, when streamed; nil when built here
	length      int64        // -1: unknown (chunked)
	contentType string
	record      bool // the application asked for the search to be recorded
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, f forward) {
	token, err := p.token.Token()
	if err != nil {
		p.fail(w, f.op, http.StatusInternalServerError, typeInternalError, err.Error())
		return
	}
	if f.length == 0 {
		f.body = http.NoBody
	}
	// The application's context: a client that hangs up cancels the forward.
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.target, f.body)
	if err != nil {
		p.fail(w, f.op, http.StatusInternalServerError, typeInternalError, err.Error())
		return
	}
	req.ContentLength = f.length
	// Only the headers named here go on. The SDK's SigV4 signature (Authorization,
	// X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256) was made with whatever dummy
	// keys the application holds; cookies and hop-by-hop headers are not the endpoint's.
	h := req.Header
	h.Set("X-Amz-Target", targetPrefix+f.op)
	if f.contentType != "" {
		h.Set("Content-Type", f.contentType)
	}
	for name, values := range r.Header {
		if strings.HasPrefix(name, "X-Amzn-") { // request and trace ids
			h[name] = slices.Clone(values)
		}
	}
	if f.record || p.record {
		h.Set(RecordHeader, "true")
	}
	h.Set("Authorization", "Bearer "+token)

	resp, err := p.client.Do(req)
	if f.bounded != nil && f.bounded.over.Load() {
		if resp != nil {
			_ = resp.Body.Close()
		}
		p.tooLarge(w, f.op)
		return
	}
	if err != nil {
		p.fail(w, f.op, http.StatusInternalServerError, typeInternalError, p.unreachable(r.Context(), err))
		return
	}
	defer func() { _ = resp.Body.Close() }()
	for _, name := range responseHeaders {
		if v := resp.Header.Values(name); len(v) > 0 {
			w.Header()[name] = v
		}
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	if resp.StatusCode >= http.StatusBadRequest {
		p.log("Request failed", "operation", f.op, "status", resp.StatusCode, "type", resp.Header.Get("X-Amzn-ErrorType"))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // a client gone away cannot be told
}

// unreachable is the message of a forward that got no answer: it names the endpoint, and
// the error holds no header, so no token.
func (p *Proxy) unreachable(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("The request to the facesearch endpoint %s was canceled: the client went away", p.target)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and URL
	}
	return fmt.Sprintf("Could not reach the facesearch endpoint %s: %v", p.target, err)
}

func (p *Proxy) tooLarge(w http.ResponseWriter, op string) {
	// The rest of the body is not read: the connection cannot be used again.
	w.Header().Set("Connection", "close")
	msg := fmt.Sprintf("Request body is larger than %d bytes", MaxBodyBytes)
	if imageOperations[op] {
		p.fail(w, op, http.StatusBadRequest, typeImageTooLarge, msg+"; images given as bytes may be at most 5 MB")
		return
	}
	p.fail(w, op, http.StatusBadRequest, typeInvalidParameter, msg)
}

// fail answers an error made here, and logs it.
func (p *Proxy) fail(w http.ResponseWriter, op string, status int, errType, msg string) {
	p.log("Request failed", "operation", op, "status", status, "type", errType, "message", msg)
	writeError(w, status, errType, msg)
}

// writeError answers as Rekognition does, so that the SDKs decode the error type.
func writeError(w http.ResponseWriter, status int, errType, msg string) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}{errType, msg})
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-ErrorType", errType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errBodyTooLarge = errors.New("request body too large")

// boundedBody passes on at most left bytes of a body and remembers whether there were more.
// The transport reads it from its own goroutine, and may still do so after Do returned:
// over is atomic.
type boundedBody struct {
	r    io.Reader
	left int64
	over atomic.Bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.over.Store(true)
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// loopbackAddr tells whether a RemoteAddr is on this machine.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
