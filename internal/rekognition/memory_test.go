package rekognition

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memBackend is a small in-memory Backend for the protocol tests: a stand-in
// for the store and face engine. Its "images" are text: "faces:alice,bob"
// holds two faces whose embeddings are the names (alice is the largest).
type memBackend struct {
	mu          sync.Mutex
	collections map[string]*memCollection
	objects     map[string][]byte // "bucket/name" -> image
	calls       atomic.Int64      // backend calls, for idempotency tests
	// hooks for fault tests
	block   chan struct{} // when set, every call waits on it (or ctx)
	failErr error         // when set, every call returns it
}

type memCollection struct {
	created time.Time
	faces   map[string]*memFace
	users   map[string]*memUser
}

type memFace struct {
	id, external, imageID, name, user string
}

type memUser struct {
	id    string
	faces map[string]bool
}

const testModelVersion = "7.0"

func newMemBackend() *memBackend {
	return &memBackend{collections: map[string]*memCollection{}, objects: map[string][]byte{}}
}

func (b *memBackend) enter(ctx context.Context) error {
	b.calls.Add(1)
	if b.block != nil {
		select {
		case <-b.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.failErr
}

func (b *memBackend) col(id *string) (*memCollection, error) {
	c := b.collections[*id]
	if c == nil {
		return nil, ErrResourceNotFound(fmt.Sprintf("The collection id: %s does not exist", *id))
	}
	return c, nil
}

func uuid() string {
	var x [16]byte
	rand.Read(x[:])
	s := hex.EncodeToString(x[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// page slices ids after token "n" (an offset) into a page of max.
func page(ids []string, token *string, max *int32, def int) ([]string, *string, error) {
	start := 0
	if token != nil {
		n, err := strconv.Atoi(strings.TrimPrefix(*token, "off-"))
		if err != nil || !strings.HasPrefix(*token, "off-") || n > len(ids) {
			return nil, nil, ErrInvalidPaginationToken("Invalid pagination token")
		}
		start = n
	}
	limit := def
	if max != nil && *max > 0 {
		limit = int(*max)
	}
	end := min(start+limit, len(ids))
	var next *string
	if end < len(ids) {
		next = ptr("off-" + strconv.Itoa(end))
	}
	return ids[start:end], next, nil
}

func (b *memBackend) CreateCollection(ctx context.Context, in *CreateCollectionInput) (*CreateCollectionOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.collections[*in.CollectionId] != nil {
		return nil, ErrResourceAlreadyExists("The collection id: " + *in.CollectionId + " already exists")
	}
	b.collections[*in.CollectionId] = &memCollection{created: time.Now(), faces: map[string]*memFace{}, users: map[string]*memUser{}}
	return &CreateCollectionOutput{StatusCode: ptr(int32(200)), CollectionArn: ptr("aws:rekognition:local:000000000000:collection/" + *in.CollectionId), FaceModelVersion: ptr(testModelVersion)}, nil
}

func (b *memBackend) DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	return &DescribeCollectionOutput{
		FaceCount: ptr(int64(len(c.faces))), UserCount: ptr(int64(len(c.users))),
		FaceModelVersion: ptr(testModelVersion), CollectionARN: ptr("arn:collection/" + *in.CollectionId),
		CreationTimestamp: &Timestamp{c.created},
	}, nil
}

func (b *memBackend) ListCollections(ctx context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for id := range b.collections {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ids, next, err := page(ids, in.NextToken, in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	out := &ListCollectionsOutput{CollectionIds: ids, NextToken: next}
	for range ids {
		out.FaceModelVersions = append(out.FaceModelVersions, testModelVersion)
	}
	return out, nil
}

func (b *memBackend) DeleteCollection(ctx context.Context, in *DeleteCollectionInput) (*DeleteCollectionOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.col(in.CollectionId); err != nil {
		return nil, err
	}
	delete(b.collections, *in.CollectionId)
	return &DeleteCollectionOutput{StatusCode: ptr(int32(200))}, nil
}

// detect "decodes" an image into face names, largest first.
func (b *memBackend) detect(img *Image) ([]string, error) {
	data := img.Bytes
	if img.S3Object != nil {
		d, ok := b.objects[*img.S3Object.Bucket+"/"+*img.S3Object.Name]
		if !ok {
			return nil, ErrInvalidS3Object("Unable to get object metadata from S3. Check object key, region and/or access permissions.")
		}
		data = d
	}
	s, ok := strings.CutPrefix(string(data), "faces:")
	if !ok {
		return nil, ErrInvalidImageFormat("Request has invalid image format")
	}
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, ","), nil
}

func detail(i int) *FaceDetail {
	return &FaceDetail{BoundingBox: &BoundingBox{Width: ptr(float32(0.5) / float32(i+1)), Height: ptr(float32(0.5)), Left: ptr(float32(0.1)), Top: ptr(float32(0.2))}, Confidence: ptr(float32(99.5))}
}

func (b *memBackend) IndexFaces(ctx context.Context, in *IndexFacesInput) (*IndexFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	names, err := b.detect(in.Image)
	if err != nil {
		return nil, err
	}
	out := &IndexFacesOutput{FaceModelVersion: ptr(testModelVersion)}
	imageID := uuid()
	for i, n := range names {
		if in.MaxFaces != nil && i >= int(*in.MaxFaces) {
			out.UnindexedFaces = append(out.UnindexedFaces, UnindexedFace{Reasons: []Reason{ReasonExceedsMaxFaces}, FaceDetail: detail(i)})
			continue
		}
		f := &memFace{id: uuid(), imageID: imageID, name: n}
		if in.ExternalImageId != nil {
			f.external = *in.ExternalImageId
		}
		c.faces[f.id] = f
		out.FaceRecords = append(out.FaceRecords, FaceRecord{Face: b.face(f), FaceDetail: detail(i)})
	}
	return out, nil
}

func (b *memBackend) face(f *memFace) *Face {
	out := &Face{FaceId: ptr(f.id), ImageId: ptr(f.imageID), Confidence: ptr(float32(99.5)), IndexFacesModelVersion: ptr(testModelVersion),
		BoundingBox: &BoundingBox{Width: ptr(float32(0.5)), Height: ptr(float32(0.5)), Left: ptr(float32(0.1)), Top: ptr(float32(0.2))}}
	if f.external != "" {
		out.ExternalImageId = ptr(f.external)
	}
	if f.user != "" {
		out.UserId = ptr(f.user)
	}
	return out
}

func (b *memBackend) sortedFaces(c *memCollection) []string {
	ids := make([]string, 0, len(c.faces))
	for id := range c.faces {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (b *memBackend) ListFaces(ctx context.Context, in *ListFacesInput) (*ListFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range b.sortedFaces(c) {
		f := c.faces[id]
		if in.UserId != nil && f.user != *in.UserId {
			continue
		}
		if in.FaceIds != nil && !containsStr(in.FaceIds, id) {
			continue
		}
		ids = append(ids, id)
	}
	ids, next, err := page(ids, in.NextToken, in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	out := &ListFacesOutput{NextToken: next, FaceModelVersion: ptr(testModelVersion)}
	for _, id := range ids {
		out.Faces = append(out.Faces, *b.face(c.faces[id]))
	}
	return out, nil
}

func (b *memBackend) DeleteFaces(ctx context.Context, in *DeleteFacesInput) (*DeleteFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	out := &DeleteFacesOutput{}
	for _, id := range in.FaceIds {
		f := c.faces[id]
		switch {
		case f == nil:
			out.UnsuccessfulFaceDeletions = append(out.UnsuccessfulFaceDeletions, UnsuccessfulFaceDeletion{FaceId: ptr(id), Reasons: []string{DeletionFaceNotFound}})
		case f.user != "":
			out.UnsuccessfulFaceDeletions = append(out.UnsuccessfulFaceDeletions, UnsuccessfulFaceDeletion{FaceId: ptr(id), UserId: ptr(f.user), Reasons: []string{DeletionAssociatedToExistingUser}})
		default:
			delete(c.faces, id)
			out.DeletedFaces = append(out.DeletedFaces, id)
		}
	}
	return out, nil
}

func (b *memBackend) CreateUser(ctx context.Context, in *CreateUserInput) (*CreateUserOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	if c.users[*in.UserId] != nil {
		return nil, ErrConflict("A user with id " + *in.UserId + " already exists")
	}
	c.users[*in.UserId] = &memUser{id: *in.UserId, faces: map[string]bool{}}
	return &CreateUserOutput{}, nil
}

func (b *memBackend) DeleteUser(ctx context.Context, in *DeleteUserInput) (*DeleteUserOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	u := c.users[*in.UserId]
	if u == nil {
		return nil, ErrResourceNotFound("The user id: " + *in.UserId + " does not exist")
	}
	for id := range u.faces {
		if f := c.faces[id]; f != nil {
			f.user = ""
		}
	}
	delete(c.users, *in.UserId)
	return &DeleteUserOutput{}, nil
}

func (b *memBackend) status(u *memUser) UserStatus {
	if len(u.faces) == 0 {
		return UserStatusCreated
	}
	return UserStatusActive
}

func (b *memBackend) ListUsers(ctx context.Context, in *ListUsersInput) (*ListUsersOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id := range c.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ids, next, err := page(ids, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	out := &ListUsersOutput{NextToken: next}
	for _, id := range ids {
		out.Users = append(out.Users, User{UserId: ptr(id), UserStatus: b.status(c.users[id])})
	}
	return out, nil
}

func (b *memBackend) AssociateFaces(ctx context.Context, in *AssociateFacesInput) (*AssociateFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	u := c.users[*in.UserId]
	if u == nil {
		return nil, ErrResourceNotFound("The user id: " + *in.UserId + " does not exist")
	}
	out := &AssociateFacesOutput{}
	for _, id := range in.FaceIds {
		f := c.faces[id]
		switch {
		case f == nil:
			out.UnsuccessfulFaceAssociations = append(out.UnsuccessfulFaceAssociations, UnsuccessfulFaceAssociation{FaceId: ptr(id), Reasons: []string{AssociationFaceNotFound}})
		case f.user == u.id:
		case f.user != "":
			out.UnsuccessfulFaceAssociations = append(out.UnsuccessfulFaceAssociations, UnsuccessfulFaceAssociation{FaceId: ptr(id), UserId: ptr(f.user), Reasons: []string{AssociationAssociatedToDifferentUser}})
		default:
			if len(u.faces) >= 100 {
				return nil, ErrServiceQuotaExceeded("A user may have at most 100 faces")
			}
			f.user = u.id
			u.faces[id] = true
			out.AssociatedFaces = append(out.AssociatedFaces, AssociatedFace{FaceId: ptr(id)})
		}
	}
	out.UserStatus = b.status(u)
	return out, nil
}

func (b *memBackend) DisassociateFaces(ctx context.Context, in *DisassociateFacesInput) (*DisassociateFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	u := c.users[*in.UserId]
	if u == nil {
		return nil, ErrResourceNotFound("The user id: " + *in.UserId + " does not exist")
	}
	out := &DisassociateFacesOutput{}
	for _, id := range in.FaceIds {
		f := c.faces[id]
		switch {
		case f == nil:
			out.UnsuccessfulFaceDisassociations = append(out.UnsuccessfulFaceDisassociations, UnsuccessfulFaceDisassociation{FaceId: ptr(id), Reasons: []string{AssociationFaceNotFound}})
		case f.user != u.id:
			out.UnsuccessfulFaceDisassociations = append(out.UnsuccessfulFaceDisassociations, UnsuccessfulFaceDisassociation{FaceId: ptr(id), UserId: ptr(f.user), Reasons: []string{AssociationAssociatedToDifferentUser}})
		default:
			f.user = ""
			delete(u.faces, id)
			out.DisassociatedFaces = append(out.DisassociatedFaces, DisassociatedFace{FaceId: ptr(id)})
		}
	}
	out.UserStatus = b.status(u)
	return out, nil
}

// matchFaces returns the faces whose "embedding" (name) equals name.
func (b *memBackend) matchFaces(c *memCollection, name, skip string, max *int32) []FaceMatch {
	var out []FaceMatch
	for _, id := range b.sortedFaces(c) {
		f := c.faces[id]
		if f.name == name && id != skip && (max == nil || len(out) < int(*max)) {
			out = append(out, FaceMatch{Similarity: ptr(float32(99.25)), Face: b.face(f)})
		}
	}
	return out
}

func (b *memBackend) matchUsers(c *memCollection, name string, max *int32) []UserMatch {
	var ids []string
	for id, u := range c.users {
		for fid := range u.faces {
			if c.faces[fid] != nil && c.faces[fid].name == name {
				ids = append(ids, id)
				break
			}
		}
	}
	sort.Strings(ids)
	var out []UserMatch
	for _, id := range ids {
		if max == nil || len(out) < int(*max) {
			out = append(out, UserMatch{Similarity: ptr(float32(98.5)), User: &MatchedUser{UserId: ptr(id), UserStatus: b.status(c.users[id])}})
		}
	}
	return out
}

func (b *memBackend) SearchFaces(ctx context.Context, in *SearchFacesInput) (*SearchFacesOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	f := c.faces[*in.FaceId]
	if f == nil {
		return nil, ErrResourceNotFound("The face id: " + *in.FaceId + " does not exist")
	}
	return &SearchFacesOutput{SearchedFaceId: in.FaceId, FaceMatches: b.matchFaces(c, f.name, f.id, in.MaxFaces), FaceModelVersion: ptr(testModelVersion)}, nil
}

func (b *memBackend) SearchFacesByImage(ctx context.Context, in *SearchFacesByImageInput) (*SearchFacesByImageOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	names, err := b.detect(in.Image)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, ErrInvalidParameter("There are no faces in the image. Should be at least 1.")
	}
	d := detail(0)
	return &SearchFacesByImageOutput{SearchedFaceBoundingBox: d.BoundingBox, SearchedFaceConfidence: d.Confidence,
		FaceMatches: b.matchFaces(c, names[0], "", in.MaxFaces), FaceModelVersion: ptr(testModelVersion)}, nil
}

func (b *memBackend) SearchUsers(ctx context.Context, in *SearchUsersInput) (*SearchUsersOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	out := &SearchUsersOutput{FaceModelVersion: ptr(testModelVersion)}
	var name string
	if in.FaceId != nil {
		f := c.faces[*in.FaceId]
		if f == nil {
			return nil, ErrResourceNotFound("The face id: " + *in.FaceId + " does not exist")
		}
		name, out.SearchedFace = f.name, &SearchedFace{FaceId: in.FaceId}
	} else {
		u := c.users[*in.UserId]
		if u == nil {
			return nil, ErrResourceNotFound("The user id: " + *in.UserId + " does not exist")
		}
		for fid := range u.faces {
			name = c.faces[fid].name
		}
		out.SearchedUser = &SearchedUser{UserId: in.UserId}
	}
	for _, m := range b.matchUsers(c, name, in.MaxUsers) {
		if in.UserId == nil || *m.User.UserId != *in.UserId {
			out.UserMatches = append(out.UserMatches, m)
		}
	}
	return out, nil
}

func (b *memBackend) SearchUsersByImage(ctx context.Context, in *SearchUsersByImageInput) (*SearchUsersByImageOutput, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.col(in.CollectionId)
	if err != nil {
		return nil, err
	}
	names, err := b.detect(in.Image)
	if err != nil {
		return nil, err
	}
	out := &SearchUsersByImageOutput{FaceModelVersion: ptr(testModelVersion)}
	if len(names) == 0 {
		return out, nil
	}
	out.SearchedFace = &SearchedFaceDetails{FaceDetail: detail(0)}
	out.UserMatches = b.matchUsers(c, names[0], in.MaxUsers)
	for i := range names[1:] {
		out.UnsearchedFaces = append(out.UnsearchedFaces, UnsearchedFace{FaceDetails: detail(i + 1), Reasons: []UnsearchedFaceReason{UnsearchedFaceNotLargest}})
	}
	return out, nil
}

var errBoom = errors.New("disk on fire")
