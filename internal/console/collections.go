package console

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// pageTimeout bounds the storage calls of one page, as the endpoint bounds a backend call.
const pageTimeout = 30 * time.Second

// collectionView is what a page shows of one collection.
type collectionView struct {
	ID, Name, ARN, FaceModelVersion string
	Ready                           bool
	Shards                          []shardView
	Faces, Users                    int64
	// Details: the key may call DescribeCollection, so counts and shards are shown.
	Details bool
	// Error says why the details could not be read.
	Error string
	// What the key may open from here.
	CanSearch, CanListUsers, CanListFaces bool
}

// shardView is one shard: Ready of Desired replicas serve.
type shardView struct {
	Index          int
	Ready, Desired int32
}

// Serving says whether the shard has a replica that serves.
func (s shardView) Serving() bool { return s.Ready > 0 }

func (h *handler) view(ctx context.Context, s *session, c *search.Collection) collectionView {
	v := collectionView{ID: c.ID, Name: c.Name, Ready: c.Ready,
		Details:      s.cred.MayCall("DescribeCollection"),
		CanSearch:    s.cred.MayCall("SearchUsersByImage"),
		CanListUsers: s.cred.MayCall("ListUsers"),
		CanListFaces: s.cred.MayCall("ListFaces"),
	}
	if !v.Details {
		return v
	}
	v.ARN, v.FaceModelVersion = c.ARN, c.FaceModelVersion
	for i := range c.Shards {
		sh := shardView{Index: i}
		if i < len(c.Replicas) {
			sh.Ready, sh.Desired = c.Replicas[i].Ready, c.Replicas[i].Desired
		}
		v.Shards = append(v.Shards, sh)
	}
	d, err := h.opts.Search.DescribeCollection(ctx, c.ID)
	if err != nil {
		v.Error = h.message(err)
		return v
	}
	v.Faces, v.Users, v.FaceModelVersion = d.FaceCount, d.UserCount, d.FaceModelVersion
	return v
}

// message is what a person is shown of an error: Rekognition's error type and message, as
// the endpoint answers it; internal errors are logged and not shown.
func (h *handler) message(err error) string {
	var re *rekognition.Error
	if !errors.As(rekognition.MapError(err), &re) || re.Type == rekognition.TypeInternalServerError {
		h.opts.Log.Error(err, "Console request failed")
		return "InternalServerError: the request failed; the api's log says why."
	}
	return re.Type + ": " + re.Message
}

type collectionsPage struct {
	base
	Collections []collectionView
	// Listed: the key may call ListCollections; otherwise only the collections its scope
	// names are shown.
	Listed bool
}

// collections shows every collection of the namespace the key may use.
func (h *handler) collections(w http.ResponseWriter, r *http.Request, s *session) {
	if id := r.URL.Query().Get("open"); id != "" {
		// The form of a key that may not list: the collection's page answers for the id.
		http.Redirect(w, r, "/console/collections/"+pathEscape(id), http.StatusSeeOther)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	p := collectionsPage{base: h.base(s, "Collections"), Listed: s.cred.MayCall("ListCollections")}
	for _, c := range h.opts.Search.Collections.List() {
		// Without ListCollections, a key sees the collections its scope names, not all of
		// them ("*"): it knew those names already.
		if !s.cred.Allows(c.ID) || (!p.Listed && s.cred.AllowsAllCollections()) || !mayCallAny(s, collectionPageOperations) {
			continue
		}
		p.Collections = append(p.Collections, h.view(ctx, s, c))
	}
	h.render(w, http.StatusOK, "collections.html", p)
}

type collectionPage struct {
	base
	C collectionView
	// Users are a page of ListUsers; UsersNext the token of the next one.
	Users      []store.User
	UsersNext  string
	UsersError string
}

// collection shows one collection, its shards and its users, as far as the key may see.
func (h *handler) collection(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	p := collectionPage{base: h.base(s, "Collection "+c.ID), C: h.view(ctx, s, c)}
	if p.C.CanListUsers {
		users, next, err := h.opts.Search.ListUsers(ctx, c.ID, store.ListOptions{MaxResults: 100, NextToken: r.URL.Query().Get("users")})
		if err != nil {
			p.UsersError = h.message(err)
		}
		p.Users, p.UsersNext = users, next
	}
	h.render(w, http.StatusOK, "collection.html", p)
}

// faceView is a stored face: its record and where its picture is.
type faceView struct {
	store.FaceRecord
	CropURL string
}

type facesPage struct {
	base
	C collectionView
	// UserID is the user whose faces these are; empty for every face of the collection.
	UserID string
	Faces  []faceView
	Next   string
	Error  string
}

func (h *handler) userFaces(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection) {
	h.facesOf(w, r, s, c, r.PathValue("user"))
}

func (h *handler) faces(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection) {
	h.facesOf(w, r, s, c, "")
}

// facesOf lists a user's faces (a user has at most 100) or a page of every face.
func (h *handler) facesOf(w http.ResponseWriter, r *http.Request, s *session, c *search.Collection, userID string) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	title := "Faces of " + c.ID
	if userID != "" {
		title = "User " + userID
	}
	p := facesPage{base: h.base(s, title), C: h.view(ctx, s, c), UserID: userID}
	recs, next, err := h.opts.Search.ListFaces(ctx, c.ID, store.ListFacesOptions{UserID: userID, MaxResults: 100, NextToken: r.URL.Query().Get("next")})
	if err != nil {
		p.Error = h.message(err)
	}
	for _, rec := range recs {
		p.Faces = append(p.Faces, faceView{FaceRecord: rec, CropURL: "/console/collections/" + pathEscape(c.ID) + "/faces/" + rec.FaceID + "/crop"})
	}
	p.Next = next
	h.render(w, http.StatusOK, "faces.html", p)
}

var reFaceID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// crop is a stored face's picture, cut from the image it was indexed from when the console
// can find that image: a User resource's face that names it, or the object its
// ExternalImageId names in the collection's image sources (search.Service.FaceCrop).
func (h *handler) crop(w http.ResponseWriter, r *http.Request, _ *session, c *search.Collection) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	faceID := r.PathValue("face")
	if !reFaceID.MatchString(faceID) {
		http.NotFound(w, r)
		return
	}
	recs, _, err := h.opts.Search.ListFaces(ctx, c.ID, store.ListFacesOptions{FaceIDs: []string{faceID}, MaxResults: 1})
	if err != nil || len(recs) == 0 {
		http.NotFound(w, r)
		return
	}
	jpeg, err := h.opts.Search.FaceCrop(ctx, c.ID, faceID, h.userImages(ctx, c, recs[0]), face.CropOptions{})
	if err != nil {
		if !errs.Is(err, errs.ResourceNotFound) {
			h.opts.Log.Info("Face crop failed", "collectionId", c.ID, "faceId", faceID, "reason", err.Error())
		}
		http.Error(w, "no picture of this face is at hand", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(jpeg)
}

// userImages are the images the User resources of the face's user give for its
// ExternalImageId (the spec.faces entry's name): S3Objects and inline bytes. ConfigMaps and
// Secrets are not read: the api role may not.
func (h *handler) userImages(ctx context.Context, c *search.Collection, rec store.FaceRecord) []search.Image {
	if h.opts.Reader == nil || rec.UserID == "" || rec.ExternalImageID == "" {
		return nil
	}
	var out []search.Image
	opts := []client.ListOption{client.InNamespace(h.opts.Namespace), client.Limit(200)}
	for {
		var users facesearchv1.UserList
		if err := h.opts.Reader.List(ctx, &users, opts...); err != nil {
			h.opts.Log.Info("Users unreadable; looking for face images in the image sources only", "reason", err.Error())
			return out
		}
		for _, u := range users.Items {
			if u.Spec.CollectionRef.Name != c.Name || u.Spec.UserID != rec.UserID {
				continue
			}
			for _, f := range u.Spec.Faces {
				if f.Name != rec.ExternalImageID {
					continue
				}
				switch img := f.Image; {
				case img.S3Object != nil:
					out = append(out, search.Image{S3Object: &search.S3Object{Bucket: img.S3Object.Bucket, Name: img.S3Object.Name, Version: img.S3Object.Version}})
				case len(img.Bytes) > 0:
					out = append(out, search.Image{Bytes: img.Bytes})
				}
			}
		}
		if users.Continue == "" {
			return out
		}
		opts = []client.ListOption{client.InNamespace(h.opts.Namespace), client.Limit(200), client.Continue(users.Continue)}
	}
}
