package rekognition

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits and defaults of the Rekognition service model (2016-06-27).
const (
	MaxImageBytes                              = 5 * 1024 * 1024 // ImageBlob limit 5242880
	maxFaceIDList                              = 4096            // FaceIdList 1-4096
	maxUserFaceIDList                          = 100             // UserFaceIdList 1-100
	maxPageSize                                = 4096            // PageSize 0-4096
	maxUserResults                             = 500             // MaxUserResults 1-500
	maxFaces                                   = 4096            // MaxFaces 1-4096
	maxPaginationToken                         = 255             // PaginationToken limit 255
	maxTags                                    = 200             // TagMap 0-200, TagKeyList 0-200
	maxCollectionID                            = 255             // CollectionId 1-255
	DefaultFaceMatchThreshold          float32 = 80
	DefaultSearchUserMatchThreshold    float32 = 80
	DefaultAssociateUserMatchThreshold float32 = 75
	DefaultSimilarityThreshold         float32 = 80 // CompareFaces
)

// MaxTagsPerCollection is how many tags one collection may have: AWS's limit of user tags
// per resource. The model lets a request carry 200; past 50 on the collection, TagResource
// and CreateCollection answer ServiceQuotaExceededException.
const MaxTagsPerCollection = 50

var (
	reCollectionID       = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)
	reExternalImageID    = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]+$`)
	reUserID             = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]+$`)
	reFaceID             = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reClientRequestToken = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
	reS3Bucket           = regexp.MustCompile(`^[0-9A-Za-z\.\-_]*$`)
	reTagKey             = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	reTagValue           = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// validator collects constraint violations and reports them the way AWS
// does: "N validation error(s) detected: Value 'x' at 'member' failed to
// satisfy constraint: ...".
type validator struct{ msgs []string }

func (v *validator) add(value any, member, constraint string) {
	var vs string
	switch x := value.(type) {
	case nil:
		vs = "null"
	case string:
		if len(x) > 64 {
			x = x[:64] + "..."
		}
		vs = "'" + x + "'"
	default:
		vs = fmt.Sprintf("'%v'", x)
	}
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", vs, member, constraint))
}

func (v *validator) addf(format string, args ...any) {
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	if len(v.msgs) == 0 {
		return nil
	}
	s := "s"
	if len(v.msgs) == 1 {
		s = ""
	}
	return ErrInvalidParameter(fmt.Sprintf("%d validation error%s detected: %s", len(v.msgs), s, strings.Join(v.msgs, "; ")))
}

func (v *validator) required(p *string, member string) bool {
	if p == nil {
		v.add(nil, member, "Member must not be null")
		return false
	}
	return true
}

func (v *validator) str(p *string, member string, least, limit int, re *regexp.Regexp, required bool) {
	if p == nil {
		if required {
			v.add(nil, member, "Member must not be null")
		}
		return
	}
	n := utf8.RuneCountInString(*p)
	switch {
	case n < least:
		v.add(*p, member, fmt.Sprintf("Member must have length greater than or equal to %d", least))
	case limit > 0 && n > limit:
		v.add(*p, member, fmt.Sprintf("Member must have length less than or equal to %d", limit))
	case re != nil && !re.MatchString(*p):
		v.add(*p, member, "Member must satisfy regular expression pattern: "+strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$"))
	}
}

func (v *validator) intRange(p *int32, member string, least, limit int32) {
	if p == nil {
		return
	}
	if *p < least {
		v.add(*p, member, fmt.Sprintf("Member must have value greater than or equal to %d", least))
	} else if limit > 0 && *p > limit {
		v.add(*p, member, fmt.Sprintf("Member must have value less than or equal to %d", limit))
	}
}

func (v *validator) percent(p *float32, member string) {
	if p == nil {
		return
	}
	if !(*p >= 0) { // also catches NaN
		v.add(*p, member, "Member must have value greater than or equal to 0")
	} else if *p > 100 {
		v.add(*p, member, "Member must have value less than or equal to 100")
	}
}

func (v *validator) faceIDs(ids []string, limit int, required bool) {
	const member = "faceIds"
	if ids == nil {
		if required {
			v.add(nil, member, "Member must not be null")
		}
		return
	}
	if len(ids) < 1 {
		v.add("[]", member, "Member must have length greater than or equal to 1")
		return
	}
	if len(ids) > limit {
		v.add(fmt.Sprintf("[%d items]", len(ids)), member, fmt.Sprintf("Member must have length less than or equal to %d", limit))
		return
	}
	for i := range ids {
		if !reFaceID.MatchString(ids[i]) {
			v.add(ids[i], fmt.Sprintf("%s.%d.member", member, i+1), "Member must satisfy regular expression pattern: "+strings.Trim(reFaceID.String(), "^$"))
		}
	}
}

func (v *validator) qualityFilter(q *QualityFilter, def QualityFilter) {
	const member = "qualityFilter"
	switch *q {
	case "":
		*q = def
	case QualityFilterNone, QualityFilterAuto, QualityFilterLow, QualityFilterMedium, QualityFilterHigh:
	default:
		v.add(string(*q), member, "Member must satisfy enum value set: [NONE, AUTO, LOW, MEDIUM, HIGH]")
	}
}

func (v *validator) image(img *Image, member string) {
	if img == nil {
		v.add(nil, member, "Member must not be null")
		return
	}
	switch {
	case img.Bytes != nil && img.S3Object != nil:
		v.addf("Only one of %s.bytes and %s.s3Object may be given", member, member)
	case img.S3Object != nil:
		o := img.S3Object
		v.str(o.Bucket, member+".s3Object.bucket", 3, 255, reS3Bucket, true)
		v.str(o.Name, member+".s3Object.name", 1, 1024, nil, true)
		v.str(o.Version, member+".s3Object.version", 1, 1024, nil, false)
	case len(img.Bytes) == 0:
		v.addf("%s must have bytes or s3Object", member)
	}
}

func (v *validator) attributes(as []Attribute, member string) {
	for i, a := range as {
		switch a {
		case AttributeDefault, AttributeAll, AttributeAgeRange, AttributeBeard, AttributeEmotions,
			AttributeEyeDirection, AttributeEyeglasses, AttributeEyesOpen, AttributeGender,
			AttributeMouthOpen, AttributeMustache, AttributeFaceOccluded, AttributeSmile, AttributeSunglasses:
		default:
			v.add(string(a), fmt.Sprintf("%s.%d.member", member, i+1),
				"Member must satisfy enum value set: [DEFAULT, ALL, AGE_RANGE, BEARD, EMOTIONS, EYE_DIRECTION, EYEGLASSES, EYES_OPEN, GENDER, MOUTH_OPEN, MUSTACHE, FACE_OCCLUDED, SMILE, SUNGLASSES]")
		}
	}
}

func (v *validator) pagination(p *string, member string) {
	if p != nil && len(*p) > maxPaginationToken {
		v.add(*p, member, fmt.Sprintf("Member must have length less than or equal to %d", maxPaginationToken))
	}
}

func (v *validator) collection(p *string) {
	v.str(p, "collectionId", 1, maxCollectionID, reCollectionID, true)
}
func (v *validator) user(p *string, required bool) {
	v.str(p, "userId", 1, 128, reUserID, required)
}
func (v *validator) token(p *string) {
	v.str(p, "clientRequestToken", 1, 64, reClientRequestToken, false)
}

// tags checks a TagMap: 0-200 entries, keys 1-128 characters of
// ^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$, values 0-256 of the same characters.
func (v *validator) tags(tags map[string]string, required bool) {
	if tags == nil {
		if required {
			v.add(nil, "tags", "Member must not be null")
		}
		return
	}
	if len(tags) > maxTags {
		v.add(fmt.Sprintf("[%d tags]", len(tags)), "tags", fmt.Sprintf("Member must have length less than or equal to %d", maxTags))
	}
	for k, val := range tags {
		v.tagKey(k, "tags.key")
		if utf8.RuneCountInString(val) > 256 {
			v.add(val, "tags.value", "Member must have length less than or equal to 256")
		} else if !reTagValue.MatchString(val) {
			v.add(val, "tags.value", `Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
		}
	}
}

func (v *validator) tagKey(k, member string) {
	switch n := utf8.RuneCountInString(k); {
	case n < 1 || n > 128:
		v.add(k, member, "Member must have length between 1 and 128")
	case strings.HasPrefix(k, "aws:") || !reTagKey.MatchString(k):
		v.add(k, member, `Member must satisfy regular expression pattern: ^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	}
}

// resourceARN checks a ResourceArn: 20-2048 characters.
func (v *validator) resourceARN(p *string) { v.str(p, "resourceArn", 20, 2048, nil, true) }

func ptr[T any](x T) *T { return &x }

// imageTooLarge is checked separately: Rekognition answers it with its own
// error type, not InvalidParameterException.
func imageTooLarge(img *Image) error {
	if img != nil && len(img.Bytes) > MaxImageBytes {
		return ErrImageTooLarge(fmt.Sprintf("Image size is %d bytes, more than the %d bytes allowed", len(img.Bytes), MaxImageBytes))
	}
	return nil
}

// The Validate methods check every member against the service model and fill
// in the documented defaults. They return an *Error of type
// InvalidParameterException (or ImageTooLargeException).

// Validate checks a CreateCollectionInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *CreateCollectionInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.tags(in.Tags, false)
	return v.err()
}

// Validate checks a DescribeCollectionInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *DescribeCollectionInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	return v.err()
}

// Validate checks a DeleteCollectionInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *DeleteCollectionInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	return v.err()
}

// Validate checks a ListCollectionsInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *ListCollectionsInput) Validate() error {
	var v validator
	v.pagination(in.NextToken, "nextToken")
	v.intRange(in.MaxResults, "maxResults", 0, maxPageSize)
	return v.err()
}

// Validate checks a IndexFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *IndexFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.image(in.Image, "image")
	v.str(in.ExternalImageId, "externalImageId", 1, 255, reExternalImageID, false)
	v.attributes(in.DetectionAttributes, "detectionAttributes")
	v.intRange(in.MaxFaces, "maxFaces", 1, 0)
	v.qualityFilter(&in.QualityFilter, QualityFilterAuto)
	if err := v.err(); err != nil {
		return err
	}
	return imageTooLarge(in.Image)
}

// Validate checks a ListFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *ListFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.pagination(in.NextToken, "nextToken")
	v.intRange(in.MaxResults, "maxResults", 0, maxPageSize)
	v.user(in.UserId, false)
	v.faceIDs(in.FaceIds, maxFaceIDList, false)
	return v.err()
}

// Validate checks a DeleteFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *DeleteFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.faceIDs(in.FaceIds, maxFaceIDList, true)
	return v.err()
}

// Validate checks a CreateUserInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *CreateUserInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.user(in.UserId, true)
	v.token(in.ClientRequestToken)
	return v.err()
}

// Validate checks a DeleteUserInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *DeleteUserInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.user(in.UserId, true)
	v.token(in.ClientRequestToken)
	return v.err()
}

// Validate checks a ListUsersInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *ListUsersInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.intRange(in.MaxResults, "maxResults", 1, maxUserResults)
	v.pagination(in.NextToken, "nextToken")
	return v.err()
}

// Validate checks a AssociateFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *AssociateFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.user(in.UserId, true)
	v.faceIDs(in.FaceIds, maxUserFaceIDList, true)
	v.percent(in.UserMatchThreshold, "userMatchThreshold")
	v.token(in.ClientRequestToken)
	if in.UserMatchThreshold == nil {
		in.UserMatchThreshold = ptr(DefaultAssociateUserMatchThreshold)
	}
	return v.err()
}

// Validate checks a DisassociateFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *DisassociateFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.user(in.UserId, true)
	v.faceIDs(in.FaceIds, maxUserFaceIDList, true)
	v.token(in.ClientRequestToken)
	return v.err()
}

// Validate checks a SearchFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *SearchFacesInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	if v.required(in.FaceId, "faceId") && !reFaceID.MatchString(*in.FaceId) {
		v.add(*in.FaceId, "faceId", "Member must satisfy regular expression pattern: "+strings.Trim(reFaceID.String(), "^$"))
	}
	v.intRange(in.MaxFaces, "maxFaces", 1, maxFaces)
	v.percent(in.FaceMatchThreshold, "faceMatchThreshold")
	if in.FaceMatchThreshold == nil {
		in.FaceMatchThreshold = ptr(DefaultFaceMatchThreshold)
	}
	return v.err()
}

// Validate checks a SearchFacesByImageInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *SearchFacesByImageInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.image(in.Image, "image")
	v.intRange(in.MaxFaces, "maxFaces", 1, maxFaces)
	v.percent(in.FaceMatchThreshold, "faceMatchThreshold")
	v.qualityFilter(&in.QualityFilter, QualityFilterNone)
	if in.FaceMatchThreshold == nil {
		in.FaceMatchThreshold = ptr(DefaultFaceMatchThreshold)
	}
	if err := v.err(); err != nil {
		return err
	}
	return imageTooLarge(in.Image)
}

// Validate checks a SearchUsersInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *SearchUsersInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.user(in.UserId, false)
	if in.FaceId != nil && !reFaceID.MatchString(*in.FaceId) {
		v.add(*in.FaceId, "faceId", "Member must satisfy regular expression pattern: "+strings.Trim(reFaceID.String(), "^$"))
	}
	switch {
	case in.UserId == nil && in.FaceId == nil:
		v.addf("One of userId or faceId must be given")
	case in.UserId != nil && in.FaceId != nil:
		v.addf("Only one of userId or faceId may be given")
	}
	v.percent(in.UserMatchThreshold, "userMatchThreshold")
	v.intRange(in.MaxUsers, "maxUsers", 1, maxUserResults)
	if in.UserMatchThreshold == nil {
		in.UserMatchThreshold = ptr(DefaultSearchUserMatchThreshold)
	}
	return v.err()
}

// Validate checks a SearchUsersByImageInput against Rekognition's constraints; a violation is an
// InvalidParameterException (or a SerializationException-like error) naming the member.
func (in *SearchUsersByImageInput) Validate() error {
	var v validator
	v.collection(in.CollectionId)
	v.image(in.Image, "image")
	v.percent(in.UserMatchThreshold, "userMatchThreshold")
	v.intRange(in.MaxUsers, "maxUsers", 1, maxUserResults)
	v.qualityFilter(&in.QualityFilter, QualityFilterNone)
	if in.UserMatchThreshold == nil {
		in.UserMatchThreshold = ptr(DefaultSearchUserMatchThreshold)
	}
	if err := v.err(); err != nil {
		return err
	}
	return imageTooLarge(in.Image)
}

// Validate checks a DetectFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException naming the member.
func (in *DetectFacesInput) Validate() error {
	var v validator
	v.image(in.Image, "image")
	v.attributes(in.Attributes, "attributes")
	if err := v.err(); err != nil {
		return err
	}
	return imageTooLarge(in.Image)
}

// Validate checks a CompareFacesInput against Rekognition's constraints; a violation is an
// InvalidParameterException naming the member.
func (in *CompareFacesInput) Validate() error {
	var v validator
	v.image(in.SourceImage, "sourceImage")
	v.image(in.TargetImage, "targetImage")
	v.percent(in.SimilarityThreshold, "similarityThreshold")
	v.qualityFilter(&in.QualityFilter, QualityFilterNone)
	if in.SimilarityThreshold == nil {
		in.SimilarityThreshold = ptr(DefaultSimilarityThreshold)
	}
	if err := v.err(); err != nil {
		return err
	}
	if err := imageTooLarge(in.SourceImage); err != nil {
		return err
	}
	return imageTooLarge(in.TargetImage)
}

// Validate checks a TagResourceInput against Rekognition's constraints.
func (in *TagResourceInput) Validate() error {
	var v validator
	v.resourceARN(in.ResourceArn)
	v.tags(in.Tags, true)
	return v.err()
}

// Validate checks an UntagResourceInput against Rekognition's constraints.
func (in *UntagResourceInput) Validate() error {
	var v validator
	v.resourceARN(in.ResourceArn)
	switch {
	case in.TagKeys == nil:
		v.add(nil, "tagKeys", "Member must not be null")
	case len(in.TagKeys) > maxTags:
		v.add(fmt.Sprintf("[%d items]", len(in.TagKeys)), "tagKeys", fmt.Sprintf("Member must have length less than or equal to %d", maxTags))
	default:
		for i, k := range in.TagKeys {
			v.tagKey(k, fmt.Sprintf("tagKeys.%d.member", i+1))
		}
	}
	return v.err()
}

// Validate checks a ListTagsForResourceInput against Rekognition's constraints.
func (in *ListTagsForResourceInput) Validate() error {
	var v validator
	v.resourceARN(in.ResourceArn)
	return v.err()
}
