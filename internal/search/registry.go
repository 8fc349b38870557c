package search

import (
	"sort"
	"strings"
	"sync"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Collection is what the search path knows of one collection: which model made its vectors
// and which shards serve them. The Collection controller publishes it (Service.Publish); its
// storage is reached only through the Service's methods.
type Collection struct {
	// ID is the Rekognition CollectionId.
	ID string
	// Namespace and Name of the Collection resource. CollectionIds are unique per namespace
	// only, as resource names are.
	Namespace, Name string
	// ARN is the collection's one ARN, shown alike by kubectl and the endpoint.
	ARN string
	// FaceModelVersion the collection is pinned to.
	FaceModelVersion string
	// Shards serve its vectors, one Searcher per shard; Ready says whether all have loaded.
	Shards []index.Searcher
	Ready  bool
	// Replicas are each shard's replicas as the publisher last saw them, shard by shard, for
	// people to read (the console); Ready alone decides whether searches run. Empty when the
	// publisher did not say.
	Replicas []ShardReplicas
	// ImageSources are where the images named by S3Object may be read from; none means the
	// collection's own bucket under its storage prefix (see Service.Publish).
	ImageSources []S3Location

	// store holds its faces, users and vectors, and the images named by S3Object.
	store *store.Store
	// scope is ImageSources resolved against the collection's storage, and storeKeys the
	// prefix of the store's own objects there, which are never read as images.
	scope     []S3Location
	storeKeys S3Location
}

// ShardReplicas are the replicas of one shard: how many serve, of how many wanted.
type ShardReplicas struct {
	Ready, Desired int32
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

// put publishes or replaces a collection, in its own Namespace.
func (r *Registry) put(c *Collection) {
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

// remove forgets a collection of this view's namespace.
func (r *Registry) remove(id string) {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	delete(r.shared.m, key(r.namespace, id))
}

// List returns the collections of this view's namespace sorted by CollectionId, as one
// consistent view.
func (r *Registry) List() []*Collection {
	r.shared.mu.RLock()
	defer r.shared.mu.RUnlock()
	prefix := r.namespace + "/"
	var out []*Collection
	for k, c := range r.shared.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
