package bulk

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Defaults of Options.
const (
	DefaultBatchSize        = 100
	DefaultProgressInterval = 30 * time.Second
	DefaultRetryFor         = 5 * time.Minute
	// MaxBatchSize bounds a batch: its faces are one commit, its prepared faces (a vector
	// each) are held in memory, and a killed worker does it again.
	MaxBatchSize = 1000
	// aheadBatches is how many batches are prepared while one commits, so that the engine
	// does not wait for the storage.
	aheadBatches = 2
)

// Options are a worker's settings.
type Options struct {
	// Storage is the store's connection: its bucket and prefix hold the collection, and the
	// job's progress objects under <prefix>bulk/<Job>/.
	Storage store.Connection
	// Collection is the CollectionId to enrol into; it must exist.
	Collection string
	// SourceBucket (default Storage.Bucket) and SourcePrefix (empty, or ending with "/") are
	// where the photos are: <SourcePrefix><UserId>/<photo>.{jpg,jpeg,png,webp}, or with
	// NoUsers any photo under SourcePrefix.
	SourceBucket, SourcePrefix string
	// NoUsers indexes faces only: no users made, none associated.
	NoUsers bool
	// Job names the job: its workers share it, and a worker started again with it resumes.
	Job string
	// Worker is this worker's number, 0 to Workers-1 (an Indexed Job's completion index).
	Worker, Workers int
	// Parallel is how many photos are read and analysed at once (default GOMAXPROCS).
	Parallel int
	// BatchSize is how many photos are committed at once (default DefaultBatchSize).
	BatchSize int
	// UserMatchThreshold is AssociateFaces' (0-100; nil: store.DefaultUserMatchThreshold).
	UserMatchThreshold *float32
	// ProgressInterval is how often a progress line is logged (default
	// DefaultProgressInterval).
	ProgressInterval time.Duration
	// RetryFor is how long a step that fails for want of storage is retried, with backoff,
	// before the worker gives up (default DefaultRetryFor).
	RetryFor time.Duration
	// Log receives the progress lines, retries and what was left alone.
	Log logr.Logger
}

// jobNamePattern is what a job may be named: a Kubernetes resource name's characters, so that
// the Job's own name can be used.
var jobNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)

// Validate says what is wrong with the options, before anything is loaded or read.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults checks the options and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.SourceBucket == "" {
		o.SourceBucket = o.Storage.Bucket
	}
	if o.Parallel == 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.RetryFor == 0 {
		o.RetryFor = DefaultRetryFor
	}
	if o.UserMatchThreshold == nil {
		t := float32(store.DefaultUserMatchThreshold)
		o.UserMatchThreshold = &t
	}
	switch {
	case o.Collection == "":
		return o, errors.New("no collection")
	case o.Storage.Bucket == "":
		return o, errors.New("no bucket")
	case !jobNamePattern.MatchString(o.Job):
		return o, fmt.Errorf("job name %q: want 1 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", o.Job)
	case o.Workers < 1 || o.Worker < 0 || o.Worker >= o.Workers:
		return o, fmt.Errorf("worker %d of %d: want 0 <= worker < workers", o.Worker, o.Workers)
	case o.Parallel < 1:
		return o, fmt.Errorf("parallel %d: want 1 or more", o.Parallel)
	case o.BatchSize < 1 || o.BatchSize > MaxBatchSize:
		return o, fmt.Errorf("batch size %d: want 1 to %d", o.BatchSize, MaxBatchSize)
	case o.SourcePrefix != "" && !strings.HasSuffix(o.SourcePrefix, "/"):
		return o, fmt.Errorf("source prefix %q: a prefix is a folder and ends with /", o.SourcePrefix)
	case *o.UserMatchThreshold < 0 || *o.UserMatchThreshold > 100:
		return o, fmt.Errorf("user match threshold %v: want 0 to 100", *o.UserMatchThreshold)
	}
	return o, nil
}

// source is the photos' place as the progress names it.
func (o Options) source() string { return "s3://" + o.SourceBucket + "/" + o.SourcePrefix }

// Run enrols the photos of one worker of a job and returns its progress when every one is
// done. It resumes where the worker's progress object says an earlier process of the job
// stopped, whatever stopped it; a photo already committed by a process killed before it
// recorded its progress is committed again, and the store's rules (a face of the same
// ImageId and ExternalImageId is the stored one, a face already on its user is left there)
// make that a no-op. Photos that cannot be enrolled are counted and named in the progress,
// not errors: an error is a collection that does not exist, storage out of reach for longer
// than RetryFor, or another process writing this worker's progress.
func Run(ctx context.Context, svc *search.Service, opts Options) (*Progress, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := store.NewClient(opts.Storage.Endpoint, opts.Storage.AccessKey, opts.Storage.SecretKey, opts.Storage.TLS)
	if err != nil {
		return nil, fmt.Errorf("while connecting to the storage: %w", err)
	}
	w := &worker{
		opts: opts, svc: svc, log: opts.Log.WithValues("job", opts.Job, "worker", opts.Worker),
		objects: progressObjects{client: client, bucket: opts.Storage.Bucket, prefix: opts.Storage.Prefix},
		users:   map[string]bool{}, run: newRunID(),
	}
	if err := w.retry(ctx, "reading the collection", func() error {
		_, err := svc.PublishStored(ctx, opts.Storage, opts.Collection, []search.S3Location{{Bucket: opts.SourceBucket, Prefix: opts.SourcePrefix}})
		return err
	}); err != nil {
		if errs.Is(err, errs.ResourceNotFound) {
			return nil, fmt.Errorf("collection %q does not exist in s3://%s/%s: make it first (a Collection resource, or CreateCollection): %w",
				opts.Collection, opts.Storage.Bucket, store.NormalizePrefix(opts.Storage.Prefix), err)
		}
		return nil, fmt.Errorf("while reading collection %s: %w", opts.Collection, err)
	}
	defer svc.Unpublish(opts.Collection)
	if err := w.resume(ctx); err != nil {
		return nil, err
	}
	var l *listing
	if err := w.retry(ctx, "listing the photos", func() (err error) {
		l, err = listPhotos(ctx, client, opts.SourceBucket, opts.SourcePrefix, !opts.NoUsers, opts.Worker, opts.Workers)
		return err
	}); err != nil {
		return nil, err
	}
	if l.ignored > 0 {
		w.log.Info("Left alone photo files that are not in a user's folder (<prefix><UserId>/<photo>)", "files", l.ignored, "first", l.ignoredKeys)
	}
	todo := l.photos
	if c := w.progress.Cursor; c != "" {
		n := 0
		for n < len(todo) && todo[n].Key <= c {
			n++
		}
		todo = todo[n:]
	}
	w.progress.Listed, w.progress.Ignored = len(l.photos), l.ignored
	if err := w.checkpoint(ctx); err != nil {
		return nil, err
	}
	w.log.Info("Listed the photos", "collection", opts.Collection, "source", opts.source(), "photos", len(l.photos),
		"done", w.progress.Done, "todo", len(todo), "start", w.progress.Starts, "parallel", opts.Parallel, "batch", opts.BatchSize)
	w.started, w.lastLog = time.Now(), time.Now()
	if err := w.enrol(ctx, todo); err != nil {
		return nil, err
	}
	finished := time.Now().UTC()
	w.progress.Finished = &finished
	if err := w.checkpoint(ctx); err != nil {
		return nil, err
	}
	p := w.progress
	w.log.Info("Enrolled every photo of the worker", "photos", p.Listed, "indexed", p.Indexed, "noFace", p.NoFace, "failed", p.Failed,
		"thisRun", w.doneHere, "seconds", time.Since(w.started).Seconds(), "photosPerSecond", w.rate())
	return p, nil
}

// newRunID is a random id for this process's progress writes.
func newRunID() string {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// resume reads the worker's progress, if an earlier process of the job left some, and takes
// it over; the job's settings must be the same, or the recorded cursor would mean nothing.
func (w *worker) resume(ctx context.Context) error {
	var prev *Progress
	if err := w.retry(ctx, "reading the progress", func() (err error) {
		prev, w.etag, err = w.objects.read(ctx, w.opts.Job, w.opts.Worker)
		return err
	}); err != nil {
		return err
	}
	now := time.Now().UTC()
	if prev == nil {
		w.progress = &Progress{Job: w.opts.Job, Worker: w.opts.Worker, Workers: w.opts.Workers, Collection: w.opts.Collection,
			Source: w.opts.source(), Users: !w.opts.NoUsers, Run: w.run, Starts: 1, Started: now}
		return nil
	}
	switch {
	case prev.Workers != w.opts.Workers:
		return fmt.Errorf("job %s ran with %d workers, not %d: the photos would be shared out differently; give the same --workers, or another --job", w.opts.Job, prev.Workers, w.opts.Workers)
	case prev.Collection != w.opts.Collection || prev.Source != w.opts.source() || prev.Users != !w.opts.NoUsers:
		return fmt.Errorf("job %s enrolled %s into %s (users %t), not %s into %s (users %t): give the same flags, or another --job",
			w.opts.Job, prev.Source, prev.Collection, prev.Users, w.opts.source(), w.opts.Collection, !w.opts.NoUsers)
	}
	w.progress = prev
	w.progress.Run = w.run
	w.progress.Starts++
	w.progress.Finished = nil
	w.log.Info("Resumed from the worker's progress", "after", prev.Cursor, "done", prev.Done, "previousRun", prev.Run, "updated", prev.Updated)
	return nil
}

// checkpoint writes the progress. An answer lost after the write landed is told apart from
// another process's write by reading the object back.
func (w *worker) checkpoint(ctx context.Context) error {
	w.progress.Updated = time.Now().UTC()
	return w.retry(ctx, "writing the progress", func() error {
		etag, err := w.objects.write(ctx, w.progress, w.etag)
		if err == nil {
			w.etag = etag
			return nil
		}
		if !errors.Is(err, errTaken) {
			return err
		}
		got, etag, rerr := w.objects.read(ctx, w.opts.Job, w.opts.Worker)
		if rerr != nil {
			return rerr
		}
		if got != nil && got.Run == w.run && got.Batches == w.progress.Batches && got.Done == w.progress.Done {
			w.etag = etag // this process's own write, whose answer was lost
			return nil
		}
		run := ""
		if got != nil {
			run = got.Run
		}
		return errs.New(errs.Conflict, "the progress of worker %d of job %s was written by another process (run %q; this one is %q): "+
			"two processes work on the same photos; this one stops", w.opts.Worker, w.opts.Job, run, w.run)
	})
}

// retry calls f until it succeeds, fails for a reason that waiting does not mend, or has
// failed for want of storage (or of memory for images) for RetryFor, waiting between
// attempts from 100 ms doubling to 10 s, with jitter.
func (w *worker) retry(ctx context.Context, step string, f func() error) error {
	deadline := time.Now().Add(w.opts.RetryFor)
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("while %s: gave up after %d attempts in %s: %w", step, attempt, w.opts.RetryFor, err)
		}
		w.retries.Add(1)
		w.log.Info("Step failed; retrying", "step", step, "attempt", attempt, "in", delay.String(), "error", err.Error())
		t := time.NewTimer(delay + rand.N(delay/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// transient says whether waiting may mend an error: the storage out of reach or busy,
// another writer's race, the memory for images full. An error that carries no code is not
// retried here: it is unexpected, and a person should see it.
func transient(err error) bool {
	return errs.IsRetryable(err) && errs.CodeOf(err) != errs.Internal
}

// rate is the photos per second this process has done.
func (w *worker) rate() float64 {
	s := time.Since(w.started).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(w.doneHere) / s
}
