package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// tagsAnnotation keeps CreateCollection's Tags on the Collection it makes.
const tagsAnnotation = "facesearch.io/tags"

// CollectionAdmin lets the Rekognition endpoint create and delete collections by creating
// and deleting Collection resources, so that a collection made through the endpoint and one
// declared in Kubernetes are one and the same; and read and change their tags, which are
// the resources' (collection_tags.go). The tag operations need only Client, Reader and
// Namespace.
type CollectionAdmin struct {
	Client client.Client
	// Reader, when set, is where the tag operations read Collections: the API server itself
	// (the manager's APIReader), so that a tag just written is read back. Nil reads Client.
	Reader client.Reader
	Search *search.Service
	// Namespace receives the Collections made through the endpoint.
	Namespace string
	// Storage is the storage of those Collections (the endpoint's request names none).
	Storage facesearchv1.StorageSpec
	// ImageSources are those Collections' spec.imageSources: where the S3Objects of requests
	// are read from. None means the storage's bucket under its prefix.
	ImageSources []facesearchv1.ImageLocation
	// FaceModelVersion for new collections; empty means the CRD's default.
	FaceModelVersion string
	// Timeout bounds how long CreateCollection waits for the collection to be ready.
	Timeout time.Duration
}

var notNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// resourceName turns a CollectionId (which may hold capitals, '_' and '.') into a resource
// name, adding a hash when it had to change so that two ids never share a name.
func resourceName(id string) string {
	name := strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(id), "-"), "-")
	if name == id && len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(id))
	return strings.Trim(name[:min(len(name), 50)], "-") + "-" + hex.EncodeToString(sum[:])[:8]
}

// find returns the Collection of a CollectionId in the namespace, or nil.
func (a *CollectionAdmin) find(ctx context.Context, id string) (*facesearchv1.Collection, error) {
	var list facesearchv1.CollectionList
	if err := a.Client.List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].EffectiveCollectionID() == id {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// CreateCollection creates a Collection resource and waits until it is searchable.
func (a *CollectionAdmin) CreateCollection(ctx context.Context, id string, tags map[string]string) error {
	existing, err := a.find(ctx, id)
	if err != nil {
		return err
	}
	if existing != nil {
		return errs.New(errs.ResourceAlreadyExists, "The collection id: %s already exists", id)
	}
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: resourceName(id), Namespace: a.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "facesearch-api"}},
		Spec: facesearchv1.CollectionSpec{
			CollectionID: id, Storage: a.Storage, FaceModelVersion: a.FaceModelVersion, ImageSources: a.ImageSources,
			// Rekognition's DeleteCollection deletes the faces; a collection made through the
			// endpoint behaves the same way.
			DeletionPolicy: facesearchv1.DeletionPolicyDelete,
		},
	}
	if len(tags) > 0 {
		data, _ := json.Marshal(tags)
		col.Annotations = map[string]string{tagsAnnotation: string(data)}
	}
	if err := a.Client.Create(ctx, col); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return errs.New(errs.ResourceAlreadyExists, "The collection id: %s already exists", id)
		}
		return fmt.Errorf("while creating Collection %s: %w", col.Name, err)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	var refused string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if c, ok := a.Search.Collections.Get(id); ok && c.Ready {
			return true, nil
		}
		// A stored collection of this id that another Collection owns (one deleted without
		// erasure, or one of another namespace on the same storage) is not this one's.
		var now facesearchv1.Collection
		if err := a.Client.Get(ctx, client.ObjectKeyFromObject(col), &now); err == nil {
			if c := meta.FindStatusCondition(now.Status.Conditions, facesearchv1.StorageReadyCondition); c != nil &&
				c.Reason == facesearchv1.CollectionOwnedElsewhereReason && c.ObservedGeneration == now.Generation {
				refused = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if refused != "" {
		// The Collection never owned the stored collection: deleting it erases nothing.
		if err := a.Client.Delete(ctx, col); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("while deleting Collection %s, refused its stored collection: %w", col.Name, err)
		}
		return errs.New(errs.CollectionOwnedElsewhere, "collection %s: %s", id, refused)
	}
	if err != nil {
		return fmt.Errorf("collection %s was created but is not ready after %s; see kubectl describe collection %s -n %s", id, timeout, col.Name, a.Namespace)
	}
	return nil
}

// DeleteCollection deletes the Collection resource of a CollectionId and waits until its
// data is erased (its finalizer done).
func (a *CollectionAdmin) DeleteCollection(ctx context.Context, id string) error {
	col, err := a.find(ctx, id)
	if err != nil {
		return err
	}
	if col == nil {
		return errs.New(errs.ResourceNotFound, "The collection id: %s does not exist", id)
	}
	if err := a.Client.Delete(ctx, col); client.IgnoreNotFound(err) != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := a.Client.Get(ctx, client.ObjectKeyFromObject(col), &facesearchv1.Collection{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}
