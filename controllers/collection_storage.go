package controllers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/minio/minio-go/v7"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// Keys of the storage credentials Secret.
const (
	AccessKeySecretKey = "accessKey"
	SecretKeySecretKey = "secretKey"
)

// storageConnection reads the credentials Secret named by the Collection.
func storageConnection(ctx context.Context, c client.Client, col *facesearchv1.Collection) (workload.StorageConnection, error) {
	s := col.Spec.Storage
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: col.Namespace, Name: s.CredentialsSecretRef.Name}
	if err := c.Get(ctx, key, secret); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return workload.StorageConnection{}, errs.New(errs.CredentialsNotFound, "Secret %s not found", key.Name)
		}
		return workload.StorageConnection{}, fmt.Errorf("while reading Secret %s: %w", key.Name, err)
	}
	ak, sk := string(secret.Data[AccessKeySecretKey]), string(secret.Data[SecretKeySecretKey])
	if ak == "" || sk == "" {
		return workload.StorageConnection{}, errs.New(errs.CredentialsNotFound, "Secret %s lacks %s or %s", key.Name, AccessKeySecretKey, SecretKeySecretKey)
	}
	return workload.StorageConnection{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, TLS: s.TLS,
		SecretName: key.Name, AccessKey: ak, SecretKey: sk,
	}, nil
}

// storeCache keeps one Store per storage connection, because a Store caches the collection's
// committed state and two of them in one process would only redo each other's reads.
type storeCache struct {
	mu sync.Mutex
	m  map[string]cachedStore
}

type cachedStore struct {
	store  *store.Store
	client *minio.Client
}

func newStoreCache() *storeCache { return &storeCache{m: map[string]cachedStore{}} }

func (sc *storeCache) get(conn workload.StorageConnection) (*store.Store, *minio.Client, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%t\x00%s\x00%s", conn.Endpoint, conn.Bucket, conn.Prefix, conn.TLS, conn.AccessKey, conn.SecretKey)))
	key := string(sum[:])
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if c, ok := sc.m[key]; ok {
		return c.store, c.client, nil
	}
	mc, err := store.NewClient(conn.Endpoint, conn.AccessKey, conn.SecretKey, conn.TLS)
	if err != nil {
		return nil, nil, err
	}
	st := store.New(mc, conn.Bucket, conn.Prefix, store.Options{})
	sc.m[key] = cachedStore{store: st, client: mc}
	return st, mc, nil
}
