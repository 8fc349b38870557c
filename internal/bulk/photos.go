package bulk

import (
	"context"
	"hash/fnv"
	"path"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/store"
)

// Photo is one photo to enrol: an object under the source prefix.
type Photo struct {
	// Key is the object's key in the source bucket.
	Key string
	// UserID is the name of the folder it is in, right under the prefix; empty with NoUsers.
	UserID string
	// ExternalImageID names its face in the collection: its key under the prefix, "/" made
	// ":" (ExternalIDOf).
	ExternalImageID string
}

// ExternalIDOf is the ExternalImageId of the photo at rel, its key under the source prefix:
// "/" made ":" and every other character Rekognition does not allow made "_", the last 255
// kept. It is the name `facesearch enrol --dir` gives the same photo in a folder (alice/1.jpg
// is alice:1.jpg), so that both commands name a photo alike and neither stores it twice.
func ExternalIDOf(rel string) string {
	b := []byte(strings.ReplaceAll(rel, "/", ":"))
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		// The end names the file; the start is the shared folder.
		b = b[len(b)-255:]
	}
	return string(b)
}

// IsPhoto says whether a file name is one IndexFaces takes, by its extension; names that
// start with "." (hidden files) are not.
func IsPhoto(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".webp":
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// WorkerOf is the worker (0 to workers-1) that enrols the photo at rel, its key under the
// source prefix: FNV-1a of the key, modulo workers. Every worker of a job computes the same
// partition from the same listing, so each photo has exactly one worker.
func WorkerOf(rel string, workers int) int {
	if workers <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(rel))
	return int(h.Sum64() % uint64(workers))
}

// photoOf reads a key found under prefix: the photo it is, or ok false for a key that is no
// photo (another extension, a hidden file, a folder marker) or, with users, that is not
// <prefix><UserId>/<photo>; ignored tells the latter apart.
func photoOf(prefix, key string, users bool) (p Photo, ok, ignored bool) {
	rel := strings.TrimPrefix(key, prefix)
	if rel == key && prefix != "" || !IsPhoto(path.Base(rel)) {
		return Photo{}, false, false
	}
	p = Photo{Key: key, ExternalImageID: ExternalIDOf(rel)}
	if !users {
		return p, true, false
	}
	user, name, found := strings.Cut(rel, "/")
	if !found || user == "" || strings.Contains(name, "/") || strings.HasPrefix(user, ".") {
		// Directly under the prefix (no user), deeper than a user's folder, or in a hidden
		// folder: `facesearch enrol --dir` leaves such files alone too.
		return Photo{}, false, true
	}
	p.UserID = user
	return p, true, false
}

// listing is the photos one worker enrols, in key order.
type listing struct {
	photos []Photo
	// ignored counts the photo files, of any worker, that were not where a user's photos go.
	ignored int
	// ignoredKeys are the first of them, for the log.
	ignoredKeys []string
}

// listPhotos lists the source and keeps the photos of one worker, sorted by key.
func listPhotos(ctx context.Context, client *minio.Client, bucket, prefix string, users bool, worker, workers int) (*listing, error) {
	out := &listing{}
	for o := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, storageErr("listing the photos under s3://"+bucket+"/"+prefix, o.Err)
		}
		p, ok, ignored := photoOf(prefix, o.Key, users)
		if ignored {
			out.ignored++
			if len(out.ignoredKeys) < 10 {
				out.ignoredKeys = append(out.ignoredKeys, o.Key)
			}
		}
		if !ok || WorkerOf(strings.TrimPrefix(o.Key, prefix), workers) != worker {
			continue
		}
		out.photos = append(out.photos, p)
	}
	// S3 lists in key order already; the cursor relies on it, so it is made sure of.
	sort.Slice(out.photos, func(i, j int) bool { return out.photos[i].Key < out.photos[j].Key })
	return out, nil
}

// userError is why a photo's folder cannot be a user, or "".
func userError(p Photo) string {
	if p.UserID == "" {
		return ""
	}
	if err := store.ValidateUserID(p.UserID); err != nil {
		return err.Error()
	}
	return ""
}
