package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Commit notifications. A follower of a collection (an index shard) learns of new commits
// by polling the log: a LIST per poll, per follower. MinIO can push them instead: a GET with
// ?events= (ListenBucketNotification, a MinIO extension that needs no notification target
// and only the s3:ListenBucketNotification permission) streams the creation of every object
// under a prefix.
//
// A quiet stream proves nothing by itself: minio-go hides whether the subscription was
// answered and swallows MinIO's keep-alives, and a MinIO that buffers the stream (builds since
// PR 21651, October 2025, never flush it: no header, no event until 4 KiB have piled up) or a
// half-open connection looks exactly like a collection nobody writes to. So the client that
// NewClient builds reports, through its transport, when a subscription is answered and every
// time MinIO speaks on it (an event, or the keep-alive minio-go asks for every 10 s): a watch
// is Live only while MinIO spoke within NotificationSilence. Only that proves the follower
// has been told of every commit up to then.

// DefaultNotificationSilence is Options.NotificationSilence's default: two of the keep-alives
// minio-go asks MinIO for (one every 10 s), and some slack.
const DefaultNotificationSilence = 25 * time.Second

// CommitWatch follows MinIO's notifications of a collection's new commits; see
// Store.WatchCommits.
type CommitWatch struct {
	// C receives a value when new commits may be there: after an event of a commit, and after
	// each (re)subscription, since commits made while there was none went unannounced. One
	// pending value stands for any number of events, so a burst costs one pull.
	C <-chan struct{}

	c       chan struct{}
	silence time.Duration

	mu sync.Mutex
	// answered is when the current subscription was answered; zero when there is none.
	answered time.Time
	answers  int       // subscriptions answered so far
	heard    time.Time // when MinIO last spoke on it
	event    time.Time // when the last event of a commit arrived
	err      error
}

// WatchState is what a CommitWatch knows now.
type WatchState struct {
	// Live: a subscription was answered and MinIO spoke on it within NotificationSilence.
	Live bool
	// Since is when the live subscription was answered: a commit made before then may have
	// gone unannounced.
	Since time.Time
	// Heard is when MinIO last spoke on it, an event or a keep-alive: every commit made
	// before then, and after Since, has been announced.
	Heard time.Time
	// Event is when the last event of a commit arrived.
	Event time.Time
	// Err is why the last subscription failed or ended; nil if none did.
	Err error
}

// State says whether the watch is live and since when.
func (w *CommitWatch) State() WatchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := !w.answered.IsZero() && time.Since(w.heard) <= w.silence
	st := WatchState{Live: live, Event: w.event, Err: w.err}
	if live {
		st.Since, st.Heard = w.answered, w.heard
	}
	return st
}

// WatchCommits subscribes to MinIO's notifications of the commits of collection coll (and
// of its manifest) until ctx ends, subscribing again with backoff when the subscription fails
// or goes silent. The store owns the key layout: the caller only hears that commits may be
// there, and reads them with Changes.
func (s *Store) WatchCommits(ctx context.Context, coll string) *CommitWatch {
	w := &CommitWatch{c: make(chan struct{}, 1), silence: s.opts.NotificationSilence}
	w.C = w.c
	go w.run(ctx, s, coll)
	return w
}

const (
	minListenBackoff = time.Second
	maxListenBackoff = time.Minute
)

func (w *CommitWatch) run(ctx context.Context, s *Store, coll string) {
	backoff := minListenBackoff
	for ctx.Err() == nil {
		answered, err := w.listen(ctx, s, coll)
		w.mu.Lock()
		w.answered = time.Time{}
		if ctx.Err() == nil {
			w.err = err
		}
		w.mu.Unlock()
		if answered {
			backoff = minListenBackoff
		} else {
			backoff = min(2*backoff, maxListenBackoff)
		}
		// Jitter: the shards of every collection resubscribe when MinIO restarts.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// errSilent ends a subscription that MinIO has not spoken on for too long.
var errSilent = errors.New("MinIO did not speak on the notification stream")

// listen runs one subscription until it fails, goes silent or ctx ends; answered says
// whether MinIO answered it.
func (w *CommitWatch) listen(ctx context.Context, s *Store, coll string) (answered bool, err error) {
	lctx, cancel := context.WithCancel(context.WithValue(ctx, listenProbeKey{}, w))
	defer cancel()
	prefix := s.collPrefix(coll)
	start := time.Now()
	w.mu.Lock()
	before := w.answers
	w.mu.Unlock()
	// Answered at some point, though minio-go may be subscribing again by now.
	wasAnswered := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.answers > before
	}
	events := s.client.ListenBucketNotification(lctx, s.bucket, prefix, "", []string{"s3:ObjectCreated:*"})
	check := time.NewTicker(max(w.silence/5, 10*time.Millisecond))
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return wasAnswered(), nil
		case info, ok := <-events:
			if !ok {
				return wasAnswered(), errors.New("the notification stream ended")
			}
			if info.Err != nil {
				// minio-go reports a broken stream and then resubscribes by itself; starting over
				// here keeps one backoff, and this watch's view of the subscription, in charge.
				return wasAnswered(), storageError("listening for notifications", info.Err)
			}
			for _, r := range info.Records {
				if isCommitEvent(prefix, r.S3.Object.Key) {
					w.notify(true)
				}
			}
		case <-check.C:
			// Silent since MinIO last spoke, or since this subscription was sent if it has
			// not spoken on it yet (no answer at all, or a stream that ended and minio-go is
			// subscribing again).
			w.mu.Lock()
			last := w.heard
			w.mu.Unlock()
			if last.Before(start) {
				last = start
			}
			if time.Since(last) > w.silence {
				return wasAnswered(), fmt.Errorf("%w for %s (a MinIO that buffers the stream, or a broken connection)", errSilent, w.silence)
			}
		}
	}
}

// notify records that commits may be there; event says it was an event of a commit (not a
// new subscription).
func (w *CommitWatch) notify(event bool) {
	if event {
		w.mu.Lock()
		w.event = time.Now()
		w.mu.Unlock()
	}
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// isCommitEvent says whether an event's key (MinIO sends it query-escaped) is a commit of
// the log or the manifest: snapshots and segments announce nothing a follower reads.
func isCommitEvent(collPrefix, key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	rest, ok := strings.CutPrefix(key, collPrefix)
	if !ok {
		return false
	}
	if rest == "manifest.json" {
		return true
	}
	dir, name := path.Split(rest)
	_, isGen := parseGen(name)
	return isGen && !strings.HasSuffix(name, ".json") && strings.HasPrefix(dir, "data/") && strings.HasSuffix(dir, "/log/")
}

// listenProbeKey marks the context of a subscription, so that the transport reports to its
// CommitWatch.
type listenProbeKey struct{}

// listenTransport reports to a CommitWatch what minio-go does not: that its subscription was
// answered, and each time MinIO spoke on it.
type listenTransport struct{ http.RoundTripper }

func (t listenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	w, ok := r.Context().Value(listenProbeKey{}).(*CommitWatch)
	// minio-go may look the bucket's location up first, on the same context.
	if !ok || err != nil || resp.StatusCode != http.StatusOK || !r.URL.Query().Has("events") {
		return resp, err
	}
	now := time.Now()
	w.mu.Lock()
	w.answered, w.heard, w.err = now, now, nil
	w.answers++
	id := w.answers
	w.mu.Unlock()
	// Commits made before the subscription went unannounced.
	w.notify(false)
	resp.Body = &listenBody{ReadCloser: resp.Body, w: w, id: id}
	return resp, nil
}

// listenBody is the stream of subscription number id of w.
type listenBody struct {
	io.ReadCloser
	w  *CommitWatch
	id int
}

func (b *listenBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	if b.w.answers != b.id {
		return n, err // an old stream, read to its end: it speaks for nothing
	}
	if n > 0 {
		b.w.heard = time.Now()
	}
	if err != nil {
		// Over: minio-go may subscribe again by itself; until then nothing is announced.
		b.w.answered = time.Time{}
	}
	return n, err
}

// listenTransportOf wraps minio-go's default transport.
func listenTransportOf(secure bool) (http.RoundTripper, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	return listenTransport{tr}, nil
}
