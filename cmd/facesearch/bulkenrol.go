package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/facesearch/facesearch-operator/internal/bulk"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// runBulkEnrol is `facesearch bulk-enrol`: one worker of a job that enrols every photo under
// a bucket prefix straight into the collection's store, with the face engine in this process
// (internal/bulk); or, with --status, the job's progress summed over its workers. It is meant
// to run as a Kubernetes Indexed Job (docs/bulk-enrolment.md): the worker number defaults to
// the pod's JOB_COMPLETION_INDEX.
func runBulkEnrol(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bulk-enrol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bulk.Options
	fs.StringVar(&o.Collection, "collection", "", "CollectionId to enrol into (required; it must exist in --bucket under --prefix)")
	fs.StringVar(&o.Storage.Endpoint, "storage-endpoint", "", "host:port of the S3-compatible storage (required)")
	fs.BoolVar(&o.Storage.TLS, "storage-tls", false, "use HTTPS to reach the storage")
	fs.StringVar(&o.Storage.Bucket, "bucket", "", "bucket of the collection's store (required)")
	fs.StringVar(&o.Storage.Prefix, "prefix", "", "key prefix of the collection's store (its Collection's spec.storage.prefix); the progress objects go under <prefix>bulk/<job>/")
	fs.StringVar(&o.SourceBucket, "source-bucket", "", "bucket of the photos (default: --bucket)")
	fs.StringVar(&o.SourcePrefix, "source-prefix", "", "key prefix of the photos, ending with /: <prefix><UserId>/<photo>.{jpg,jpeg,png,webp}")
	fs.BoolVar(&o.NoUsers, "no-users", false, "index faces only, with any photo under --source-prefix (ExternalImageId from its key), making no users")
	fs.StringVar(&o.Job, "job", "", "name of the job, shared by its workers (the Job's name): progress is kept under it, and a worker started again with it resumes (required)")
	worker := fs.Int("worker", envInt("JOB_COMPLETION_INDEX", 0), "this worker's number, 0 to --workers - 1 (default: $JOB_COMPLETION_INDEX, an Indexed Job's pod index, or 0)")
	fs.IntVar(&o.Workers, "workers", 1, "how many workers share the photos (the Job's completions); each takes the photos whose key hashes to it")
	fs.IntVar(&o.Parallel, "parallel", 0, "photos read and analysed at once in this process (default: GOMAXPROCS, the CPUs it may use)")
	fs.IntVar(&o.BatchSize, "batch", bulk.DefaultBatchSize, fmt.Sprintf("photos committed at once, and done again after a kill (1 to %d)", bulk.MaxBatchSize))
	threshold := fs.Float64("user-match-threshold", store.DefaultUserMatchThreshold, "AssociateFaces' UserMatchThreshold: a face joins a user that has faces only if this similar to one of them (0-100); a refused face is erased")
	fs.DurationVar(&o.ProgressInterval, "progress-interval", bulk.DefaultProgressInterval, "how often a progress line is logged")
	fs.DurationVar(&o.RetryFor, "retry-for", bulk.DefaultRetryFor, "how long a step is retried while the storage is out of reach, before the worker exits with an error (the Job starts it again)")
	status := fs.Bool("status", false, "print the progress of --job, summed over its workers, and exit (needs only --storage-endpoint, --bucket, --prefix)")
	maxSkipped := fs.Int("max-skipped", 20, "with --status: how many skipped photos to name")
	var ef engineFlags
	ef.bind(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: bulk-enrol takes flags only", fs.Args())
	}
	// Keys come from the environment (a Secret), never from flags that show in ps.
	o.Storage.AccessKey = os.Getenv("FACESEARCH_STORAGE_ACCESS_KEY")
	o.Storage.SecretKey = os.Getenv("FACESEARCH_STORAGE_SECRET_KEY")
	if o.Storage.Endpoint == "" || o.Storage.Bucket == "" || o.Job == "" {
		return errors.New("--storage-endpoint, --bucket and --job are required")
	}
	if *status {
		client, err := store.NewClient(o.Storage.Endpoint, o.Storage.AccessKey, o.Storage.SecretKey, o.Storage.TLS)
		if err != nil {
			return err
		}
		ps, err := bulk.ReadJob(ctx, client, o.Storage.Bucket, o.Storage.Prefix, o.Job)
		if err != nil {
			return err
		}
		bulk.WriteStatus(stdout, o.Job, ps, time.Now(), *maxSkipped)
		return nil
	}
	o.Worker = *worker
	t := float32(*threshold)
	o.UserMatchThreshold = &t
	if err := o.Validate(); err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(log)
	o.Log = log.WithName("bulk-enrol")
	engines, err := ef.engines()
	if err != nil {
		return err
	}
	defer engines.Close()
	svc := search.NewService(engines)
	svc.Log = log.WithName("search")
	p, err := bulk.Run(ctx, svc, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker %d of %d of job %s: %d photos, %d indexed, %d without a face, %d failed\n",
		p.Worker, p.Workers, p.Job, p.Listed, p.Indexed, p.NoFace, p.Failed)
	return nil
}

// envInt is an integer environment variable, or def when it is unset or no integer.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}
