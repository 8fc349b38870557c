package face

// BoundingBox is Rekognition's box: fractions of the image width and height, origin at the
// top left of the image after EXIF orientation correction. Values can be slightly outside
// 0..1 when a face is cut by the image border, as Rekognition's can.
type BoundingBox struct {
	Width, Height, Left, Top float32
}

// LandmarkType names a landmark the way Rekognition does.
type LandmarkType string

// The landmarks reported for every face, in Rekognition's names.
const (
	LandmarkEyeLeft    LandmarkType = "eyeLeft"
	LandmarkEyeRight   LandmarkType = "eyeRight"
	LandmarkNose       LandmarkType = "nose"
	LandmarkMouthLeft  LandmarkType = "mouthLeft"
	LandmarkMouthRight LandmarkType = "mouthRight"
)

// Landmark is a point in image fractions (X of the width, Y of the height).
type Landmark struct {
	Type LandmarkType
	X, Y float32
}

// Pose is the head rotation in degrees, estimated from the five landmarks (approximate:
// good enough to refuse profiles, not a head-pose model).
type Pose struct {
	Roll, Yaw, Pitch float32
}

// ImageQuality is Rekognition's Brightness and Sharpness, each 0..100.
type ImageQuality struct {
	Brightness, Sharpness float32
}

// FaceDetail is what Rekognition reports for each detected face: the DEFAULT attributes,
// and the others asked for (Attributes) when the pack measures them.
type FaceDetail struct {
	BoundingBox BoundingBox
	Confidence  float32 // 0..100
	Landmarks   []Landmark
	Pose        Pose
	Quality     ImageQuality
	// EyesOpen and MouthOpen are nil unless asked for and measured (Engine.Attributes).
	EyesOpen, MouthOpen *BoolAttribute
}

// Face is a detected face with its embedding (L2-normalised, Engine.Dimension() values).
type Face struct {
	Detail    FaceDetail
	Embedding []float32
}

// Reason is why a face was not indexed or not searched (Rekognition's enum values).
type Reason string

// The reasons, Rekognition's Reasons values, that IndexImage and SearchImage report.
const (
	ReasonExceedsMaxFaces  Reason = "EXCEEDS_MAX_FACES"
	ReasonExtremePose      Reason = "EXTREME_POSE"
	ReasonLowBrightness    Reason = "LOW_BRIGHTNESS"
	ReasonLowSharpness     Reason = "LOW_SHARPNESS"
	ReasonLowConfidence    Reason = "LOW_CONFIDENCE"
	ReasonSmallBoundingBox Reason = "SMALL_BOUNDING_BOX"
	ReasonLowFaceQuality   Reason = "LOW_FACE_QUALITY"
	ReasonFaceNotLargest   Reason = "FACE_NOT_LARGEST"
	// ReasonFaceNotChosen is not Rekognition's: the caller chose another face to search
	// (SearchOptions.FaceIndex), which only the web console does; the endpoint never answers it.
	ReasonFaceNotChosen Reason = "FACE_NOT_CHOSEN"
)

// UnindexedFace is a detected face that was not embedded, with the reasons.
type UnindexedFace struct {
	Detail  FaceDetail
	Reasons []Reason
}

// QualityFilter is Rekognition's QualityFilter. The empty value means the operation's
// default (AUTO for IndexImage, NONE for SearchImage).
type QualityFilter string

// The quality filters, from NONE (filter nothing) to HIGH (the strictest).
const (
	QualityNone   QualityFilter = "NONE"
	QualityAuto   QualityFilter = "AUTO"
	QualityLow    QualityFilter = "LOW"
	QualityMedium QualityFilter = "MEDIUM"
	QualityHigh   QualityFilter = "HIGH"
)

// OrientationCorrection is Rekognition's value: the rotation the engine applied from the
// JPEG's EXIF orientation before detection ("" when the image carries none, e.g. PNG).
type OrientationCorrection string

// The orientation corrections, one per EXIF rotation.
const (
	Rotate0   OrientationCorrection = "ROTATE_0"
	Rotate90  OrientationCorrection = "ROTATE_90"
	Rotate180 OrientationCorrection = "ROTATE_180"
	Rotate270 OrientationCorrection = "ROTATE_270"
)

const (
	// MaxImageBytes is Rekognition's limit for an image passed as bytes.
	MaxImageBytes = 5 << 20
	// MaxStorageImageBytes is Rekognition's limit for an image read from object storage.
	MaxStorageImageBytes = 15 << 20
	// MinImageSide is the smallest accepted width and height in pixels.
	MinImageSide = 80
	// DefaultMaxPixels caps width*height, checked from the header before decoding.
	// Rekognition publishes no pixel limit, only its byte limits; 50 Mpx is the full
	// resolution of today's 48 and 50 Mpx phone sensors (8160x6120 is 49.9 Mpx) and of
	// 45 Mpx cameras, and refuses only 61 Mpx and larger, whose files rarely fit in
	// MaxStorageImageBytes anyway. What an image costs to decode is bounded separately
	// (MaxDecodeBytes), since it depends on the format as much as on the pixels.
	DefaultMaxPixels = 50_000_000
	// DefaultMaxDecodeBytes bounds the memory one image may take to decode when no engine
	// budget says otherwise: the decode share of the default budget (DecodeBudget).
	DefaultMaxDecodeBytes = DefaultDecodeBudgetBytes - DefaultDecodeBudgetBytes/8
	// MaxIndexFaces is the most faces IndexImage embeds from one image.
	MaxIndexFaces = 100
	// MaxDetectFaces is the most faces DetectImage reports: Rekognition's DetectFaces gives
	// the 100 largest.
	MaxDetectFaces = 100
)

// ImageLimits bound what an image may be. Zero fields take the defaults above.
type ImageLimits struct {
	MaxBytes  int // default MaxImageBytes; use MaxStorageImageBytes for images from storage
	MaxPixels int // default DefaultMaxPixels
	// MaxDecodeBytes bounds the memory decoding the image takes, estimated from its header
	// (format, components, progressive or interlaced, depth) before decoding. An engine
	// caps it at its DecodeBudget's decode share; default DefaultMaxDecodeBytes.
	MaxDecodeBytes int64
}

func (l ImageLimits) withDefaults() ImageLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = MaxImageBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxDecodeBytes <= 0 {
		l.MaxDecodeBytes = DefaultMaxDecodeBytes
	}
	return l
}

// IndexOptions are IndexFaces' parameters that concern the image.
type IndexOptions struct {
	ImageLimits
	MaxFaces      int           // 1..100; 0 means 100 (Rekognition indexes at most 100)
	QualityFilter QualityFilter // default AUTO
	// Attributes are measured for every face reported, indexed or not.
	Attributes Attributes
}

// DetectOptions are DetectFaces' parameters.
type DetectOptions struct {
	ImageLimits
	Attributes Attributes
}

// DetectResult is DetectImage's answer: up to MaxDetectFaces faces, largest first.
type DetectResult struct {
	Faces                 []FaceDetail
	OrientationCorrection OrientationCorrection
	ImageWidth            int
	ImageHeight           int
}

// SearchOptions are SearchFacesByImage/SearchUsersByImage's parameters that concern the image.
type SearchOptions struct {
	ImageLimits
	QualityFilter QualityFilter // default NONE
	// FaceIndex picks the face searched, in the largest-first order DetectImage reports:
	// 0 (the default) is the largest, as Rekognition searches; the console searches the face
	// a person clicked. The others are Unsearched with FACE_NOT_CHOSEN instead of
	// FACE_NOT_LARGEST when it is not 0. Past the faces found, or at 100 and beyond (the
	// faces Rekognition reports), it is InvalidParameter.
	FaceIndex int
}

// IndexResult is IndexImage's answer: Faces largest first.
type IndexResult struct {
	Faces                 []Face
	Unindexed             []UnindexedFace
	OrientationCorrection OrientationCorrection
	ImageWidth            int // after orientation correction
	ImageHeight           int
}

// SearchResult is SearchImage's answer. Face is the largest face, embedded, or nil when the
// image has no face or the largest face was refused by the QualityFilter (it is then in
// Unsearched with its reasons).
type SearchResult struct {
	Face                  *Face
	Unsearched            []UnindexedFace
	OrientationCorrection OrientationCorrection
	ImageWidth            int
	ImageHeight           int
}
