package workload

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// IndexRunner runs a collection's index shards: as Deployments and Services on a cluster
// (Deployer), or in-process in local mode (internal/local). This is the one seam between
// the two modes; everything else is the same code.
type IndexRunner interface {
	// EnsureIndex makes the shards run as the spec asks.
	EnsureIndex(ctx context.Context, spec IndexSpec) (*IndexState, error)
	// RemoveIndex stops the shards of the collection whose resource is owner.
	RemoveIndex(ctx context.Context, owner types.NamespacedName) error
}

// IndexSpec is what an IndexRunner needs to know of a collection.
type IndexSpec struct {
	// Owner is the Collection resource: its namespace and name name the shards, and what a
	// runner creates belongs to it.
	Owner client.Object
	// CollectionID is the collection the shards serve.
	CollectionID string
	// Shards and Replicas are spec.index's.
	Shards, Replicas int32
	// Resources of each index pod.
	Resources corev1.ResourceRequirements
	// Storage is where the shards load vectors from.
	Storage store.Connection
	// SecretName holds Storage's keys (accessKey, secretKey), for workloads that mount it.
	SecretName string
}

// IndexSpecOf is the IndexSpec of a Collection whose storage is reached through conn.
func IndexSpecOf(col *facesearchv1.Collection, conn store.Connection) IndexSpec {
	return IndexSpec{
		Owner: col, CollectionID: col.EffectiveCollectionID(),
		Shards: col.Spec.Index.Shards, Replicas: col.Spec.Index.EffectiveReplicas(), Resources: ptr.Deref(col.Spec.Index.Resources, corev1.ResourceRequirements{}),
		Storage: conn, SecretName: col.Spec.Storage.CredentialsSecretRef.Name,
	}
}

func (s IndexSpec) key() types.NamespacedName {
	return types.NamespacedName{Namespace: s.Owner.GetNamespace(), Name: s.Owner.GetName()}
}

// ShardReplicas are one shard's replicas: Ready of Desired serve.
type ShardReplicas struct {
	Ready, Desired int32
}

// IndexState is what EnsureIndex observed.
type IndexState struct {
	// Shards answer searches, one per shard.
	Shards []index.Searcher
	// Ready: every shard has a replica that has loaded its vectors and takes searches (a
	// rollout may be under way).
	Ready bool
	// Replicas are each shard's ready and wanted replicas, shard by shard, for people to
	// read (the console); Ready is what decides.
	Replicas []ShardReplicas
	// Endpoint is where the index is reached, for status.
	Endpoint string
	// Message says what is still missing when not ready.
	Message string
	// RollingOut: some shard still runs pods of an earlier template, maybe an older image
	// that cannot read the snapshot format this binary writes; compaction waits for it.
	RollingOut bool
}
