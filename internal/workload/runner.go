package workload

import (
	"context"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// IndexRunner runs a collection's index shards: as Deployments and Services on a cluster
// (Deployer), or in-process in local mode (internal/local). This is the one seam between
// the two modes; everything else is the same code.
type IndexRunner interface {
	// EnsureIndex makes the shards run as the Collection's spec asks.
	EnsureIndex(ctx context.Context, col *facesearchv1.Collection, st *store.Store, conn StorageConnection) (*IndexState, error)
	// RemoveIndex stops them.
	RemoveIndex(ctx context.Context, col *facesearchv1.Collection) error
}

// StorageConnection is how an index shard reaches the collection's storage.
type StorageConnection struct {
	Endpoint, Bucket, Prefix string
	TLS                      bool
	// SecretName holds accessKey and secretKey, for workloads that mount it.
	SecretName           string
	AccessKey, SecretKey string
}

// IndexState is what EnsureIndex observed.
type IndexState struct {
	// Shards answer searches, one per shard.
	Shards []index.Searcher
	// Ready: every shard has loaded its vectors.
	Ready bool
	// Endpoint is where the index is reached, for status.
	Endpoint string
	// Message says what is still missing when not ready.
	Message string
}
