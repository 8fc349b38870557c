package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestWatchCommits: a watch is live once MinIO answers and keeps speaking, tells of the
// commits of its collection (and of nothing else), and is not live when MinIO refuses it.
// MinIO's stream is served by testenv's stand-in (see FaultProxy.Notifications); the
// refusal is MinIO's own.
func TestWatchCommits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := newFixture(t)
	proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	proxy.Notifications(50 * time.Millisecond)
	open := func(p *testenv.FaultProxy) *store.Store {
		st, err := store.Open(bucket.ProxiedConnection(p), store.Options{NotificationSilence: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	writer := open(proxy)
	testenv.CreateCollection(t, writer, "c", "m1", dim)
	testenv.CreateCollection(t, writer, "d", "m1", dim)

	w := open(proxy).WatchCommits(ctx, "c")
	signalled := func(within time.Duration) bool {
		select {
		case <-w.C:
			return true
		case <-time.After(within):
			return false
		}
	}
	if !signalled(5 * time.Second) {
		t.Fatal("no signal after subscribing (commits made before it may have gone unannounced)")
	}
	st := w.State()
	if !st.Live || st.Since.IsZero() || st.Err != nil || !st.Event.IsZero() {
		t.Fatalf("after the answer: %+v; want live, no event yet", st)
	}
	time.Sleep(500 * time.Millisecond) // past the silence bound: the keep-alives keep it live
	if st := w.State(); !st.Live || !st.Heard.After(st.Since) {
		t.Fatalf("after %s of keep-alives: %+v; want live, heard since", 500*time.Millisecond, st)
	}

	if _, err := writer.IndexFaces(ctx, "d", []store.NewFace{{ImageID: "x", Embedding: vec(1)}}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	if signalled(300 * time.Millisecond) {
		t.Fatal("a commit of another collection was announced")
	}
	before := time.Now()
	if _, err := writer.IndexFaces(ctx, "c", []store.NewFace{{ImageID: "y", Embedding: vec(2)}}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	if !signalled(5 * time.Second) {
		t.Fatal("the commit was not announced")
	}
	if st := w.State(); st.Event.Before(before) {
		t.Fatalf("after the commit's event: %+v", st)
	}

	// MinIO itself refuses credentials without s3:ListenBucketNotification.
	plain := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	plain.Anonymous(testenv.IsListen)
	refused := open(plain).WatchCommits(ctx, "c")
	deadline := time.Now().Add(10 * time.Second)
	for refused.State().Err == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := refused.State(); st.Live || !errs.Is(st.Err, errs.AccessDenied) {
		t.Fatalf("refused subscription: %+v; want not live, AccessDenied", st)
	}
}
