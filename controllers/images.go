package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// ConfigMaps are read live, one at a time (UncachedObjects): get is all it takes.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get

// imageFrom turns an ImageSource into the search path's Image: storage objects are read by
// the search path itself (with the 15 MB limit), the rest are read here.
func imageFrom(ctx context.Context, c client.Client, namespace string, src facesearchv1.ImageSource) (search.Image, error) {
	switch {
	case src.S3Object != nil:
		return search.Image{S3Object: &search.S3Object{Bucket: src.S3Object.Bucket, Name: src.S3Object.Name, Version: src.S3Object.Version}}, nil
	case src.Bytes != nil:
		return search.Image{Bytes: src.Bytes}, nil
	case src.ConfigMapKeyRef != nil:
		cm := &corev1.ConfigMap{}
		ref := src.ConfigMapKeyRef
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, cm); err != nil {
			return search.Image{}, imageRefError("ConfigMap", ref, err)
		}
		if b, ok := cm.BinaryData[ref.Key]; ok {
			return search.Image{Bytes: b}, nil
		}
		if s, ok := cm.Data[ref.Key]; ok {
			return search.Image{Bytes: []byte(s)}, nil
		}
		return search.Image{}, imageRefError("ConfigMap", ref, nil)
	case src.SecretKeyRef != nil:
		sec := &corev1.Secret{}
		ref := src.SecretKeyRef
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, sec); err != nil {
			return search.Image{}, imageRefError("Secret", ref, err)
		}
		if b, ok := sec.Data[ref.Key]; ok {
			return search.Image{Bytes: b}, nil
		}
		return search.Image{}, imageRefError("Secret", ref, nil)
	case src.Digest != nil:
		return search.Image{}, errs.New(errs.InvalidParameter, "the image was not kept, only its digest (a recorded search): it cannot be read")
	}
	return search.Image{}, errs.New(errs.InvalidParameter, "the image has no source")
}

func imageRefError(kind string, ref *facesearchv1.KeySelector, err error) error {
	if err != nil && client.IgnoreNotFound(err) != nil {
		// The API server failed, not the reference: retry rather than report a bad image.
		return fmt.Errorf("while reading %s %s: %w", kind, ref.Name, err)
	}
	return errs.New(errs.InvalidS3Object, "%s %s has no key %q", kind, ref.Name, ref.Key)
}
