package search

import (
	"sort"
	"strings"
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
	// Namespace and Name of the Collection resource. CollectionIds are unique per namespace
	// only, as resource names are.
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

// Registry maps CollectionIds to Collections, within one namespace: the same CollectionId
// may exist in two namespaces. A Registry and the views that InNamespace returns share one
// map; each view sees its own namespace. It is safe for concurrent use.
type Registry struct {
	shared    *registryMap
	namespace string
}

type registryMap struct {
	mu sync.RWMutex
	m  map[string]*Collection // namespace + "/" + CollectionId
}

// NewRegistry returns an empty registry, viewing the namespace "".
func NewRegistry() *Registry { return &Registry{shared: &registryMap{m: map[string]*Collection{}}} }

// InNamespace is the view of the same registry for one namespace.
func (r *Registry) InNamespace(namespace string) *Registry {
	return &Registry{shared: r.shared, namespace: namespace}
}

func key(namespace, id string) string { return namespace + "/" + id }

// Put publishes or replaces a collection, in its own Namespace.
func (r *Registry) Put(c *Collection) {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	r.shared.m[key(c.Namespace, c.ID)] = c
}

// Get finds a collection of this view's namespace by CollectionId.
func (r *Registry) Get(id string) (*Collection, bool) {
	r.shared.mu.RLock()
	defer r.shared.mu.RUnlock()
	c, ok := r.shared.m[key(r.namespace, id)]
	return c, ok
}

// Delete forgets a collection of this view's namespace.
func (r *Registry) Delete(id string) {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	delete(r.shared.m, key(r.namespace, id))
}

// IDs lists the CollectionIds of this view's namespace, sorted.
func (r *Registry) IDs() []string {
	r.shared.mu.RLock()
	defer r.shared.mu.RUnlock()
	prefix := r.namespace + "/"
	var ids []string
	for k := range r.shared.m {
		if id, ok := strings.CutPrefix(k, prefix); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
