package store

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Store keeps the collections of one bucket and prefix. It is safe for concurrent use, and
// several Stores (in several processes) may write the same collection at once.
type Store struct {
	client *minio.Client
	bucket string
	prefix string
	opts   Options

	mu    sync.Mutex
	colls map[string]*collState

	// commits and lostRaces count the commits made and the conditional PUTs that found
	// their generation taken (CommitStats).
	commits, lostRaces atomic.Uint64
}

// CommitStats counts the commits of one Store since it was made.
type CommitStats struct {
	// Commits is the number of mutations this Store committed (log objects it created).
	Commits uint64
	// LostRaces is the number of times a commit found its generation taken by another
	// writer and was decided again on the newer state.
	LostRaces uint64
}

// CommitStats returns the Store's commit counters: LostRaces/Commits is the contention
// with other writers of the same collections.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{Commits: s.commits.Load(), LostRaces: s.lostRaces.Load()}
}

// collState caches one collection's state; mu serialises this process's writers, and
// compactMu its compactions.
type collState struct {
	mu        sync.Mutex
	compactMu sync.Mutex
	coll      *Collection
	etag      string
	st        *state
}

// NewClient builds a minio-go client that retries little, so that an outage surfaces as a
// fast, retryable StorageUnavailable error instead of a long retry loop. Its transport also
// tells a CommitWatch when MinIO speaks on its notification stream (see notify.go).
func NewClient(endpoint, accessKey, secretKey string, secure bool) (*minio.Client, error) {
	tr, err := listenTransportOf(secure)
	if err != nil {
		return nil, err
	}
	return minio.New(endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:     secure,
		MaxRetries: 2,
		Transport:  tr,
	})
}

// New returns a Store for the bucket; prefix may be empty.
func New(client *minio.Client, bucket, prefix string, opts Options) *Store {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.SegmentVectors <= 0 {
		opts.SegmentVectors = 65536
	}
	if opts.RecordsPerChunk <= 0 {
		opts.RecordsPerChunk = 65536
	}
	if opts.CompactionRate == 0 {
		opts.CompactionRate = DefaultCompactionRate
	}
	if opts.MarkerGrace <= 0 {
		opts.MarkerGrace = DefaultMarkerGrace
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NotificationSilence <= 0 {
		opts.NotificationSilence = DefaultNotificationSilence
	}
	prefix = NormalizePrefix(prefix)
	return &Store{client: client, bucket: bucket, prefix: prefix, opts: opts, colls: map[string]*collState{}}
}

// NormalizePrefix is a key prefix as a Store uses it: without leading slashes, and ending in
// one unless empty.
func NormalizePrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return prefix
}

// CollectionsPrefix is the key prefix under which a Store of prefix keeps its collections:
// no image is ever read from there.
func CollectionsPrefix(prefix string) string { return NormalizePrefix(prefix) + "collections/" }

func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.RequestTimeout)
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return storageError("checking the bucket", err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
			return nil
		}
		return storageError("creating the bucket", err)
	}
	return nil
}

var (
	collectionIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,255}$`)
	externalIDPattern   = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]{1,255}$`)
	userIDPattern       = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]{1,128}$`)
)

func validCollectionID(id string) error {
	if !collectionIDPattern.MatchString(id) {
		return errorf(errs.InvalidParameter, "CollectionId %q must match [a-zA-Z0-9_.\\-]{1,255}", id)
	}
	return nil
}
