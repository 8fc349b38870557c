package store

import (
	"time"
)

// Rekognition's limits and defaults.
const (
	MaxFacesPerUser           = 100
	MaxFacesPerAssociation    = 100
	MaxListResults            = 4096
	MaxListUsersResults       = 500
	DefaultUserMatchThreshold = 75
	MaxDimension              = 4096
)

// User statuses.
const (
	UserStatusActive   = "ACTIVE"
	UserStatusUpdating = "UPDATING"
	UserStatusCreating = "CREATING"
	UserStatusCreated  = "CREATED"
)

// Reasons of unsuccessful face operations.
const (
	ReasonFaceNotFound               = "FACE_NOT_FOUND"
	ReasonAssociatedToADifferentUser = "ASSOCIATED_TO_A_DIFFERENT_USER"
	ReasonLowMatchConfidence         = "LOW_MATCH_CONFIDENCE"
	ReasonAssociatedToAnExistingUser = "ASSOCIATED_TO_AN_EXISTING_USER"
)

// Options configure a Store.
type Options struct {
	// RequestTimeout bounds each call to MinIO, so an outage fails fast; default 5s.
	RequestTimeout time.Duration
	// SegmentVectors is how many vectors compaction puts in one segment; default 65536.
	SegmentVectors int
	// RecordsPerChunk is how many face records compaction puts in one records object;
	// default 65536.
	RecordsPerChunk int
	// MarkerGrace is how old a compacted commit's marker must be before compaction deletes
	// it; a commit is sent within half of it from the LIST it was decided on, or decided
	// again. Default DefaultMarkerGrace; every process of a bucket must use the same (tests
	// shorten it).
	MarkerGrace time.Duration
	// CompactionRate is the bytes per second a compaction reads and writes at most, so
	// that searches and commits keep their latency meanwhile; default
	// DefaultCompactionRate, negative for no limit.
	CompactionRate int64
	// IdempotencyTTL is how long a ClientRequestToken's record answers a retry; default 1h,
	// as the HTTP handler's cache.
	IdempotencyTTL time.Duration
	// Now is the clock that dates and expires token records (default time.Now); for tests.
	Now func() time.Time
	// NotificationSilence is how long a commit notification stream (WatchCommits) may stay
	// silent before it is held dead and subscribed again; default
	// DefaultNotificationSilence. MinIO sends a keep-alive every 10 s.
	NotificationSilence time.Duration

	// compactStep runs after each step of a compaction (tests: an error stops it there, as
	// if the process died).
	compactStep func(step string) error
	// fullCompaction makes every compaction rewrite the whole snapshot (tests compare).
	fullCompaction bool
}

// Collection is a collection's fixed description: its manifest.
type Collection struct {
	ID                string    `json:"collectionId"`
	FaceModelVersion  string    `json:"faceModelVersion"`
	Dimension         int       `json:"dimension"`
	CreationTimestamp time.Time `json:"creationTimestamp"`
	// Incarnation tells apart two collections that had the same ID at different times.
	Incarnation string `json:"incarnation"`
	// OwnerNamespace and OwnerUID name the Collection resource the collection belongs to
	// (Owner). Both are empty on a collection made before owners were recorded, or made
	// through a Store alone.
	OwnerNamespace string `json:"ownerNamespace,omitempty"`
	OwnerUID       string `json:"ownerUID,omitempty"`
	// Deleting is the tombstone of a deletion in progress: from then on the collection does
	// not exist for readers and writers, and DeleteCollection resumes its sweep.
	Deleting bool `json:"deleting,omitempty"`
}

// Owner is the Collection resource a stored collection belongs to.
func (c Collection) Owner() Owner { return Owner{Namespace: c.OwnerNamespace, UID: c.OwnerUID} }

// Owner names the Kubernetes resource a stored collection belongs to: a namespace and the
// resource's UID, which a resource deleted and created again under the same name does not
// keep. The zero Owner is none.
type Owner struct {
	Namespace, UID string
}

// IsZero says whether o is no owner.
func (o Owner) IsZero() bool { return o == Owner{} }

// CollectionDescription is a Collection with its counts.
type CollectionDescription struct {
	Collection
	FaceCount  int64
	UserCount  int64
	Generation uint64
}

// CreateCollectionOptions are the fixed parameters of a new collection.
type CreateCollectionOptions struct {
	FaceModelVersion string
	Dimension        int
	// Owner is recorded in the manifest; zero records none.
	Owner Owner
}

// ListOptions page a listing.
type ListOptions struct {
	MaxResults int
	NextToken  string
}

// BoundingBox is a face's box as ratios of the image's width and height.
type BoundingBox struct {
	Width  float32 `json:"width"`
	Height float32 `json:"height"`
	Left   float32 `json:"left"`
	Top    float32 `json:"top"`
}

// NewFace is a detected face to index.
type NewFace struct {
	ExternalImageID string
	ImageID         string
	BoundingBox     BoundingBox
	Confidence      float32
	// Embedding has the collection's Dimension; it is stored L2-normalised.
	Embedding []float32
}

// FaceRecord is a stored face.
type FaceRecord struct {
	FaceID                 string      `json:"faceId"`
	UserID                 string      `json:"userId,omitempty"`
	ExternalImageID        string      `json:"externalImageId,omitempty"`
	ImageID                string      `json:"imageId"`
	BoundingBox            BoundingBox `json:"boundingBox"`
	Confidence             float32     `json:"confidence"`
	IndexFacesModelVersion string      `json:"indexFacesModelVersion"`
}

// IndexFacesOptions are reserved for future use.
type IndexFacesOptions struct{}

// ListFacesOptions filter and page ListFaces.
type ListFacesOptions struct {
	UserID     string
	FaceIDs    []string
	MaxResults int
	NextToken  string
}

// FaceFailure is a face that DeleteFaces did not delete.
type FaceFailure struct {
	FaceID  string
	UserID  string
	Reasons []string
}

// User is a user of a collection.
type User struct {
	UserID     string
	UserStatus string
}

// UserOptions make a user operation idempotent. A call with a ClientRequestToken commits a
// record of it with its result; a later call with the same token, in any process, gets that
// result again without changing anything, or IdempotentParameterMismatch if its parameters
// differ.
type UserOptions struct {
	ClientRequestToken string
	// ParamsHash identifies the parameters (see ParamsHash); empty: the store hashes the
	// arguments it is given. A caller that sets it must set it the same way every time.
	ParamsHash string
}

// AssociateFacesOptions tune AssociateFaces.
type AssociateFacesOptions struct {
	UserOptions
	// UserMatchThreshold is the lowest similarity (0-100) of a new face to the user's faces;
	// nil means DefaultUserMatchThreshold. 0 is a threshold like any other: every face joins.
	UserMatchThreshold *float32
	// Similarity maps a cosine to a similarity 0-100; nil means 100*max(cosine, 0).
	Similarity func(cosine float32) float32
}

// FaceAssociationFailure is a face that AssociateFaces or DisassociateFaces left alone.
type FaceAssociationFailure struct {
	FaceID     string   `json:"faceId"`
	UserID     string   `json:"userId,omitempty"`
	Confidence float32  `json:"confidence,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
}

// AssociateFacesResult is the answer of AssociateFaces and DisassociateFaces; the JSON is
// how a token record keeps it.
type AssociateFacesResult struct {
	Associated   []string                 `json:"associated,omitempty"`
	Unsuccessful []FaceAssociationFailure `json:"unsuccessful,omitempty"`
	UserStatus   string                   `json:"userStatus"`
}
