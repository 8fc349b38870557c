package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// Keys of the storage credentials Secret.
const (
	AccessKeySecretKey = "accessKey"
	SecretKeySecretKey = "secretKey"
)

// storageConnection reads the credentials Secret named by the Collection.
func storageConnection(ctx context.Context, c client.Client, col *facesearchv1.Collection) (store.Connection, error) {
	s := col.Spec.Storage
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: col.Namespace, Name: s.CredentialsSecretRef.Name}
	if err := c.Get(ctx, key, secret); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return store.Connection{}, errs.New(errs.CredentialsNotFound, "Secret %s not found", key.Name)
		}
		return store.Connection{}, fmt.Errorf("while reading Secret %s: %w", key.Name, err)
	}
	ak, sk := string(secret.Data[AccessKeySecretKey]), string(secret.Data[SecretKeySecretKey])
	if ak == "" || sk == "" {
		return store.Connection{}, errs.New(errs.CredentialsNotFound, "Secret %s lacks %s or %s", key.Name, AccessKeySecretKey, SecretKeySecretKey)
	}
	return store.Connection{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, TLS: s.TLS, AccessKey: ak, SecretKey: sk,
	}, nil
}
