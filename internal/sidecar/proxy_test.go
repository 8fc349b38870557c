package sidecar

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "eyJhbGciOiJSUzI1NiJ9.pod-token.signature"

// received is one request as the fake endpoint got it.
type received struct {
	method, path string
	header       http.Header
	body         []byte
	err          error // reading the body
}

// fakeEndpoint stands for the operator's endpoint: a TLS server that records what reaches it
// and answers what the test sets (by default 200 and an empty SearchUsersByImage answer).
type fakeEndpoint struct {
	srv *httptest.Server

	mu     sync.Mutex
	got    []received
	answer http.HandlerFunc
}

func newFakeEndpoint(t *testing.T) *fakeEndpoint {
	t.Helper()
	e := &fakeEndpoint{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		e.mu.Lock()
		e.got = append(e.got, received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body, err: err})
		answer := e.answer
		e.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-RequestId", "11111111-2222-3333-4444-555555555555")
		_, _ = io.WriteString(w, `{"FaceModelVersion":"7.0","UnsearchedFaces":[],"UserMatches":[]}`)
	}))
	// The handshakes refused on purpose are not news.
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *fakeEndpoint) setAnswer(h http.HandlerFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answer = h
}

func (e *fakeEndpoint) requests() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.got...)
}

// last is the last request the endpoint got; the test fails if there was none.
func (e *fakeEndpoint) last(t *testing.T) received {
	t.Helper()
	got := e.requests()
	if len(got) == 0 {
		t.Fatal("the endpoint received no request")
	}
	return got[len(got)-1]
}

// roots trust the endpoint's certificate.
func (e *fakeEndpoint) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(e.srv.Certificate())
	return pool
}

// otherCA trusts a CA of its own, which signed none of the fake endpoints' certificates
// (httptest gives every server the same one).
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	return pool
}

// writeToken writes the token file as the kubelet's atomic writer does: the data in a new
// directory, a "..data" symlink swapped to it by a rename, and "token" a link through
// "..data". It returns the path of "token".
func writeToken(t *testing.T, dir, token string) string {
	t.Helper()
	ts, err := os.MkdirTemp(dir, "..ts_")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "token")
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", "token"), path); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// testSidecar is a proxy served on loopback in front of a fake endpoint.
type testSidecar struct {
	url       string
	proxy     *Proxy
	tokenDir  string
	tokenPath string

	mu   sync.Mutex
	logs []string
}

// newTestSidecar serves a proxy to ep, which it trusts, with testToken in its token file;
// change may adjust the options. Every line it logs is checked for the token at the end.
func newTestSidecar(t *testing.T, ep *fakeEndpoint, change func(*Options)) *testSidecar {
	t.Helper()
	s := &testSidecar{tokenDir: t.TempDir()}
	s.tokenPath = writeToken(t, s.tokenDir, testToken)
	opts := Options{TokenFile: s.tokenPath, Log: func(msg string, kv ...any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.logs = append(s.logs, fmt.Sprint(append([]any{msg}, kv...)...))
	}}
	if ep != nil {
		opts.Endpoint, opts.RootCAs = ep.srv.URL, ep.roots()
	}
	if change != nil {
		change(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = p
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	t.Cleanup(func() {
		for _, line := range s.logLines() {
			if strings.Contains(line, "pod-token") {
				t.Errorf("a log line holds the token: %s", line)
			}
		}
	})
	return s
}

func (s *testSidecar) logLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logs...)
}

// call sends a Rekognition request of operation op to the sidecar.
func (s *testSidecar) call(t *testing.T, op string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if op != "" {
		req.Header.Set("X-Amz-Target", targetPrefix+op)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// errorType is the __type of a Rekognition-style error answer, checked against its header.
func errorType(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: the body %q is not a JSON error: %v", resp.Status, body, err)
	}
	if h := resp.Header.Get("X-Amzn-ErrorType"); h != e.Type {
		t.Errorf("X-Amzn-ErrorType %q, __type %q", h, e.Type)
	}
	if e.Message == "" {
		t.Errorf("error %s without a Message", e.Type)
	}
	return e.Type
}

// TestSidecarForwardsWithThePodToken: the endpoint gets the operation, the body and the ids
// as the SDK sent them, the pod's token as a bearer token, and none of the SDK's signature,
// cookies or hop-by-hop headers.
func TestSidecarForwardsWithThePodToken(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	body := []byte(`{"CollectionId":"people","MaxFaces":3}`)
	resp, answer := s.call(t, "ListFaces", body, map[string]string{
		"Authorization":        "AWS4-HMAC-SHA256 Credential=AKIDDUMMY/20260801/us-east-1/rekognition/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
		"X-Amz-Date":           "20260801T000000Z",
		"X-Amz-Security-Token": "session-token",
		"X-Amz-Content-Sha256": "e3b0c44298fc1c149afbf4c8996fb924",
		"Cookie":               "session=1",
		"Proxy-Authorization":  "Basic Zm9vOmJhcg==",
		"Keep-Alive":           "timeout=5",
		"Te":                   "trailers",
		"X-Amzn-Trace-Id":      "Root=1-5759e988-bd862e3fe1be46a994272793",
		"Amz-Sdk-Request":      "attempt=1; max=3",
	})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("got %s %q, want the endpoint's 200", resp.Status, answer)
	}
	got := ep.last(t)
	if got.method != http.MethodPost || got.path != "/" || !bytes.Equal(got.body, body) {
		t.Errorf("the endpoint got %s %s %q, want POST / %q", got.method, got.path, got.body, body)
	}
	want := map[string]string{
		"Authorization":   "Bearer " + testToken,
		"X-Amz-Target":    "RekognitionService.ListFaces",
		"Content-Type":    contentType,
		"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793",
	}
	for k, v := range want {
		if got.header.Get(k) != v {
			t.Errorf("the endpoint got %s %q, want %q", k, got.header.Get(k), v)
		}
	}
	for _, k := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256", "Cookie", "Proxy-Authorization", "Keep-Alive", "Te", "Amz-Sdk-Request", RecordHeader} {
		if v := got.header.Values(k); len(v) > 0 {
			t.Errorf("the endpoint got %s %q, want it dropped", k, v)
		}
	}
}

// TestSidecarRecordHeader: X-Facesearch-Record goes on when the application sends true or
// the sidecar runs with --record, and not otherwise.
func TestSidecarRecordHeader(t *testing.T) {
	ep := newFakeEndpoint(t)
	plain, recording := newTestSidecar(t, ep, nil), newTestSidecar(t, ep, func(o *Options) { o.Record = true })
	for _, tc := range []struct {
		name   string
		s      *testSidecar
		client string
		want   string
	}{
		{"neither", plain, "", ""},
		{"client true", plain, "true", "true"},
		{"client false", plain, "false", ""},
		{"client junk", plain, "yes please", ""},
		{"--record", recording, "", "true"},
		{"--record and client false", recording, "false", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.client != "" {
				h[RecordHeader] = tc.client
			}
			if resp, body := tc.s.call(t, "SearchUsers", []byte(`{}`), h); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %q", resp.Status, body)
			}
			if got := ep.last(t).header.Values(RecordHeader); strings.Join(got, ",") != tc.want {
				t.Errorf("the endpoint got %s %q, want %q", RecordHeader, got, tc.want)
			}
		})
	}
}

// TestSidecarPassesEndpointAnswers: the status, the body and the headers the SDKs read come
// back as the endpoint sent them; its other headers do not.
func TestSidecarPassesEndpointAnswers(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	for _, tc := range []struct {
		name    string
		status  int
		headers map[string]string
		body    string
	}{
		{"success", http.StatusOK, map[string]string{"Content-Type": contentType, "X-Amzn-RequestId": "req-1"},
			`{"Faces":[],"FaceModelVersion":"7.0"}`},
		{"access denied", http.StatusBadRequest,
			map[string]string{"Content-Type": contentType, "X-Amzn-RequestId": "req-2", "X-Amzn-ErrorType": "AccessDeniedException"},
			`{"__type":"AccessDeniedException","Code":"AccessDeniedException","Message":"system:serviceaccount:app:web may not use collection/people"}`},
		{"throttled", http.StatusInternalServerError,
			map[string]string{"Content-Type": contentType, "X-Amzn-RequestId": "req-3", "X-Amzn-ErrorType": "ThrottlingException", "Retry-After": "1"},
			`{"__type":"ThrottlingException","Message":"Rate exceeded"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("X-Facesearch-Replica", "api-0")
				w.Header().Set("Set-Cookie", "lb=1")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			resp, body := s.call(t, "ListFaces", []byte(`{"CollectionId":"people"}`), nil)
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			for k, v := range tc.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"X-Facesearch-Replica", "Set-Cookie"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("header %s %q passed on", k, v)
				}
			}
		})
	}
}

// unsized hides a body's length from the client: it is sent chunked.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

// TestSidecarBodyLimit: a body over 16 MiB is refused with the type the endpoint would
// answer, whether its length is announced or not, and does not reach the endpoint whole.
func TestSidecarBodyLimit(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	over := bytes.Repeat([]byte("a"), MaxBodyBytes+1)
	for _, tc := range []struct {
		name    string
		op      string
		body    []byte
		chunked bool
		status  int
		errType string
	}{
		{"image operation", "IndexFaces", over, false, http.StatusBadRequest, typeImageTooLarge},
		{"two images", "CompareFaces", over, false, http.StatusBadRequest, typeImageTooLarge},
		{"other operation", "ListFaces", over, false, http.StatusBadRequest, typeInvalidParameter},
		{"image operation, chunked", "SearchUsersByImage", over, true, http.StatusBadRequest, typeImageTooLarge},
		{"other operation, chunked", "CreateUser", over, true, http.StatusBadRequest, typeInvalidParameter},
		{"at the limit", "CompareFaces", over[:MaxBodyBytes], false, http.StatusOK, ""},
		{"at the limit, chunked", "CompareFaces", over[:MaxBodyBytes], true, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ep.requests())
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = unsized{body}
			}
			req, err := http.NewRequest(http.MethodPost, s.url+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", targetPrefix+tc.op)
			resp, answer := do(t, req)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %s %q, want %d", resp.Status, answer, tc.status)
			}
			if tc.errType != "" {
				if got := errorType(t, resp, answer); got != tc.errType {
					t.Errorf("error type %s, want %s", got, tc.errType)
				}
				for _, r := range ep.requests()[before:] {
					if r.err == nil {
						t.Errorf("the endpoint read a whole body of %d bytes", len(r.body))
					}
				}
				return
			}
			if got := ep.last(t); len(got.body) != len(tc.body) {
				t.Errorf("the endpoint got %d bytes, want %d", len(got.body), len(tc.body))
			}
		})
	}
}

// TestSidecarUnreachableEndpoint: no answer is an InternalServerError that names the
// endpoint and not the token.
func TestSidecarUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := newTestSidecar(t, nil, func(o *Options) { o.Endpoint = "https://" + addr })
	resp, body := s.call(t, "SearchUsers", []byte(`{"CollectionId":"people","UserId":"u1"}`), nil)
	if resp.StatusCode != http.StatusInternalServerError || errorType(t, resp, body) != typeInternalError {
		t.Fatalf("got %s %q, want 500 InternalServerError", resp.Status, body)
	}
	if !strings.Contains(string(body), addr) || strings.Contains(string(body), "pod-token") {
		t.Errorf("message %q: want the endpoint named, and no token", body)
	}
	if lines := s.logLines(); len(lines) != 1 || !strings.Contains(lines[0], "SearchUsers") || !strings.Contains(lines[0], typeInternalError) {
		t.Errorf("logged %q, want one line naming the operation and the error type", lines)
	}
}

// TestSidecarVerifiesTheEndpoint: an endpoint whose certificate the CA does not sign is not
// sent the token.
func TestSidecarVerifiesTheEndpoint(t *testing.T) {
	ep := newFakeEndpoint(t)
	for _, tc := range []struct {
		name  string
		roots *x509.CertPool
		ok    bool
	}{
		{"its CA", ep.roots(), true},
		{"another CA", otherCA(t), false},
		{"system roots", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ep.requests())
			s := newTestSidecar(t, ep, func(o *Options) { o.RootCAs = tc.roots })
			resp, body := s.call(t, "ListCollections", []byte(`{}`), nil)
			if tc.ok {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("got %s %q, want 200", resp.Status, body)
				}
				return
			}
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "certificate") {
				t.Errorf("got %s %q, want 500 naming the certificate", resp.Status, body)
			}
			if n := len(ep.requests()) - before; n != 0 {
				t.Errorf("the untrusted endpoint got %d requests", n)
			}
		})
	}
}

// TestSidecarFollowsTokenRotation: a token the kubelet swapped in is sent within a second or
// so, and a token gone makes requests fail (naming the file) and /healthz answer 503.
func TestSidecarFollowsTokenRotation(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	bearer := func() string {
		t.Helper()
		if resp, body := s.call(t, "ListCollections", []byte(`{}`), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %q", resp.Status, body)
		}
		return ep.last(t).header.Get("Authorization")
	}
	if got := bearer(); got != "Bearer "+testToken {
		t.Fatalf("Authorization %q, want the file's token", got)
	}
	writeToken(t, s.tokenDir, "rotated-token\n")
	time.Sleep(1100 * time.Millisecond)
	if got := bearer(); got != "Bearer rotated-token" {
		t.Fatalf("Authorization %q after the rotation, want the new token", got)
	}

	writeToken(t, s.tokenDir, "  \n")
	time.Sleep(1100 * time.Millisecond)
	before := len(ep.requests())
	resp, body := s.call(t, "ListCollections", []byte(`{}`), nil)
	if resp.StatusCode != http.StatusInternalServerError || errorType(t, resp, body) != typeInternalError || !strings.Contains(string(body), s.tokenPath) {
		t.Errorf("with an empty token file: %s %q, want 500 InternalServerError naming the file", resp.Status, body)
	}
	if len(ep.requests()) != before {
		t.Error("a request went to the endpoint without a token")
	}
	if resp, _ := do(t, must(http.NewRequest(http.MethodGet, s.url+"/healthz", nil))); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz with an empty token file: %s, want 503", resp.Status)
	}
}

// TestSidecarHealthz: 200 "ok" with a token, 503 without.
func TestSidecarHealthz(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  func(dir, path string) string // the token file to use
		status int
	}{
		{"token", func(_, path string) string { return path }, http.StatusOK},
		{"missing file", func(dir, _ string) string { return filepath.Join(dir, "missing") }, http.StatusServiceUnavailable},
		{"empty file", func(dir, _ string) string {
			p := filepath.Join(dir, "empty")
			_ = os.WriteFile(p, nil, 0o600)
			return p
		}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.token(dir, writeToken(t, dir, testToken))
			s := newTestSidecar(t, nil, func(o *Options) { o.Endpoint, o.TokenFile = "https://facesearch.invalid", path })
			resp, body := do(t, must(http.NewRequest(http.MethodGet, s.url+"/healthz", nil)))
			if resp.StatusCode != tc.status {
				t.Errorf("got %s %q, want %d", resp.Status, body, tc.status)
			}
			if tc.status == http.StatusOK && string(body) != "ok" {
				t.Errorf("body %q, want ok", body)
			}
			if tc.status != http.StatusOK && !strings.Contains(string(body), path) {
				t.Errorf("body %q does not name the token file", body)
			}
		})
	}
}

// TestSidecarRefusals: what the sidecar answers itself, without the endpoint.
func TestSidecarRefusals(t *testing.T) {
	ep := newFakeEndpoint(t)
	s := newTestSidecar(t, ep, nil)
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		target     string
		remoteAddr string
		status     int
		errType    string
	}{
		{"unknown path", http.MethodPost, "/v1/search", "RekognitionService.ListFaces", "", http.StatusNotFound, typeUnknownOperation},
		{"GET /", http.MethodGet, "/", "", "", http.StatusMethodNotAllowed, typeUnknownOperation},
		{"GET /search", http.MethodGet, "/search?collection=people", "", "", http.StatusMethodNotAllowed, typeUnknownOperation},
		{"POST /healthz", http.MethodPost, "/healthz", "", "", http.StatusMethodNotAllowed, typeUnknownOperation},
		{"no X-Amz-Target", http.MethodPost, "/", "", "", http.StatusBadRequest, typeUnknownOperation},
		{"another service", http.MethodPost, "/", "DynamoDB_20120810.ListTables", "", http.StatusBadRequest, typeUnknownOperation},
		{"remote caller", http.MethodPost, "/", "RekognitionService.ListFaces", "10.1.2.3:40000", http.StatusForbidden, typeAccessDenied},
		{"remote caller of /healthz", http.MethodGet, "/healthz", "", "[2001:db8::1]:40000", http.StatusForbidden, typeAccessDenied},
		{"IPv6 loopback caller", http.MethodGet, "/healthz", "", "[::1]:40000", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ep.requests())
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}"))
			req.RemoteAddr = "127.0.0.1:40000"
			if tc.remoteAddr != "" {
				req.RemoteAddr = tc.remoteAddr
			}
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			w := httptest.NewRecorder()
			s.proxy.ServeHTTP(w, req)
			resp := w.Result()
			if resp.StatusCode != tc.status {
				t.Fatalf("got %s %q, want %d", resp.Status, w.Body.Bytes(), tc.status)
			}
			if tc.errType != "" {
				if got := errorType(t, resp, w.Body.Bytes()); got != tc.errType {
					t.Errorf("error type %s, want %s", got, tc.errType)
				}
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if n := len(ep.requests()) - before; n != 0 {
				t.Errorf("the endpoint got %d requests", n)
			}
		})
	}
}

// TestSidecarClientHangUpCancelsForward: the endpoint sees the forward canceled when the
// application gives up, rather than working on for nobody.
func TestSidecarClientHangUpCancelsForward(t *testing.T) {
	ep := newFakeEndpoint(t)
	canceled := make(chan struct{})
	ep.setAnswer(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	})
	s := newTestSidecar(t, ep, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := must(http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/", strings.NewReader(`{}`)))
	req.Header.Set("X-Amz-Target", targetPrefix+"ListCollections")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("got %s, want the client's timeout", resp.Status)
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Error("the endpoint's request was not canceled within 5 s of the client's")
	}
}

// TestSidecarEndpointURL: what New accepts as the endpoint.
func TestSidecarEndpointURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // "" = refused
	}{
		{"https://facesearch-api.facesearch.svc:8443", "https://facesearch-api.facesearch.svc:8443/"},
		{"https://facesearch-api.facesearch.svc/", "https://facesearch-api.facesearch.svc/"},
		{"HTTP://127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"", ""},
		{"facesearch-api:8443", ""},
		{"ftp://facesearch-api", ""},
		{"https://", ""},
		{"https://user:pass@facesearch-api", ""},
		{"https://facesearch-api/rekognition", ""},
		{"https://facesearch-api/?x=1", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			p, err := New(Options{Endpoint: tc.url})
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("accepted as %s", p.Endpoint())
			case tc.want != "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && p.Endpoint().String() != tc.want:
				t.Errorf("endpoint %s, want %s", p.Endpoint(), tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pass") {
				t.Errorf("the error %q shows the URL's password", err)
			}
		})
	}
}

// must returns v or fails the test's goroutine with a panic on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
