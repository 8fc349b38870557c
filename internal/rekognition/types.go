package rekognition

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// The types below mirror the request and response shapes of the Amazon
// Rekognition service model (API version 2016-06-27) with exactly its JSON
// member names. Optional scalars are pointers so that "absent" and "zero" stay
// distinct; the handler fills documented defaults before the Backend sees a
// request (see Validate* in validate.go).

// Image is an image given as bytes (base64 in JSON) or as an object in the
// collection's object storage. Exactly one of Bytes and S3Object is set.
type Image struct {
	Bytes    []byte    `json:"Bytes,omitempty"`
	S3Object *S3Object `json:"S3Object,omitempty"`
}

// S3Object names an object in the storage the Backend reads images from.
type S3Object struct {
	Bucket  *string `json:"Bucket,omitempty"`
	Name    *string `json:"Name,omitempty"`
	Version *string `json:"Version,omitempty"`
}

// QualityFilter is the quality bar a detected face must pass.
type QualityFilter string

// The QualityFilter values, as Rekognition names them.
const (
	QualityFilterNone   QualityFilter = "NONE"
	QualityFilterAuto   QualityFilter = "AUTO"
	QualityFilterLow    QualityFilter = "LOW"
	QualityFilterMedium QualityFilter = "MEDIUM"
	QualityFilterHigh   QualityFilter = "HIGH"
)

// Attribute is a facial attribute requested from IndexFaces or DetectFaces.
type Attribute string

// The Attribute values, as Rekognition names them.
const (
	AttributeDefault      Attribute = "DEFAULT"
	AttributeAll          Attribute = "ALL"
	AttributeAgeRange     Attribute = "AGE_RANGE"
	AttributeBeard        Attribute = "BEARD"
	AttributeEmotions     Attribute = "EMOTIONS"
	AttributeEyeDirection Attribute = "EYE_DIRECTION"
	AttributeEyeglasses   Attribute = "EYEGLASSES"
	AttributeEyesOpen     Attribute = "EYES_OPEN"
	AttributeGender       Attribute = "GENDER"
	AttributeMouthOpen    Attribute = "MOUTH_OPEN"
	AttributeMustache     Attribute = "MUSTACHE"
	AttributeFaceOccluded Attribute = "FACE_OCCLUDED"
	AttributeSmile        Attribute = "SMILE"
	AttributeSunglasses   Attribute = "SUNGLASSES"
)

// UserStatus is the state of a user vector.
type UserStatus string

// The UserStatus values, as Rekognition names them.
const (
	UserStatusActive   UserStatus = "ACTIVE"
	UserStatusUpdating UserStatus = "UPDATING"
	UserStatusCreating UserStatus = "CREATING"
	UserStatusCreated  UserStatus = "CREATED"
)

// Reason explains why IndexFaces did not index a face.
type Reason string

// The Reason values, as Rekognition names them.
const (
	ReasonExceedsMaxFaces  Reason = "EXCEEDS_MAX_FACES"
	ReasonExtremePose      Reason = "EXTREME_POSE"
	ReasonLowBrightness    Reason = "LOW_BRIGHTNESS"
	ReasonLowSharpness     Reason = "LOW_SHARPNESS"
	ReasonLowConfidence    Reason = "LOW_CONFIDENCE"
	ReasonSmallBoundingBox Reason = "SMALL_BOUNDING_BOX"
	ReasonLowFaceQuality   Reason = "LOW_FACE_QUALITY"
)

// UnsearchedFaceReason explains why SearchUsersByImage did not search a face.
type UnsearchedFaceReason string

// The UnsearchedFaceReason values, as Rekognition names them.
const (
	UnsearchedFaceNotLargest   UnsearchedFaceReason = "FACE_NOT_LARGEST"
	UnsearchedExceedsMaxFaces  UnsearchedFaceReason = "EXCEEDS_MAX_FACES"
	UnsearchedExtremePose      UnsearchedFaceReason = "EXTREME_POSE"
	UnsearchedLowBrightness    UnsearchedFaceReason = "LOW_BRIGHTNESS"
	UnsearchedLowSharpness     UnsearchedFaceReason = "LOW_SHARPNESS"
	UnsearchedLowConfidence    UnsearchedFaceReason = "LOW_CONFIDENCE"
	UnsearchedSmallBoundingBox UnsearchedFaceReason = "SMALL_BOUNDING_BOX"
	UnsearchedLowFaceQuality   UnsearchedFaceReason = "LOW_FACE_QUALITY"
)

// Failure reasons of AssociateFaces, DisassociateFaces and DeleteFaces.
const (
	AssociationFaceNotFound              = "FACE_NOT_FOUND"
	AssociationAssociatedToDifferentUser = "ASSOCIATED_TO_A_DIFFERENT_USER"
	AssociationLowMatchConfidence        = "LOW_MATCH_CONFIDENCE"
	DeletionAssociatedToExistingUser     = "ASSOCIATED_TO_AN_EXISTING_USER"
	DeletionFaceNotFound                 = "FACE_NOT_FOUND"
)

// BoundingBox is a box as ratios of the image width and height.
type BoundingBox struct {
	Width  *float32 `json:"Width,omitempty"`
	Height *float32 `json:"Height,omitempty"`
	Left   *float32 `json:"Left,omitempty"`
	Top    *float32 `json:"Top,omitempty"`
}

// Face is a face stored in a collection.
type Face struct {
	FaceId                 *string      `json:"FaceId,omitempty"`
	BoundingBox            *BoundingBox `json:"BoundingBox,omitempty"`
	ImageId                *string      `json:"ImageId,omitempty"`
	ExternalImageId        *string      `json:"ExternalImageId,omitempty"`
	Confidence             *float32     `json:"Confidence,omitempty"`
	IndexFacesModelVersion *string      `json:"IndexFacesModelVersion,omitempty"`
	UserId                 *string      `json:"UserId,omitempty"`
}

// AgeRange is an estimated age range in years.
type AgeRange struct {
	Low  *int32 `json:"Low,omitempty"`
	High *int32 `json:"High,omitempty"`
}

// BoolAttribute is the shape shared by Smile, Eyeglasses, Sunglasses, Beard,
// Mustache, EyesOpen, MouthOpen and FaceOccluded.
type BoolAttribute struct {
	Value      bool     `json:"Value"`
	Confidence *float32 `json:"Confidence,omitempty"`
}

// Gender is a predicted gender.
type Gender struct {
	Value      string   `json:"Value,omitempty"`
	Confidence *float32 `json:"Confidence,omitempty"`
}

// Emotion is one predicted emotion.
type Emotion struct {
	Type       string   `json:"Type,omitempty"`
	Confidence *float32 `json:"Confidence,omitempty"`
}

// Landmark is one facial landmark as ratios of the image size.
type Landmark struct {
	Type string   `json:"Type,omitempty"`
	X    *float32 `json:"X,omitempty"`
	Y    *float32 `json:"Y,omitempty"`
}

// Pose is the head pose in degrees.
type Pose struct {
	Roll  *float32 `json:"Roll,omitempty"`
	Yaw   *float32 `json:"Yaw,omitempty"`
	Pitch *float32 `json:"Pitch,omitempty"`
}

// ImageQuality is the brightness and sharpness of a face, 0-100.
type ImageQuality struct {
	Brightness *float32 `json:"Brightness,omitempty"`
	Sharpness  *float32 `json:"Sharpness,omitempty"`
}

// EyeDirection is the gaze direction in degrees.
type EyeDirection struct {
	Yaw        *float32 `json:"Yaw,omitempty"`
	Pitch      *float32 `json:"Pitch,omitempty"`
	Confidence *float32 `json:"Confidence,omitempty"`
}

// FaceDetail describes a detected face. A Backend sets what it measures
// (BoundingBox, Confidence, Landmarks, Pose, Quality at least) and leaves
// the rest nil.
type FaceDetail struct {
	BoundingBox  *BoundingBox   `json:"BoundingBox,omitempty"`
	AgeRange     *AgeRange      `json:"AgeRange,omitempty"`
	Smile        *BoolAttribute `json:"Smile,omitempty"`
	Eyeglasses   *BoolAttribute `json:"Eyeglasses,omitempty"`
	Sunglasses   *BoolAttribute `json:"Sunglasses,omitempty"`
	Gender       *Gender        `json:"Gender,omitempty"`
	Beard        *BoolAttribute `json:"Beard,omitempty"`
	Mustache     *BoolAttribute `json:"Mustache,omitempty"`
	EyesOpen     *BoolAttribute `json:"EyesOpen,omitempty"`
	MouthOpen    *BoolAttribute `json:"MouthOpen,omitempty"`
	Emotions     []Emotion      `json:"Emotions,omitempty"`
	Landmarks    []Landmark     `json:"Landmarks,omitempty"`
	Pose         *Pose          `json:"Pose,omitempty"`
	Quality      *ImageQuality  `json:"Quality,omitempty"`
	Confidence   *float32       `json:"Confidence,omitempty"`
	FaceOccluded *BoolAttribute `json:"FaceOccluded,omitempty"`
	EyeDirection *EyeDirection  `json:"EyeDirection,omitempty"`
}

// FaceRecord is a face IndexFaces stored.
type FaceRecord struct {
	Face       *Face       `json:"Face,omitempty"`
	FaceDetail *FaceDetail `json:"FaceDetail,omitempty"`
}

// UnindexedFace is a face IndexFaces detected but did not store.
type UnindexedFace struct {
	Reasons    []Reason    `json:"Reasons,omitempty"`
	FaceDetail *FaceDetail `json:"FaceDetail,omitempty"`
}

// FaceMatch is a stored face similar to the searched one.
type FaceMatch struct {
	Similarity *float32 `json:"Similarity,omitempty"`
	Face       *Face    `json:"Face,omitempty"`
}

// User is a user of a collection as ListUsers reports it.
type User struct {
	UserId     *string    `json:"UserId,omitempty"`
	UserStatus UserStatus `json:"UserStatus,omitempty"`
}

// MatchedUser is the user of a UserMatch.
type MatchedUser struct {
	UserId     *string    `json:"UserId,omitempty"`
	UserStatus UserStatus `json:"UserStatus,omitempty"`
}

// UserMatch is a user similar to the searched face or user.
type UserMatch struct {
	Similarity *float32     `json:"Similarity,omitempty"`
	User       *MatchedUser `json:"User,omitempty"`
}

// SearchedFace is the face SearchUsers searched with (FaceId given).
type SearchedFace struct {
	FaceId *string `json:"FaceId,omitempty"`
}

// SearchedUser is the user SearchUsers searched with (UserId given).
type SearchedUser struct {
	UserId *string `json:"UserId,omitempty"`
}

// SearchedFaceDetails is the face SearchUsersByImage searched with.
type SearchedFaceDetails struct {
	FaceDetail *FaceDetail `json:"FaceDetail,omitempty"`
}

// UnsearchedFace is a face SearchUsersByImage detected but did not search.
type UnsearchedFace struct {
	FaceDetails *FaceDetail            `json:"FaceDetails,omitempty"`
	Reasons     []UnsearchedFaceReason `json:"Reasons,omitempty"`
}

// AssociatedFace is a face AssociateFaces attached to the user.
type AssociatedFace struct {
	FaceId *string `json:"FaceId,omitempty"`
}

// UnsuccessfulFaceAssociation is a face AssociateFaces could not attach.
// Reasons: FACE_NOT_FOUND, ASSOCIATED_TO_A_DIFFERENT_USER, LOW_MATCH_CONFIDENCE.
type UnsuccessfulFaceAssociation struct {
	FaceId     *string  `json:"FaceId,omitempty"`
	UserId     *string  `json:"UserId,omitempty"`
	Confidence *float32 `json:"Confidence,omitempty"`
	Reasons    []string `json:"Reasons,omitempty"`
}

// DisassociatedFace is a face DisassociateFaces removed from the user.
type DisassociatedFace struct {
	FaceId *string `json:"FaceId,omitempty"`
}

// UnsuccessfulFaceDisassociation is a face DisassociateFaces could not
// remove. Reasons: FACE_NOT_FOUND, ASSOCIATED_TO_A_DIFFERENT_USER.
type UnsuccessfulFaceDisassociation struct {
	FaceId  *string  `json:"FaceId,omitempty"`
	UserId  *string  `json:"UserId,omitempty"`
	Reasons []string `json:"Reasons,omitempty"`
}

// UnsuccessfulFaceDeletion is a face DeleteFaces could not delete.
// Reasons: ASSOCIATED_TO_AN_EXISTING_USER, FACE_NOT_FOUND.
type UnsuccessfulFaceDeletion struct {
	FaceId  *string  `json:"FaceId,omitempty"`
	UserId  *string  `json:"UserId,omitempty"`
	Reasons []string `json:"Reasons,omitempty"`
}

// Timestamp is a time encoded as the AWS JSON protocol does: seconds since
// the Unix epoch as a JSON number with a fractional part.
type Timestamp struct{ time.Time }

// MarshalJSON writes the time as Rekognition does: seconds since the epoch, a JSON number.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds since the epoch, as Rekognition sends them.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// ---- operations ----

// CreateCollectionInput is the request of Rekognition's CreateCollection.
type CreateCollectionInput struct {
	CollectionId *string           `json:"CollectionId"`
	Tags         map[string]string `json:"Tags,omitempty"`
}

// CreateCollectionOutput is the answer of Rekognition's CreateCollection.
type CreateCollectionOutput struct {
	StatusCode       *int32  `json:"StatusCode,omitempty"`
	CollectionArn    *string `json:"CollectionArn,omitempty"`
	FaceModelVersion *string `json:"FaceModelVersion,omitempty"`
}

// DescribeCollectionInput is the request of Rekognition's DescribeCollection.
type DescribeCollectionInput struct {
	CollectionId *string `json:"CollectionId"`
}

// DescribeCollectionOutput is the answer of Rekognition's DescribeCollection.
type DescribeCollectionOutput struct {
	FaceCount         *int64     `json:"FaceCount,omitempty"`
	FaceModelVersion  *string    `json:"FaceModelVersion,omitempty"`
	CollectionARN     *string    `json:"CollectionARN,omitempty"`
	CreationTimestamp *Timestamp `json:"CreationTimestamp,omitempty"`
	UserCount         *int64     `json:"UserCount,omitempty"`
}

// ListCollectionsInput is the request of Rekognition's ListCollections.
type ListCollectionsInput struct {
	NextToken  *string `json:"NextToken,omitempty"`
	MaxResults *int32  `json:"MaxResults,omitempty"`
}

// ListCollectionsOutput is the answer of Rekognition's ListCollections.
type ListCollectionsOutput struct {
	CollectionIds     []string `json:"CollectionIds"`
	NextToken         *string  `json:"NextToken,omitempty"`
	FaceModelVersions []string `json:"FaceModelVersions"`
}

// DeleteCollectionInput is the request of Rekognition's DeleteCollection.
type DeleteCollectionInput struct {
	CollectionId *string `json:"CollectionId"`
}

// DeleteCollectionOutput is the answer of Rekognition's DeleteCollection.
type DeleteCollectionOutput struct {
	StatusCode *int32 `json:"StatusCode,omitempty"`
}

// IndexFacesInput is the request of Rekognition's IndexFaces.
type IndexFacesInput struct {
	CollectionId        *string       `json:"CollectionId"`
	Image               *Image        `json:"Image"`
	ExternalImageId     *string       `json:"ExternalImageId,omitempty"`
	DetectionAttributes []Attribute   `json:"DetectionAttributes,omitempty"`
	MaxFaces            *int32        `json:"MaxFaces,omitempty"`
	QualityFilter       QualityFilter `json:"QualityFilter,omitempty"`
}

// IndexFacesOutput is the answer of Rekognition's IndexFaces.
type IndexFacesOutput struct {
	FaceRecords           []FaceRecord    `json:"FaceRecords"`
	OrientationCorrection string          `json:"OrientationCorrection,omitempty"`
	FaceModelVersion      *string         `json:"FaceModelVersion,omitempty"`
	UnindexedFaces        []UnindexedFace `json:"UnindexedFaces"`
}

// ListFacesInput is the request of Rekognition's ListFaces.
type ListFacesInput struct {
	CollectionId *string  `json:"CollectionId"`
	NextToken    *string  `json:"NextToken,omitempty"`
	MaxResults   *int32   `json:"MaxResults,omitempty"`
	UserId       *string  `json:"UserId,omitempty"`
	FaceIds      []string `json:"FaceIds,omitempty"`
}

// ListFacesOutput is the answer of Rekognition's ListFaces.
type ListFacesOutput struct {
	Faces            []Face  `json:"Faces"`
	NextToken        *string `json:"NextToken,omitempty"`
	FaceModelVersion *string `json:"FaceModelVersion,omitempty"`
}

// DeleteFacesInput is the request of Rekognition's DeleteFaces.
type DeleteFacesInput struct {
	CollectionId *string  `json:"CollectionId"`
	FaceIds      []string `json:"FaceIds"`
}

// DeleteFacesOutput is the answer of Rekognition's DeleteFaces.
type DeleteFacesOutput struct {
	DeletedFaces              []string                   `json:"DeletedFaces"`
	UnsuccessfulFaceDeletions []UnsuccessfulFaceDeletion `json:"UnsuccessfulFaceDeletions"`
}

// CreateUserInput is the request of Rekognition's CreateUser.
type CreateUserInput struct {
	CollectionId       *string `json:"CollectionId"`
	UserId             *string `json:"UserId"`
	ClientRequestToken *string `json:"ClientRequestToken,omitempty"`
}

// CreateUserOutput is the answer of Rekognition's CreateUser.
type CreateUserOutput struct{}

// DeleteUserInput is the request of Rekognition's DeleteUser.
type DeleteUserInput struct {
	CollectionId       *string `json:"CollectionId"`
	UserId             *string `json:"UserId"`
	ClientRequestToken *string `json:"ClientRequestToken,omitempty"`
}

// DeleteUserOutput is the answer of Rekognition's DeleteUser.
type DeleteUserOutput struct{}

// ListUsersInput is the request of Rekognition's ListUsers.
type ListUsersInput struct {
	CollectionId *string `json:"CollectionId"`
	MaxResults   *int32  `json:"MaxResults,omitempty"`
	NextToken    *string `json:"NextToken,omitempty"`
}

// ListUsersOutput is the answer of Rekognition's ListUsers.
type ListUsersOutput struct {
	Users     []User  `json:"Users"`
	NextToken *string `json:"NextToken,omitempty"`
}

// AssociateFacesInput is the request of Rekognition's AssociateFaces.
type AssociateFacesInput struct {
	CollectionId       *string  `json:"CollectionId"`
	UserId             *string  `json:"UserId"`
	FaceIds            []string `json:"FaceIds"`
	UserMatchThreshold *float32 `json:"UserMatchThreshold,omitempty"`
	ClientRequestToken *string  `json:"ClientRequestToken,omitempty"`
}

// AssociateFacesOutput is the answer of Rekognition's AssociateFaces.
type AssociateFacesOutput struct {
	AssociatedFaces              []AssociatedFace              `json:"AssociatedFaces"`
	UnsuccessfulFaceAssociations []UnsuccessfulFaceAssociation `json:"UnsuccessfulFaceAssociations"`
	UserStatus                   UserStatus                    `json:"UserStatus,omitempty"`
}

// DisassociateFacesInput is the request of Rekognition's DisassociateFaces.
type DisassociateFacesInput struct {
	CollectionId       *string  `json:"CollectionId"`
	UserId             *string  `json:"UserId"`
	ClientRequestToken *string  `json:"ClientRequestToken,omitempty"`
	FaceIds            []string `json:"FaceIds"`
}

// DisassociateFacesOutput is the answer of Rekognition's DisassociateFaces.
type DisassociateFacesOutput struct {
	DisassociatedFaces              []DisassociatedFace              `json:"DisassociatedFaces"`
	UnsuccessfulFaceDisassociations []UnsuccessfulFaceDisassociation `json:"UnsuccessfulFaceDisassociations"`
	UserStatus                      UserStatus                       `json:"UserStatus,omitempty"`
}

// SearchFacesInput is the request of Rekognition's SearchFaces.
type SearchFacesInput struct {
	CollectionId       *string  `json:"CollectionId"`
	FaceId             *string  `json:"FaceId"`
	MaxFaces           *int32   `json:"MaxFaces,omitempty"`
	FaceMatchThreshold *float32 `json:"FaceMatchThreshold,omitempty"`
}

// SearchFacesOutput is the answer of Rekognition's SearchFaces.
type SearchFacesOutput struct {
	SearchedFaceId   *string     `json:"SearchedFaceId,omitempty"`
	FaceMatches      []FaceMatch `json:"FaceMatches"`
	FaceModelVersion *string     `json:"FaceModelVersion,omitempty"`
}

// SearchFacesByImageInput is the request of Rekognition's SearchFacesByImage.
type SearchFacesByImageInput struct {
	CollectionId       *string       `json:"CollectionId"`
	Image              *Image        `json:"Image"`
	MaxFaces           *int32        `json:"MaxFaces,omitempty"`
	FaceMatchThreshold *float32      `json:"FaceMatchThreshold,omitempty"`
	QualityFilter      QualityFilter `json:"QualityFilter,omitempty"`
}

// SearchFacesByImageOutput is the answer of Rekognition's SearchFacesByImage.
type SearchFacesByImageOutput struct {
	SearchedFaceBoundingBox *BoundingBox `json:"SearchedFaceBoundingBox,omitempty"`
	SearchedFaceConfidence  *float32     `json:"SearchedFaceConfidence,omitempty"`
	FaceMatches             []FaceMatch  `json:"FaceMatches"`
	FaceModelVersion        *string      `json:"FaceModelVersion,omitempty"`
}

// SearchUsersInput is the request of Rekognition's SearchUsers.
type SearchUsersInput struct {
	CollectionId       *string  `json:"CollectionId"`
	UserId             *string  `json:"UserId,omitempty"`
	FaceId             *string  `json:"FaceId,omitempty"`
	UserMatchThreshold *float32 `json:"UserMatchThreshold,omitempty"`
	MaxUsers           *int32   `json:"MaxUsers,omitempty"`
}

// SearchUsersOutput is the answer of Rekognition's SearchUsers.
type SearchUsersOutput struct {
	UserMatches      []UserMatch   `json:"UserMatches"`
	FaceModelVersion *string       `json:"FaceModelVersion,omitempty"`
	SearchedFace     *SearchedFace `json:"SearchedFace,omitempty"`
	SearchedUser     *SearchedUser `json:"SearchedUser,omitempty"`
}

// SearchUsersByImageInput is the request of Rekognition's SearchUsersByImage.
type SearchUsersByImageInput struct {
	CollectionId       *string       `json:"CollectionId"`
	Image              *Image        `json:"Image"`
	UserMatchThreshold *float32      `json:"UserMatchThreshold,omitempty"`
	MaxUsers           *int32        `json:"MaxUsers,omitempty"`
	QualityFilter      QualityFilter `json:"QualityFilter,omitempty"`
}

// SearchUsersByImageOutput is the answer of Rekognition's SearchUsersByImage.
type SearchUsersByImageOutput struct {
	UserMatches      []UserMatch          `json:"UserMatches"`
	FaceModelVersion *string              `json:"FaceModelVersion,omitempty"`
	SearchedFace     *SearchedFaceDetails `json:"SearchedFace,omitempty"`
	UnsearchedFaces  []UnsearchedFace     `json:"UnsearchedFaces"`
}

// DetectFacesInput is the request of Rekognition's DetectFaces.
type DetectFacesInput struct {
	Image      *Image      `json:"Image"`
	Attributes []Attribute `json:"Attributes,omitempty"`
}

// DetectFacesOutput is the answer of Rekognition's DetectFaces.
type DetectFacesOutput struct {
	FaceDetails           []FaceDetail `json:"FaceDetails"`
	OrientationCorrection string       `json:"OrientationCorrection,omitempty"`
}

// ComparedFace is a face CompareFaces found in the target image.
type ComparedFace struct {
	BoundingBox *BoundingBox   `json:"BoundingBox,omitempty"`
	Confidence  *float32       `json:"Confidence,omitempty"`
	Landmarks   []Landmark     `json:"Landmarks,omitempty"`
	Pose        *Pose          `json:"Pose,omitempty"`
	Quality     *ImageQuality  `json:"Quality,omitempty"`
	Emotions    []Emotion      `json:"Emotions,omitempty"`
	Smile       *BoolAttribute `json:"Smile,omitempty"`
}

// ComparedSourceImageFace is the source face CompareFaces compared.
type ComparedSourceImageFace struct {
	BoundingBox *BoundingBox `json:"BoundingBox,omitempty"`
	Confidence  *float32     `json:"Confidence,omitempty"`
}

// CompareFacesMatch is a target face similar to the source face.
type CompareFacesMatch struct {
	Similarity *float32      `json:"Similarity,omitempty"`
	Face       *ComparedFace `json:"Face,omitempty"`
}

// CompareFacesInput is the request of Rekognition's CompareFaces.
type CompareFacesInput struct {
	SourceImage         *Image        `json:"SourceImage"`
	TargetImage         *Image        `json:"TargetImage"`
	SimilarityThreshold *float32      `json:"SimilarityThreshold,omitempty"`
	QualityFilter       QualityFilter `json:"QualityFilter,omitempty"`
}

// CompareFacesOutput is the answer of Rekognition's CompareFaces.
type CompareFacesOutput struct {
	SourceImageFace                  *ComparedSourceImageFace `json:"SourceImageFace,omitempty"`
	FaceMatches                      []CompareFacesMatch      `json:"FaceMatches"`
	UnmatchedFaces                   []ComparedFace           `json:"UnmatchedFaces"`
	SourceImageOrientationCorrection string                   `json:"SourceImageOrientationCorrection,omitempty"`
	TargetImageOrientationCorrection string                   `json:"TargetImageOrientationCorrection,omitempty"`
}

// TagResourceInput is the request of Rekognition's TagResource.
type TagResourceInput struct {
	ResourceArn *string           `json:"ResourceArn"`
	Tags        map[string]string `json:"Tags"`
}

// TagResourceOutput is the answer of Rekognition's TagResource (empty).
type TagResourceOutput struct{}

// UntagResourceInput is the request of Rekognition's UntagResource.
type UntagResourceInput struct {
	ResourceArn *string  `json:"ResourceArn"`
	TagKeys     []string `json:"TagKeys"`
}

// UntagResourceOutput is the answer of Rekognition's UntagResource (empty).
type UntagResourceOutput struct{}

// ListTagsForResourceInput is the request of Rekognition's ListTagsForResource.
type ListTagsForResourceInput struct {
	ResourceArn *string `json:"ResourceArn"`
}

// ListTagsForResourceOutput is the answer of Rekognition's ListTagsForResource.
type ListTagsForResourceOutput struct {
	Tags map[string]string `json:"Tags"`
}
