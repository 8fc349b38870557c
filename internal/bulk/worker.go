package bulk

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// worker is one process's run of a worker. Its goroutines share opts, svc and objects; only
// the committing goroutine touches the rest.
type worker struct {
	opts    Options
	svc     *search.Service
	objects progressObjects
	log     logr.Logger
	// run identifies this process in the progress it writes.
	run string

	// progress is the worker's record, etag the ETag of the object this process last wrote
	// ("" before it wrote any, and none was there).
	progress *Progress
	etag     string
	// users are the users this process knows to exist.
	users map[string]bool
	// started is when this process began enrolling, doneHere how many photos it did since,
	// lastLog when it last logged a progress line.
	started  time.Time
	doneHere int
	lastLog  time.Time
	// retries counts the steps retried (any goroutine).
	retries atomic.Int64
}

// outcome is what preparing a photo gave: a face to commit, or why there is none.
type outcome struct {
	face   *store.NewFace
	skip   *Skipped
	noFace bool
}

// batch is photos committed together, in key order, and their outcomes as they are prepared.
type batch struct {
	photos  []Photo
	out     []outcome
	pending atomic.Int32
	// prepared is closed when every photo has its outcome.
	prepared chan struct{}
}

// task is one photo of a batch to prepare.
type task struct {
	b *batch
	i int
}

// enrol prepares the photos Parallel at a time and commits them a batch at a time, in key
// order, while the next batches are prepared.
func (w *worker) enrol(ctx context.Context, todo []Photo) error {
	g, ctx := errgroup.WithContext(ctx)
	queue := make(chan *batch, aheadBatches)
	tasks := make(chan task)
	g.Go(func() error {
		defer close(tasks)
		defer close(queue)
		for start := 0; start < len(todo); start += w.opts.BatchSize {
			photos := todo[start:min(start+w.opts.BatchSize, len(todo))]
			b := &batch{photos: photos, out: make([]outcome, len(photos)), prepared: make(chan struct{})}
			b.pending.Store(int32(len(photos)))
			// The queue's room is what bounds the batches prepared ahead of the commits.
			select {
			case queue <- b:
			case <-ctx.Done():
				return nil
			}
			for i := range photos {
				select {
				case tasks <- task{b: b, i: i}:
				case <-ctx.Done():
					return nil
				}
			}
		}
		return nil
	})
	for range w.opts.Parallel {
		g.Go(func() error {
			for t := range tasks {
				out, err := w.prepare(ctx, t.b.photos[t.i])
				if err != nil {
					return err
				}
				t.b.out[t.i] = out
				if t.b.pending.Add(-1) == 0 {
					close(t.b.prepared)
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for b := range queue {
			select {
			case <-b.prepared:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := w.commit(ctx, b); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	return g.Wait()
}

// prepare reads a photo and finds its largest face with the collection's engine. A photo that
// cannot give a face is an outcome, not an error; the error is for storage out of reach for
// longer than RetryFor, and for the context's end.
func (w *worker) prepare(ctx context.Context, p Photo) (outcome, error) {
	if why := userError(p); why != "" {
		return outcome{skip: &Skipped{Key: p.Key, Reason: string(errs.InvalidParameter), Message: "the folder's name is no UserId: " + why}}, nil
	}
	img := search.Image{S3Object: &search.S3Object{Bucket: w.opts.SourceBucket, Name: p.Key}}
	var found *search.ImageFaces
	err := w.retry(ctx, "analysing "+p.Key, func() (err error) {
		found, err = w.svc.FacesOfImage(ctx, w.opts.Collection, img, search.IndexFacesOptions{ExternalImageID: p.ExternalImageID, MaxFaces: 1})
		return err
	})
	switch {
	case ctx.Err() != nil:
		return outcome{}, ctx.Err()
	case err != nil && transient(err):
		return outcome{}, err
	case err != nil:
		// Unreadable, not an image, too large: this photo's fault, not the job's.
		e := errs.As(err)
		msg := err.Error()
		if e != nil {
			msg = e.Message
		}
		return outcome{skip: &Skipped{Key: p.Key, Reason: string(errs.CodeOf(err)), Message: msg}}, nil
	case len(found.Faces) == 0:
		s := &Skipped{Key: p.Key, Reason: search.ReasonNoFace, Message: "no face found"}
		if len(found.UnindexedFaces) > 0 {
			var reasons []string
			for _, r := range found.UnindexedFaces[0].Reasons {
				reasons = append(reasons, string(r))
			}
			s.Reason, s.Message = strings.Join(reasons, ","), "the largest face was not indexed"
		}
		return outcome{skip: s, noFace: true}, nil
	}
	return outcome{face: &found.Faces[0]}, nil
}

// commit stores a batch's faces in one commit, makes their users and associates them, then
// records the batch in the progress. Every step is one a replay after a kill does again
// without effect: the faces stored are found by ImageId and ExternalImageId, a user that
// exists is left alone, a face on its user already is ignored.
func (w *worker) commit(ctx context.Context, b *batch) error {
	var faces []store.NewFace
	var at []int // the photo of each face
	for i, o := range b.out {
		if o.face != nil {
			faces = append(faces, *o.face)
			at = append(at, i)
		}
	}
	faceIDs := make([]string, len(b.photos))
	if len(faces) > 0 {
		var records []store.FaceRecord
		if err := w.retry(ctx, "storing the faces of a batch", func() (err error) {
			records, err = w.svc.ImportFaces(ctx, w.opts.Collection, faces)
			return err
		}); err != nil {
			return err
		}
		for k, r := range records {
			faceIDs[at[k]] = r.FaceID
		}
	}
	refused := map[string]Skipped{} // by FaceId
	if !w.opts.NoUsers {
		// Every user of the batch is made, with a face or not, as `facesearch enrol` makes
		// every user of its folder.
		var order []string
		byUser := map[string][]string{}
		for i, p := range b.photos {
			if _, ok := byUser[p.UserID]; !ok && userError(p) == "" {
				order = append(order, p.UserID)
				byUser[p.UserID] = nil
			}
			if faceIDs[i] != "" {
				byUser[p.UserID] = append(byUser[p.UserID], faceIDs[i])
			}
		}
		for _, user := range order {
			if err := w.ensureUser(ctx, user); err != nil {
				return err
			}
			ids := byUser[user]
			for start := 0; start < len(ids); start += store.MaxFacesPerAssociation {
				if err := w.associate(ctx, user, ids[start:min(start+store.MaxFacesPerAssociation, len(ids))], refused); err != nil {
					return err
				}
			}
		}
	}
	p := w.progress
	for i, o := range b.out {
		switch {
		case o.skip != nil:
			p.skip(*o.skip, o.noFace)
		case refused[faceIDs[i]].Reason != "":
			s := refused[faceIDs[i]]
			s.Key = b.photos[i].Key
			p.skip(s, false)
		default:
			p.Indexed++
		}
	}
	p.Done += len(b.photos)
	p.Cursor = b.photos[len(b.photos)-1].Key
	p.Batches++
	if err := w.checkpoint(ctx); err != nil {
		return err
	}
	w.doneHere += len(b.photos)
	if time.Since(w.lastLog) >= w.opts.ProgressInterval {
		w.lastLog = time.Now()
		w.log.Info("Committed batches", "done", p.Done, "listed", p.Listed, "indexed", p.Indexed, "noFace", p.NoFace, "failed", p.Failed,
			"batches", p.Batches, "photosPerSecond", w.rate(), "retries", w.retries.Load())
	}
	return nil
}

// associate associates faces with a user that exists, and erases the faces it refuses (as a User resource's sync does: biometric data nobody asked
// for), recording why in refused. A user that would hold more than 100 faces takes them one
// at a time, until it is full.
func (w *worker) associate(ctx context.Context, user string, ids []string, refused map[string]Skipped) error {
	var res *store.AssociateFacesResult
	err := w.retry(ctx, "associating faces with "+user, func() (err error) {
		res, err = w.svc.AssociateFaces(ctx, w.opts.Collection, user, ids, *w.opts.UserMatchThreshold, store.UserOptions{})
		if errs.Is(err, errs.ResourceNotFound) {
			// Deleted since this process made it: made again, then tried again.
			delete(w.users, user)
			if err := w.ensureUser(ctx, user); err != nil {
				return err
			}
			res, err = w.svc.AssociateFaces(ctx, w.opts.Collection, user, ids, *w.opts.UserMatchThreshold, store.UserOptions{})
		}
		return err
	})
	switch {
	case errs.Is(err, errs.ServiceQuotaExceeded) && len(ids) > 1:
		for _, id := range ids {
			if err := w.associate(ctx, user, []string{id}, refused); err != nil {
				return err
			}
		}
		return nil
	case errs.Is(err, errs.ServiceQuotaExceeded):
		refused[ids[0]] = Skipped{Reason: string(errs.ServiceQuotaExceeded), Message: "the user holds the most faces a user may (100)"}
		return w.erase(ctx, ids)
	case err != nil:
		return err
	}
	var orphans []string
	for _, u := range res.Unsuccessful {
		refused[u.FaceID] = Skipped{Reason: strings.Join(u.Reasons, ","), Message: "the face was not associated with " + user}
		// A face on another user stays there: it is that user's.
		if u.UserID == "" || u.UserID == user {
			orphans = append(orphans, u.FaceID)
		}
	}
	return w.erase(ctx, orphans)
}

// ensureUser creates the user unless this process knows it exists; one that exists already
// is what a replay, or another worker, finds.
func (w *worker) ensureUser(ctx context.Context, user string) error {
	if w.users[user] {
		return nil
	}
	err := w.retry(ctx, "creating user "+user, func() error {
		return w.svc.CreateUser(ctx, w.opts.Collection, user, store.UserOptions{})
	})
	// A Conflict is the user existing, unless it is the store's retryable one ("too many
	// concurrent writers"), which retry has retried.
	switch code := errs.CodeOf(err); {
	case code == "", code == errs.ResourceAlreadyExists, code == errs.Conflict && !errs.IsRetryable(err):
		w.users[user] = true
		return nil
	}
	return err
}

// erase deletes faces that no user took.
func (w *worker) erase(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return w.retry(ctx, "erasing refused faces", func() error {
		_, _, err := w.svc.DeleteFaces(ctx, w.opts.Collection, ids)
		return err
	})
}
