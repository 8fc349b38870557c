package testenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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
	// notify, when set, makes the proxy serve notification streams itself (Notifications).
	notify *notifier
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
		n := p.notifier()
		if n != nil && IsListen(r) {
			n.serve(w, r)
			return
		}
		if n == nil || r.Method != http.MethodPut {
			rp.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		if sw.status == http.StatusOK {
			n.publish(r.URL.Path)
		}
	}))
	// srv.Close waits for every connection to end, and a notification stream (MinIO's own,
	// proxied) ends only when its connection does; a watcher of the code under test may also
	// open a new one between a CloseClientConnections and Close. So: Close (which first stops
	// the listener, so no connection is opened after it) while the connections left are cut
	// until it returns.
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		for {
			select {
			case <-closed:
				return
			case <-time.After(50 * time.Millisecond):
				srv.CloseClientConnections()
			}
		}
	})
	t.Cleanup(p.stopNotifications)
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

// IsListen matches MinIO's notification subscriptions (ListenBucketNotification).
func IsListen(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Has("events")
}

// Notifications makes the proxy answer notification subscriptions (IsListen) itself, the way a
// MinIO that flushes its stream does: the answer at once, a keep-alive every ping, and an
// event for every PUT that passes through the proxy and MinIO accepts, under the subscribed
// bucket and prefix. The MinIO the tests run cannot stand in for it: its builds since PR 21651
// (October 2025) never flush a notification stream, so that nothing of it (not even the
// answer's header) arrives before 4 KiB of events have piled up. Writers must reach MinIO
// through the proxy for their PUTs to be announced.
func (p *FaultProxy) Notifications(ping time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.notify == nil {
		p.notify = &notifier{ping: ping, subs: map[chan []byte]subscription{}, stop: make(chan struct{})}
	}
}

// AnnounceOn makes the PUTs that pass through p announced on other's notification streams
// (other must serve them: Notifications), so that a writer's requests and a reader's can go
// through proxies of their own.
func (p *FaultProxy) AnnounceOn(other *FaultProxy) {
	n := other.notifier()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify = n
}

// Silence makes the notification streams say nothing while on: the open ones fall silent
// (a connection that broke without a word) and new subscriptions get no answer (a MinIO that
// holds its stream back).
func (p *FaultProxy) Silence(on bool) {
	if n := p.notifier(); n != nil {
		n.mu.Lock()
		n.silent = on
		n.mu.Unlock()
	}
}

func (p *FaultProxy) notifier() *notifier {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify
}

func (p *FaultProxy) stopNotifications() {
	if n := p.notifier(); n != nil {
		n.once.Do(func() { close(n.stop) })
	}
}

type notifier struct {
	ping time.Duration
	stop chan struct{}
	once sync.Once

	mu     sync.Mutex
	silent bool
	subs   map[chan []byte]subscription
}

type subscription struct{ bucket, prefix string }

func (n *notifier) serve(w http.ResponseWriter, r *http.Request) {
	for n.isSilent() {
		select {
		case <-r.Context().Done():
			return
		case <-n.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	bucket := strings.Trim(r.URL.Path, "/")
	ch := make(chan []byte, 64)
	n.mu.Lock()
	n.subs[ch] = subscription{bucket: bucket, prefix: r.URL.Query().Get("prefix")}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	ping := time.NewTicker(n.ping)
	defer ping.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case <-n.stop:
			return
		case msg = <-ch:
		case <-ping.C:
			msg = []byte(`{"Records":null}` + "\n")
		}
		if n.isSilent() {
			continue
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

func (n *notifier) isSilent() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.silent
}

// publish announces the object at path (/bucket/key) to the subscriptions it matches, with
// the key query-escaped as MinIO sends it.
func (n *notifier) publish(path string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	ev, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventName": "s3:ObjectCreated:Put",
		"s3":        map[string]any{"bucket": map[string]string{"name": bucket}, "object": map[string]string{"key": url.QueryEscape(key)}},
	}}})
	ev = append(ev, '\n')
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch, sub := range n.subs {
		if sub.bucket == bucket && strings.HasPrefix(key, sub.prefix) {
			// Like MinIO, drop the events of a subscriber that does not keep up.
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
