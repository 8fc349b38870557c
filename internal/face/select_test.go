package face

import "testing"

// TestSelectIndexedQualityBeforeSize checks MaxFaces' order from Rekognition's
// documentation: the faces the quality filter refuses go first, then the smallest. The
// largest face here is blurred: with MaxFaces 2 and the filter on, the second and third
// largest are indexed and the fourth is EXCEEDS_MAX_FACES; with NONE the two largest.
func TestSelectIndexedQualityBeforeSize(t *testing.T) {
	good := func(side float32) analysed {
		return analysed{side: side, detail: FaceDetail{Confidence: 99.9, Quality: ImageQuality{Brightness: 60, Sharpness: 80}}}
	}
	blurred := good(400)
	blurred.detail.Quality.Sharpness = 1
	faces := []analysed{blurred, good(300), good(200), good(100)} // largest first, as run gives them

	index, unindexed := selectIndexed(faces, QualityAuto, 2, 0)
	if len(index) != 2 || index[0] != 1 || index[1] != 2 {
		t.Fatalf("AUTO, MaxFaces 2: indexed %v, want [1 2]", index)
	}
	if len(unindexed) != 2 || unindexed[0].Reasons[0] != ReasonLowSharpness ||
		len(unindexed[1].Reasons) != 1 || unindexed[1].Reasons[0] != ReasonExceedsMaxFaces {
		t.Fatalf("AUTO, MaxFaces 2: unindexed %+v", unindexed)
	}

	index, unindexed = selectIndexed(faces, QualityNone, 2, 0)
	if len(index) != 2 || index[0] != 0 || index[1] != 1 || len(unindexed) != 2 {
		t.Fatalf("NONE, MaxFaces 2: indexed %v, unindexed %d", index, len(unindexed))
	}
}
