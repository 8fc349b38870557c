package testenv

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/store"
)

// FaultProxy stands between the code under test and MinIO and fails chosen requests: a
// storage error at an exact step of a multi-step write, which a real MinIO cannot produce on
// demand. Everything else passes through unchanged (SigV4 signs the proxy's host, which the
// proxy keeps).
type FaultProxy struct {
	// Endpoint is host:port of the proxy, to use in place of MinIO's.
	Endpoint string

	mu      sync.Mutex
	match   func(*http.Request) bool
	seen    int  // matching requests so far
	failAt  int  // the first matching request to fail (1-based); 0: none
	failFor int  // how many matching requests from failAt on fail
	landed  bool // failing requests reach MinIO first: only their answer is lost
	// hold, when set, keeps requests it matches waiting until released is closed.
	hold     func(*http.Request) bool
	held     chan struct{}
	released chan struct{}
	// anonymous matches the requests sent on without their credentials.
	anonymous func(*http.Request) bool
}

// NewFaultProxy starts a proxy to the MinIO server at endpoint (host:port).
func NewFaultProxy(t testing.TB, endpoint string) *FaultProxy {
	t.Helper()
	target, err := url.Parse("http://" + endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if held, released := p.holds(r); held != nil {
			held <- struct{}{}
			<-released
		}
		if p.isAnonymous(r) {
			r.Header.Del("Authorization")
		}
		if fail, landed := p.fails(r); fail {
			if landed {
				rp.ServeHTTP(httptest.NewRecorder(), r)
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected fault</Message></Error>`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Fail makes the nth request (1-based, counted from now) that match fail with 503, and the
// times-1 matching requests after it (the storage client retries a 503 on its own).
func (p *FaultProxy) Fail(match func(*http.Request) bool, nth, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.seen, p.failAt, p.failFor, p.landed = match, 0, nth, times, false
}

// FailAnswer is Fail, except that the failing requests reach MinIO and take effect first:
// only their answers are lost, as when a connection drops after a write landed.
func (p *FaultProxy) FailAnswer(match func(*http.Request) bool, nth, times int) {
	p.Fail(match, nth, times)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.landed = true
}

// Count makes no request fail and starts counting the matching ones; Seen tells how many.
func (p *FaultProxy) Count(match func(*http.Request) bool) { p.Fail(match, 0, 0) }

// Seen is the number of matching requests since Fail or Count.
func (p *FaultProxy) Seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// Hold keeps the next requests that match waiting before they reach MinIO: a write in
// flight, stalled at the worst moment. It returns when one is held; release lets them go.
func (p *FaultProxy) Hold(match func(*http.Request) bool) (held <-chan struct{}, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, r := make(chan struct{}, 16), make(chan struct{})
	p.hold, p.held, p.released = match, h, r
	var once sync.Once
	return h, func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(r)
		})
	}
}

func (p *FaultProxy) holds(r *http.Request) (chan struct{}, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold == nil || !p.hold(r) {
		return nil, nil
	}
	return p.held, p.released
}

func (p *FaultProxy) fails(r *http.Request) (fail, landed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.match == nil || !p.match(r) {
		return false, false
	}
	p.seen++
	return p.failAt > 0 && p.seen >= p.failAt && p.seen < p.failAt+p.failFor, p.landed
}

// Anonymous sends the requests that match on to MinIO without their credentials, so that
// MinIO itself refuses them with 403 AccessDenied, as it refuses credentials whose policy
// does not allow the call. nil sends every request as it came.
func (p *FaultProxy) Anonymous(match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.anonymous = match
}

func (p *FaultProxy) isAnonymous(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.anonymous != nil && p.anonymous(r)
}

// IsCommit matches the writes of commits to a collection's log: each is one step of a
// multi-step store operation.
func IsCommit(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/log/")
}

// IsWrite matches every request that changes storage: PUTs, DELETEs and multi-object deletes.
func IsWrite(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodDelete ||
		(r.Method == http.MethodPost && r.URL.Query().Has("delete"))
}

// ProxiedConnection is the bucket's connection through the proxy.
func (b *Bucket) ProxiedConnection(p *FaultProxy) store.Connection {
	c := b.Connection()
	c.Endpoint = p.Endpoint
	return c
}
