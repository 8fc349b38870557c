package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// A SearchRequest's answer is a SearchUsersByImage answer: a key sees it when it may make
// that search on the SearchRequest's collection.
const searchRequestOperation = "SearchUsersByImage"

// maxListedSearchRequests bounds the list page; the newest are shown.
const maxListedSearchRequests = 500

type searchRequestRow struct {
	Name, CollectionID            string
	Succeeded, Reason             string
	TopMatch, Similarity, Created string
}

type searchRequestsPage struct {
	base
	Namespace string
	Items     []searchRequestRow
	Error     string
}

// searchRequests lists the namespace's SearchRequests whose collection the key may search.
func (h *handler) searchRequests(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.cred.MayCall(searchRequestOperation) {
		h.fail(w, s, http.StatusForbidden, "Not allowed", fmt.Sprintf("The access key %s may not call %s: it sees no search's answer.", s.keyID, searchRequestOperation))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	p := searchRequestsPage{base: h.base(s, "SearchRequests"), Namespace: h.opts.Namespace}
	var list facesearchv1.SearchRequestList
	if err := h.opts.Reader.List(ctx, &list, client.InNamespace(h.opts.Namespace), client.Limit(maxListedSearchRequests)); err != nil {
		h.opts.Log.Error(err, "SearchRequests unreadable")
		p.Error = "The SearchRequests could not be read; the api's log says why."
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		return list.Items[j].CreationTimestamp.Before(&list.Items[i].CreationTimestamp)
	})
	for i := range list.Items {
		sr := &list.Items[i]
		id := h.collectionID(ctx, sr.Spec.CollectionRef.Name)
		if !s.cred.Allows(id) {
			continue
		}
		row := searchRequestRow{Name: sr.Name, CollectionID: id, Created: sr.CreationTimestamp.UTC().Format("2006-01-02 15:04:05Z")}
		if c := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition); c != nil {
			row.Succeeded, row.Reason = string(c.Status), c.Reason
		}
		if len(sr.Status.UserMatches) > 0 {
			row.TopMatch, row.Similarity = sr.Status.UserMatches[0].User.UserID, sr.Status.UserMatches[0].Similarity
		}
		p.Items = append(p.Items, row)
	}
	h.render(w, http.StatusOK, "searchrequests.html", p)
}

type searchRequestPage struct {
	base
	Namespace, Name, CollectionID string
	Photo                         *photo
	Matches                       []facesearchv1.UserMatch
	FaceModelVersion              string
	Succeeded, Reason, Message    string
	// ImageNote says why the photo is not shown, when it is not.
	ImageNote string
}

// searchRequest draws a SearchRequest's answer from its status: its faces' boxes over its
// image when the console may read the image (inline bytes, or an S3Object within the
// collection's image sources), on a blank canvas otherwise.
func (h *handler) searchRequest(w http.ResponseWriter, r *http.Request, s *session) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if ns != h.opts.Namespace {
		h.fail(w, s, http.StatusNotFound, "Not found", fmt.Sprintf("This console shows the SearchRequests of namespace %s only.", h.opts.Namespace))
		return
	}
	if !s.cred.MayCall(searchRequestOperation) {
		h.fail(w, s, http.StatusForbidden, "Not allowed", fmt.Sprintf("The access key %s may not call %s: it sees no search's answer.", s.keyID, searchRequestOperation))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	// One answer for absent and not allowed: a key learns nothing of the others' searches.
	hidden := fmt.Sprintf("There is no SearchRequest %s/%s that the access key %s may see.", ns, name, s.keyID)
	sr := &facesearchv1.SearchRequest{}
	if err := h.opts.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sr); err != nil {
		if !apierrors.IsNotFound(err) {
			h.opts.Log.Error(err, "SearchRequest unreadable", "searchRequest", ns+"/"+name)
		}
		h.fail(w, s, http.StatusNotFound, "Not found", hidden)
		return
	}
	id := h.collectionID(ctx, sr.Spec.CollectionRef.Name)
	if !s.cred.Allows(id) {
		h.fail(w, s, http.StatusNotFound, "Not found", hidden)
		return
	}
	p := searchRequestPage{base: h.base(s, "SearchRequest "+name), Namespace: ns, Name: name, CollectionID: id,
		Matches: sr.Status.UserMatches, FaceModelVersion: sr.Status.FaceModelVersion,
		Photo: &photo{Faces: statusFaces(&sr.Status)}}
	if c := meta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition); c != nil {
		p.Succeeded, p.Reason, p.Message = string(c.Status), c.Reason, c.Message
	}
	data, done, note := h.searchRequestImage(ctx, id, sr.Spec.Image)
	defer done()
	if p.Photo.DataURL = dataURL(data); p.Photo.DataURL == "" {
		p.ImageNote = note
		p.Photo.CanvasWidth, p.Photo.AspectEstimated = estimatedCanvasWidth(p.Photo.Faces), true
	}
	h.render(w, http.StatusOK, "searchrequest.html", p)
}

// searchRequestImage reads a SearchRequest's image when the console may: inline bytes, or
// an S3Object through the search path (its scope rules). ConfigMaps and Secrets are not
// read (the api role may not), and a recorded search kept only a digest. note says why
// there is no image; done is never nil.
func (h *handler) searchRequestImage(ctx context.Context, collectionID string, img facesearchv1.ImageSource) (data []byte, done func(), note string) {
	switch {
	case len(img.Bytes) > 0:
		return img.Bytes, func() {}, "the image is not a JPEG, PNG or WebP"
	case img.S3Object != nil:
		o := search.S3Object{Bucket: img.S3Object.Bucket, Name: img.S3Object.Name, Version: img.S3Object.Version}
		data, done, err := h.opts.Search.ReadImage(ctx, collectionID, o)
		if err != nil {
			return nil, done, "the image could not be read from the collection's image sources (" + h.message(err) + ")"
		}
		return data, done, "the image is not a JPEG, PNG or WebP"
	case img.Digest != nil:
		return nil, func() {}, "the search was recorded without its image"
	}
	return nil, func() {}, "the image is in a ConfigMap or Secret, which the console does not read"
}

// collectionID is the CollectionId of the Collection resource a SearchRequest names: the
// published one's, else the resource's, else its name (the default CollectionId).
func (h *handler) collectionID(ctx context.Context, name string) string {
	for _, c := range h.opts.Search.Collections.List() {
		if c.Name == name {
			return c.ID
		}
	}
	col := &facesearchv1.Collection{}
	if err := h.opts.Reader.Get(ctx, types.NamespacedName{Namespace: h.opts.Namespace, Name: name}, col); err == nil {
		return col.EffectiveCollectionID()
	}
	return name
}
