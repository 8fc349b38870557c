package search

import (
	"sort"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Collection is what the search path knows of one collection: where it is stored, which
// model made its vectors and which shards serve them. The Collection controller publishes it.
type Collection struct {
	// ID is the Rekognition CollectionId.
	ID string
	// Namespace and Name of the Collection resource, for messages.
	Namespace, Name string
	// FaceModelVersion the collection is pinned to.
	FaceModelVersion string
	// Store holds its faces, users and vectors.
	Store *store.Store
	// Client and Bucket read images named by S3Object (Bucket is the default bucket).
	Client *minio.Client
	Bucket string
	// Shards serve its vectors, one Searcher per shard; Ready says whether all have loaded.
	Shards []index.Searcher
	Ready  bool
}

// Registry maps CollectionIds to Collections. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]*Collection
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]*Collection{}} }

// Put publishes or replaces a collection.
func (r *Registry) Put(c *Collection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[c.ID] = c
}

// Get finds a collection by CollectionId.
func (r *Registry) Get(id string) (*Collection, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.m[id]
	return c, ok
}

// Delete forgets a collection.
func (r *Registry) Delete(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}

// IDs lists the CollectionIds, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
