package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// MaxSkippedListed is how many skipped photos a worker's progress names, with their
// reasons; the counts go on beyond it.
const MaxSkippedListed = 100

// Progress is one worker's record of a job, kept in the store's bucket as
// <prefix>bulk/<job>/worker-<worker>.json and written after every committed batch: what a
// restarted worker resumes from, and what `facesearch bulk-enrol --status` sums.
type Progress struct {
	// Job, Worker and Workers say whose record it is: worker Worker of Workers.
	Job     string `json:"job"`
	Worker  int    `json:"worker"`
	Workers int    `json:"workers"`
	// Collection is the CollectionId enrolled into; Source the photos' s3://bucket/prefix.
	Collection string `json:"collection"`
	Source     string `json:"source"`
	// Users is false with --no-users: faces indexed, no users made.
	Users bool `json:"users"`
	// Run identifies the process that wrote the record last (random, one per start).
	Run string `json:"run"`
	// Starts counts the processes that worked on it: more than 1 after a restart.
	Starts int `json:"starts"`
	// Listed is how many photos of this worker the source held at its last start.
	Listed int `json:"listed"`
	// Ignored counts the photo files under the prefix, of every worker, that were not in a
	// user's folder (<prefix><UserId>/<photo>) and so were left alone.
	Ignored int `json:"ignored,omitempty"`
	// Done counts the photos finished: Indexed + NoFace + Failed. Every photo of this worker
	// whose key is Cursor or before it is done; a restart goes on after Cursor.
	Done   int    `json:"done"`
	Cursor string `json:"cursor,omitempty"`
	// Indexed counts the photos whose face is in the collection (and on its user).
	Indexed int `json:"indexed"`
	// NoFace counts the photos where no face was indexed: none found, or the largest one
	// refused by the quality filter.
	NoFace int `json:"noFace"`
	// Failed counts the photos that could not be used (unreadable, not an image, too large,
	// a folder name that is no UserId) or whose face the user refused (not similar enough to
	// the user's faces, or the user holds 100 faces already); such a face is erased.
	Failed int `json:"failed"`
	// Batches counts the batches committed.
	Batches int `json:"batches"`
	// Skipped names the first MaxSkippedListed photos counted in NoFace and Failed.
	Skipped []Skipped `json:"skipped,omitempty"`
	// Started is when the job's first process started on this worker, Updated when the record
	// was last written, Finished when the worker did its last photo (nil until then).
	Started  time.Time  `json:"started"`
	Updated  time.Time  `json:"updated"`
	Finished *time.Time `json:"finished,omitempty"`
}

// Skipped is a photo that gave no face on its user, and why.
type Skipped struct {
	Key string `json:"key"`
	// Reason is a code: NO_FACE_DETECTED, one of Rekognition's reasons (LOW_SHARPNESS,
	// LOW_MATCH_CONFIDENCE...) or an error code (InvalidImageFormat, ImageTooLarge...).
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// skip counts a skipped photo and names it while there is room.
func (p *Progress) skip(s Skipped, noFace bool) {
	if noFace {
		p.NoFace++
	} else {
		p.Failed++
	}
	if len(p.Skipped) < MaxSkippedListed {
		p.Skipped = append(p.Skipped, s)
	}
}

// JobPrefix is where a job's progress objects are kept under the store's prefix.
func JobPrefix(storePrefix, job string) string {
	return store.NormalizePrefix(storePrefix) + "bulk/" + job + "/"
}

// ProgressKey is the key of a worker's progress object.
func ProgressKey(storePrefix, job string, worker int) string {
	return JobPrefix(storePrefix, job) + "worker-" + strconv.Itoa(worker) + ".json"
}

// progressObjects reads and writes the progress objects of the store's bucket.
type progressObjects struct {
	client         *minio.Client
	bucket, prefix string
}

// read returns a worker's progress and its ETag; nil and "" if it has none yet.
func (o progressObjects) read(ctx context.Context, job string, worker int) (*Progress, string, error) {
	key := ProgressKey(o.prefix, job, worker)
	obj, err := o.client.GetObject(ctx, o.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", storageErr("reading "+key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == minio.NoSuchKey {
			return nil, "", nil
		}
		return nil, "", storageErr("reading "+key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		return nil, "", storageErr("reading "+key, err)
	}
	p := &Progress{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, "", errs.Wrap(errs.Corrupt, err, "the progress object %s", key)
	}
	return p, info.ETag, nil
}

// errTaken is a progress object written by another process since this one last wrote it.
var errTaken = errs.New(errs.Conflict, "written by another process")

// write writes a worker's progress if the object is still the one this process last wrote
// (etag; "" if it wrote none and there was none), and returns the new ETag. Another
// process's write in between is errTaken: two processes of one worker must not both go on.
func (o progressObjects) write(ctx context.Context, p *Progress, etag string) (string, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return "", err
	}
	opts := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true}
	if etag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(etag)
	}
	key := ProgressKey(o.prefix, p.Job, p.Worker)
	info, err := o.client.PutObject(ctx, o.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusPreconditionFailed || r.Code == minio.PreconditionFailed {
			return "", errTaken
		}
		return "", storageErr("writing "+key, err)
	}
	return info.ETag, nil
}

// ReadJob reads the progress objects of a job, by worker; none if the job never started.
func ReadJob(ctx context.Context, client *minio.Client, bucket, storePrefix, job string) ([]Progress, error) {
	o := progressObjects{client: client, bucket: bucket, prefix: storePrefix}
	var out []Progress
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: JobPrefix(storePrefix, job)}) {
		if obj.Err != nil {
			return nil, storageErr("listing the progress of job "+job, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, JobPrefix(storePrefix, job))
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "worker-"), ".json"))
		if err != nil || !strings.HasPrefix(name, "worker-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		p, _, err := o.read(ctx, job, n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Worker < out[j].Worker })
	return out, nil
}

// Summary is a job's progress summed over its workers.
type Summary struct {
	// Workers is the job's number of workers, as its progress objects say (the largest, if
	// they disagree); Reported how many of them have written progress; Finished how many have
	// done their last photo.
	Workers, Reported, Finished int
	// Listed, Done, Indexed, NoFace, Failed and Batches are the workers' sums.
	Listed, Done, Indexed, NoFace, Failed, Batches int
	// Ignored is the largest of the workers' counts: each worker counts every ignored file.
	Ignored int
	// Restarts counts the starts after each worker's first.
	Restarts int
	// Started is the earliest start, Updated the latest write.
	Started, Updated time.Time
	// Skipped are the workers' named skipped photos, worker by worker.
	Skipped []Skipped
}

// Merge sums the progress of a job's workers.
func Merge(ps []Progress) Summary {
	var s Summary
	for _, p := range ps {
		s.Workers = max(s.Workers, p.Workers)
		s.Reported++
		if p.Finished != nil {
			s.Finished++
		}
		s.Listed += p.Listed
		s.Done += p.Done
		s.Indexed += p.Indexed
		s.NoFace += p.NoFace
		s.Failed += p.Failed
		s.Batches += p.Batches
		s.Ignored = max(s.Ignored, p.Ignored)
		s.Restarts += max(p.Starts-1, 0)
		if s.Started.IsZero() || p.Started.Before(s.Started) {
			s.Started = p.Started
		}
		if p.Updated.After(s.Updated) {
			s.Updated = p.Updated
		}
		s.Skipped = append(s.Skipped, p.Skipped...)
	}
	return s
}

// Complete says whether every worker of the job has done its last photo.
func (s Summary) Complete() bool { return s.Workers > 0 && s.Finished == s.Workers }

// WriteStatus prints a job's progress: a line per worker (those that have not written any
// yet included), the totals, and the skipped photos named, at most maxSkipped of them.
func WriteStatus(w io.Writer, job string, ps []Progress, now time.Time, maxSkipped int) {
	s := Merge(ps)
	if len(ps) == 0 {
		fmt.Fprintf(w, "job %s: no progress recorded (not started, or another --bucket/--prefix)\n", job)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tLISTED\tDONE\tINDEXED\tNO FACE\tFAILED\tSTARTS\tSTATE\tUPDATED")
	byWorker := map[int]Progress{}
	for _, p := range ps {
		byWorker[p.Worker] = p
	}
	for i := 0; i < s.Workers; i++ {
		p, ok := byWorker[i]
		if !ok {
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\t-\t0\tnot started\t-\n", i)
			continue
		}
		state := "running"
		if p.Finished != nil {
			state = "finished"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s ago\n", i, p.Listed, p.Done, p.Indexed, p.NoFace, p.Failed, p.Starts, state, ago(now, p.Updated))
	}
	state := fmt.Sprintf("%d of %d finished", s.Finished, s.Workers)
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s ago\n", s.Listed, s.Done, s.Indexed, s.NoFace, s.Failed, s.Reported+s.Restarts, state, ago(now, s.Updated))
	tw.Flush()
	if s.Ignored > 0 {
		fmt.Fprintf(w, "\n%d photo files were not in a user's folder (<prefix><UserId>/<photo>) and were left alone.\n", s.Ignored)
	}
	if len(s.Skipped) > 0 && maxSkipped > 0 {
		fmt.Fprintf(w, "\nSkipped photos (%d named of %d):\n", min(len(s.Skipped), maxSkipped), s.NoFace+s.Failed)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tREASON\tMESSAGE")
		for _, k := range s.Skipped[:min(len(s.Skipped), maxSkipped)] {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.Reason, k.Message)
		}
		tw.Flush()
	}
}

// ago is how long before now t was, rounded for people.
func ago(now, t time.Time) string {
	if d := now.Sub(t); d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return now.Sub(t).Round(time.Second).String()
}

// storageErr reads an error of the storage client: refused credentials are AccessDenied, a
// missing bucket ResourceNotFound, another refusal InvalidParameter, anything else
// (no answer, 5xx, a timeout, throttling) StorageUnavailable, to retry.
func storageErr(what string, err error) error {
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode == http.StatusForbidden:
		return errs.Wrap(errs.AccessDenied, err, "while %s", what)
	case r.Code == minio.NoSuchBucket:
		return errs.Wrap(errs.ResourceNotFound, err, "while %s: no such bucket", what)
	case r.StatusCode >= 400 && r.StatusCode < 500 && r.StatusCode != http.StatusRequestTimeout && r.StatusCode != http.StatusTooManyRequests:
		return errs.Wrap(errs.InvalidParameter, err, "while %s", what)
	}
	return errs.Wrap(errs.StorageUnavailable, err, "while %s", what)
}
