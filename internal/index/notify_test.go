package index_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// notifyEnv is a collection on a real MinIO, reached through a proxy that can serve
// notification streams (testenv.FaultProxy.Notifications): the writer and the shard's store
// both go through it.
type notifyEnv struct {
	bucket *testenv.Bucket
	proxy  *testenv.FaultProxy
	writer *store.Store
}

func newNotifyEnv(t *testing.T, opts store.Options) *notifyEnv {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: opts})
	proxy := testenv.NewFaultProxy(t, bucket.Server.Endpoint)
	e := &notifyEnv{bucket: bucket, proxy: proxy, writer: proxiedStore(t, bucket, proxy, opts)}
	testenv.CreateCollection(t, e.writer, "c", "m1", dim)
	return e
}

func proxiedStore(t *testing.T, bucket *testenv.Bucket, proxy *testenv.FaultProxy, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(bucket.ProxiedConnection(proxy), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// store is a new Store through the proxy, as another process would have.
func (e *notifyEnv) store(t *testing.T, opts store.Options) *store.Store {
	return proxiedStore(t, e.bucket, e.proxy, opts)
}

func (e *notifyEnv) index(t *testing.T, seed int) string {
	t.Helper()
	recs, err := e.writer.IndexFaces(context.Background(), "c", []store.NewFace{{ImageID: fmt.Sprint(seed), Embedding: vec(seed)}}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return recs[0].FaceID
}

// finds says whether the shard's best match for seed's vector is face.
func finds(shard *index.Shard, seed int, face string) bool {
	m, err := shard.Search(context.Background(), vec(seed), index.SearchOptions{K: 1})
	return err == nil && len(m) == 1 && m[0].FaceID == face
}

// TestShardLearnsOfCommitsFromNotifications: with a live notification stream, a commit made
// by another store is applied at once, by a pull the event caused, though the fallback poll
// would not run for a minute; without one (a MinIO that refuses the subscription, or
// notifications turned off), the fast poll applies it.
func TestShardLearnsOfCommitsFromNotifications(t *testing.T) {
	t.Run("live stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newNotifyEnv(t, store.Options{})
		e.proxy.Notifications(100 * time.Millisecond)
		shard := index.NewShard(e.store(t, store.Options{}), "c", index.ShardOptions{FallbackPollInterval: time.Minute})
		go func() { _ = shard.Run(ctx) }()
		eventually(t, "shard ready, its stream live", func() bool { return shard.Ready() && shard.NotificationsLive() })
		polled, notified := shard.Pulls().Polled.Load(), shard.Pulls().Notified.Load()

		for i := 1; i <= 3; i++ {
			face := e.index(t, i)
			eventually(t, "the shard applies the commit", func() bool { return finds(shard, i, face) })
		}
		if got := shard.Pulls().Polled.Load(); got != polled {
			t.Errorf("%d polls on a live stream within a minute; want none", got-polled)
		}
		if got := shard.Pulls().Notified.Load(); got < notified+1 {
			t.Errorf("%d pulls caused by notifications for 3 commits; want some", got-notified)
		}
		if got := shard.Pulls().CaughtUp.Load(); got != 0 {
			t.Errorf("%d searches had to catch up; the notifications should have made that needless", got)
		}
	})

	t.Run("subscription refused", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newNotifyEnv(t, store.Options{})
		// MinIO itself refuses it, as it refuses credentials without s3:ListenBucketNotification.
		e.proxy.Anonymous(testenv.IsListen)
		shard := index.NewShard(e.store(t, store.Options{}), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond})
		go func() { _ = shard.Run(ctx) }()
		eventually(t, "shard ready", shard.Ready)
		face := e.index(t, 1)
		eventually(t, "the fast poll applies the commit", func() bool { return finds(shard, 1, face) })
		if shard.NotificationsLive() || shard.Pulls().Notified.Load() != 0 || shard.Pulls().Polled.Load() == 0 {
			t.Errorf("live %v, pulls notified %d, polled %d: want the poll only", shard.NotificationsLive(),
				shard.Pulls().Notified.Load(), shard.Pulls().Polled.Load())
		}
	})

	t.Run("notifications off", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newNotifyEnv(t, store.Options{})
		e.proxy.Notifications(100 * time.Millisecond)
		e.proxy.Count(testenv.IsListen)
		shard := index.NewShard(e.store(t, store.Options{}), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond, NoNotifications: true})
		go func() { _ = shard.Run(ctx) }()
		eventually(t, "shard ready", shard.Ready)
		face := e.index(t, 1)
		eventually(t, "the poll applies the commit", func() bool { return finds(shard, 1, face) })
		if shard.Pulls().Notified.Load() != 0 || e.proxy.Seen() != 0 {
			t.Errorf("%d subscriptions, %d pulls caused by notifications with notifications off", e.proxy.Seen(), shard.Pulls().Notified.Load())
		}
	})
}

// TestLiveStreamKeepsAShardFresh: a shard that polls once a minute, with a staleness bound of
// a second, is not stale while MinIO keeps speaking on its stream: searches answer without
// catching up. Once the stream falls silent (a connection broken without a word, then
// subscriptions left unanswered), it is not live any more and the shard polls fast again.
func TestLiveStreamKeepsAShardFresh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := store.Options{NotificationSilence: 500 * time.Millisecond}
	e := newNotifyEnv(t, opts)
	e.proxy.Notifications(100 * time.Millisecond)
	face := e.index(t, 1)
	shard := index.NewShard(e.store(t, opts), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond, FallbackPollInterval: time.Minute, MaxStaleness: time.Second})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready, its stream live", func() bool { return shard.Ready() && shard.NotificationsLive() })
	polled := shard.Pulls().Polled.Load()

	time.Sleep(2 * time.Second)
	if !finds(shard, 1, face) || shard.Pulls().CaughtUp.Load() != 0 || shard.Pulls().Polled.Load() != polled {
		t.Fatalf("on a live stream, 2s after the last pull (bound 1s): found %v, %d catch-up pulls, %d polls; want the face, none, none",
			finds(shard, 1, face), shard.Pulls().CaughtUp.Load(), shard.Pulls().Polled.Load()-polled)
	}

	e.proxy.Silence(true)
	eventually(t, "the silent stream is not live", func() bool { return !shard.NotificationsLive() })
	polled = shard.Pulls().Polled.Load()
	eventually(t, "the shard polls fast again", func() bool { return shard.Pulls().Polled.Load() >= polled+5 })
	if !finds(shard, 1, face) {
		t.Fatal("the polling shard does not answer")
	}
	e.proxy.Silence(false)
	eventually(t, "the stream is live again", shard.NotificationsLive)
}

// TestShardDistrustsAStreamThatMissesCommits: MinIO drops the events of a subscriber that
// falls behind, and a MinIO that buffers its stream delivers them late. A fallback poll that
// finds a commit no event announced makes the shard poll fast again, and stop resting its
// freshness on the stream; commits that were announced do not.
func TestShardDistrustsAStreamThatMissesCommits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newNotifyEnv(t, store.Options{})
	e.proxy.Notifications(100 * time.Millisecond)
	shard := index.NewShard(e.store(t, store.Options{}), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond, FallbackPollInterval: 500 * time.Millisecond})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready, its stream live", func() bool { return shard.Ready() && shard.NotificationsLive() })

	announced := e.index(t, 1)
	eventually(t, "the announced commit is applied", func() bool { return finds(shard, 1, announced) })
	polled := shard.Pulls().Polled.Load()
	eventually(t, "two fallback polls", func() bool { return shard.Pulls().Polled.Load() >= polled+2 })
	if !shard.NotificationsLive() {
		t.Fatal("a stream that announced every commit is no longer trusted")
	}

	// Written straight to MinIO, past the proxy: no event.
	recs, err := e.bucket.Store().IndexFaces(ctx, "c", []store.NewFace{{ImageID: "2", Embedding: vec(2)}}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fallback poll applies the unannounced commit", func() bool { return finds(shard, 2, recs[0].FaceID) })
	eventually(t, "the stream that missed it is not trusted once its event is a second late", func() bool { return !shard.NotificationsLive() })
	polled = shard.Pulls().Polled.Load()
	time.Sleep(500 * time.Millisecond)
	if n := shard.Pulls().Polled.Load() - polled; n < 5 {
		t.Fatalf("%d polls in 500ms after the stream missed a commit; want the fast poll (every 50ms)", n)
	}
}

// TestStreamThatNeverAnswersIsNotTrusted runs a shard against the test MinIO's own
// notification stream. Whatever that MinIO does, the shard must apply a commit soon, and
// must not call a stream live without having been told of that commit: the MinIO builds since
// October 2025 hold the stream back (not even its header arrives), and a shard that trusted
// a quiet connection would poll slowly and miss commits.
func TestStreamThatNeverAnswersIsNotTrusted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := store.Options{NotificationSilence: time.Second}
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p", Store: opts})
	writer := bucket.Collection(t, "c", "m1", dim)
	shard := index.NewShard(bucket.Store(), "c", index.ShardOptions{PollInterval: 50 * time.Millisecond, FallbackPollInterval: time.Minute})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready", shard.Ready)
	recs, err := writer.IndexFaces(ctx, "c", []store.NewFace{{ImageID: "1", Embedding: vec(1)}}, store.IndexFacesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shard applies the commit", func() bool { return finds(shard, 1, recs[0].FaceID) })
	time.Sleep(1500 * time.Millisecond) // past the silence bound: the stream has answered, or been given up
	live, notified := shard.NotificationsLive(), shard.Pulls().Notified.Load()
	t.Logf("this MinIO's stream: live %v, pulls notified %d, polled %d", live, notified, shard.Pulls().Polled.Load())
	if live && notified == 0 {
		t.Fatal("the stream is called live, yet announced nothing of the commit")
	}
}

// TestShardNeverAnswersFromTooFarBehindOnAStream: a live stream vouches for the shard only
// while the shard's pulls succeed: an erasure announced but not pulled (the shard's reads of
// storage fail while its stream stays up) is not reflected, so the stream stops vouching and
// the shard goes stale within its bound.
func TestShardNeverAnswersFromTooFarBehindOnAStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := store.Options{RequestTimeout: time.Second}
	e := newNotifyEnv(t, opts)
	// The shard reaches MinIO through a proxy of its own, which serves the streams and fails
	// its reads on demand; the writer's PUTs are announced on it.
	reader := testenv.NewFaultProxy(t, e.bucket.Server.Endpoint)
	reader.Notifications(100 * time.Millisecond)
	e.proxy.AnnounceOn(reader)
	erased := e.index(t, 1)
	const bound = 500 * time.Millisecond
	shard := index.NewShard(proxiedStore(t, e.bucket, reader, opts), "c", index.ShardOptions{FallbackPollInterval: time.Minute, MaxStaleness: bound})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready, its stream live", func() bool { return shard.Ready() && shard.NotificationsLive() })

	reader.Fail(func(r *http.Request) bool { return !testenv.IsListen(r) }, 1, 1<<30)
	if _, _, err := e.writer.DeleteFaces(ctx, "c", []string{erased}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shard hears of the erasure", func() bool { return shard.Pulls().Notified.Load() > 1 })
	time.Sleep(2 * bound)
	if !shard.NotificationsLive() {
		t.Fatal("the stream should still be live: only the shard's reads fail")
	}
	m, err := shard.Search(ctx, vec(1), index.SearchOptions{K: 1})
	if !errs.Is(err, errs.ResourceNotReady) {
		t.Fatalf("an erasure announced but not pulled, %s ago (bound %s): answered %+v, %v", 2*bound, bound, m, err)
	}
	reader.Count(func(*http.Request) bool { return false })
	eventually(t, "the shard answers again, without the erased face", func() bool {
		m, err := shard.Search(ctx, vec(1), index.SearchOptions{K: 1})
		return err == nil && (len(m) == 0 || m[0].FaceID != erased)
	})
}

// TestShardFollowsMinIOsOwnStream: against the test MinIO's own notification stream (no
// stand-in), the shard's stream goes live and the commits of another store reach it through
// the pulls their events cause, with the fallback poll a minute away. The pinned MinIO is one
// whose stream is flushed (hack/lib.sh says why).
func TestShardFollowsMinIOsOwnStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "p"})
	writer := bucket.Collection(t, "c", "m1", dim)
	shard := index.NewShard(bucket.Store(), "c", index.ShardOptions{FallbackPollInterval: time.Minute})
	go func() { _ = shard.Run(ctx) }()
	eventually(t, "shard ready, MinIO's stream live", func() bool { return shard.Ready() && shard.NotificationsLive() })
	polled, notified := shard.Pulls().Polled.Load(), shard.Pulls().Notified.Load()
	for i := 1; i <= 3; i++ {
		recs, err := writer.IndexFaces(ctx, "c", []store.NewFace{{ImageID: fmt.Sprint(i), Embedding: vec(i)}}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the shard applies the commit", func() bool { return finds(shard, i, recs[0].FaceID) })
	}
	if got := shard.Pulls().Polled.Load(); got != polled {
		t.Errorf("%d polls on MinIO's live stream; want none", got-polled)
	}
	if got := shard.Pulls().Notified.Load(); got == notified {
		t.Error("no pull caused by MinIO's notifications for 3 commits")
	}
}
