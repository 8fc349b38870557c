package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
)

// The tags of a collection are its Collection resource's, in two places:
//
//   - the annotation facesearch.io/tags, a JSON object: where CreateCollection's Tags and
//     TagResource's new keys go, since a Rekognition tag (up to 128 characters of key, 256
//     of value, with ' ', ':', '/', '=', '+', '@' and any letter) fits no label and no
//     annotation key;
//   - labels and annotations tags.facesearch.io/<key>: tags declared with the resource (in
//     Git, or with kubectl label/annotate), for keys that fit a Kubernetes name (63
//     characters of [A-Za-z0-9_.-]). A label can be selected on; an annotation takes any
//     value.
//
// ListTagsForResource reads all three (an annotation's value over a label's, both over
// the JSON's). TagResource changes a key where it is declared (a label whose new value is
// no label value moves to the JSON) and puts a new key in the JSON; UntagResource removes a
// key from all three. A key declared in Git and removed through the endpoint comes back at
// the next sync of the Git tool: Git is its source.
const tagKeyPrefix = "tags.facesearch.io/"

// collectionTags are the tags of a Collection.
func collectionTags(col *facesearchv1.Collection) (map[string]string, error) {
	tags, err := jsonTags(col)
	if err != nil {
		return nil, err
	}
	for _, m := range []map[string]string{col.Labels, col.Annotations} {
		for k, v := range m {
			if key, ok := strings.CutPrefix(k, tagKeyPrefix); ok && key != "" {
				tags[key] = v
			}
		}
	}
	return tags, nil
}

// jsonTags is the facesearch.io/tags annotation's map (empty when absent).
func jsonTags(col *facesearchv1.Collection) (map[string]string, error) {
	tags := map[string]string{}
	if raw := col.Annotations[tagsAnnotation]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &tags); err != nil {
			return nil, fmt.Errorf("annotation %s of Collection %s/%s is not a JSON object of strings: %w", tagsAnnotation, col.Namespace, col.Name, err)
		}
	}
	return tags, nil
}

// applyTags sets the tags of set and then removes the keys of remove on col.
func applyTags(col *facesearchv1.Collection, set map[string]string, remove []string) error {
	js, err := jsonTags(col)
	if err != nil {
		return err
	}
	for key, value := range set {
		k := tagKeyPrefix + key
		declared := false
		if _, ok := col.Annotations[k]; ok {
			col.Annotations[k] = value
			declared = true
		}
		if _, ok := col.Labels[k]; ok {
			if len(validation.IsValidLabelValue(value)) == 0 {
				col.Labels[k] = value
				declared = true
			} else {
				delete(col.Labels, k)
			}
		}
		if declared {
			delete(js, key)
		} else {
			js[key] = value
		}
	}
	for _, key := range remove {
		delete(col.Labels, tagKeyPrefix+key)
		delete(col.Annotations, tagKeyPrefix+key)
		delete(js, key)
	}
	if len(js) == 0 {
		delete(col.Annotations, tagsAnnotation)
		return nil
	}
	data, err := json.Marshal(js)
	if err != nil {
		return err
	}
	if col.Annotations == nil {
		col.Annotations = map[string]string{}
	}
	col.Annotations[tagsAnnotation] = string(data)
	return nil
}

// reader reads from the API server itself when Reader is set, so that a tag just written
// is read back (the manager's client reads a cache).
func (a *CollectionAdmin) reader() client.Reader {
	if a.Reader != nil {
		return a.Reader
	}
	return a.Client
}

// findARN returns the Collection of the namespace whose ARN is arn.
func (a *CollectionAdmin) findARN(ctx context.Context, arn string) (*facesearchv1.Collection, error) {
	var list facesearchv1.CollectionList
	if err := a.reader().List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].ARN() == arn {
			return &list.Items[i], nil
		}
	}
	return nil, errs.New(errs.ResourceNotFound, "The collection with ARN %s does not exist", arn)
}

// Tags returns the tags of the collection whose ARN is arn.
func (a *CollectionAdmin) Tags(ctx context.Context, arn string) (map[string]string, error) {
	col, err := a.findARN(ctx, arn)
	if err != nil {
		return nil, err
	}
	return collectionTags(col)
}

// UpdateTags sets and removes tags of the collection whose ARN is arn with one update of
// its resource, read again and redone when another writer changed it in between. A change
// that leaves the collection with more than limit tags, and more than it had, is
// ServiceQuotaExceeded.
func (a *CollectionAdmin) UpdateTags(ctx context.Context, arn string, set map[string]string, remove []string, limit int) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		col, err := a.findARN(ctx, arn)
		if err != nil {
			return err
		}
		before, err := collectionTags(col)
		if err != nil {
			return err
		}
		orig := col.DeepCopy()
		if err := applyTags(col, set, remove); err != nil {
			return err
		}
		after, err := collectionTags(col)
		if err != nil {
			return err
		}
		if len(after) > limit && len(after) > len(before) {
			return errs.New(errs.ServiceQuotaExceeded, "A collection may have at most %d tags; this change would leave %d", limit, len(after))
		}
		if maps.Equal(orig.Labels, col.Labels) && maps.Equal(orig.Annotations, col.Annotations) {
			return nil
		}
		// Update, not a patch: its resourceVersion makes a concurrent writer's change a
		// conflict, redone on the fresh object.
		return a.Client.Update(ctx, col)
	})
}
