package store

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
)

func TestPlanSpans(t *testing.T) {
	const dim = 4 // 16 bytes a vector
	logObj := vecObject{key: "log/1", base: 100, stride: 16}
	segObj := segmentObject("seg-00000", dim, 0, 1) // 32 bytes an entry, the id first
	far := uint32(rangeGap/16 + 2)
	for _, tc := range []struct {
		name  string
		reads []vecRead
		// want is each span as [start, end) and the positions it serves.
		want []string
	}{
		{"one vector of a commit", []vecRead{{obj: logObj, pos: 2}}, []string{"log/1 [132,148) 2"}},
		{"neighbours share a read", []vecRead{{obj: logObj, pos: 3}, {obj: logObj, pos: 0}}, []string{"log/1 [100,164) 0 3"}},
		{"far apart: two reads", []vecRead{{obj: logObj, pos: 0}, {obj: logObj, pos: far}}, []string{
			"log/1 [100,116) 0", fmt.Sprintf("log/1 [%d,%d) %d", 100+16*int(far), 116+16*int(far), far)}},
		{"a segment's read starts at the FaceId", []vecRead{{obj: segObj, pos: 1}}, []string{"seg-00000 [44,76) 1"}},
		{"objects apart", []vecRead{{obj: segObj, pos: 0}, {obj: logObj, pos: 0}}, []string{"log/1 [100,116) 0", "seg-00000 [12,44) 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := planSpans(dim, tc.reads)
			var got []string
			for _, sp := range spans {
				s := fmt.Sprintf("%s [%d,%d)", sp.key, sp.start, sp.end)
				for _, r := range sp.reads {
					s += fmt.Sprintf(" %d", r.pos)
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("spans %q, want %q", got, tc.want)
			}
		})
	}
	// A long run is cut at maxRangeBytes.
	var reads []vecRead
	for i := 0; i < 2*maxRangeBytes/16; i++ {
		reads = append(reads, vecRead{obj: logObj, pos: uint32(i)})
	}
	for _, sp := range planSpans(dim, reads) {
		if sp.end-sp.start > maxRangeBytes {
			t.Fatalf("a read of %d bytes", sp.end-sp.start)
		}
	}
}

// TestStateBookkeeping adds and removes faces and checks what the state keeps: strings
// interned and released, vector objects counted and forgotten, images' chains.
func TestStateBookkeeping(t *testing.T) {
	st := newState(dimForTest, 0)
	img := uuid.NewString()
	rec := func(ext string) FaceRecord {
		return FaceRecord{FaceID: uuid.NewString(), ImageID: img, ExternalImageID: ext, IndexFacesModelVersion: "m-1",
			BoundingBox: BoundingBox{Width: 0.5, Height: 0.5}}
	}
	a, b, c := rec("x"), rec("x"), rec("y")
	mustApply(t, st, &entry{Added: []FaceRecord{a, b}, CreateUser: "u"})
	mustApply(t, st, &entry{Added: []FaceRecord{c}})
	if got := len(st.objs.objs) - len(st.objs.free); got != 2 {
		t.Fatalf("%d vector objects, want 2", got)
	}
	// Strings: "", the model, x, y.
	if n := len(st.strs.idx); n != 3 {
		t.Fatalf("%d strings interned, want 3", n)
	}
	for _, tc := range []struct {
		face NewFace
		want string
	}{
		{NewFace{ImageID: img, ExternalImageID: "x", BoundingBox: BoundingBox{Width: 0.5, Height: 0.5}}, b.FaceID}, // the latest of equals
		{NewFace{ImageID: img, ExternalImageID: "y", BoundingBox: BoundingBox{Width: 0.5, Height: 0.5}}, c.FaceID},
		{NewFace{ImageID: img, ExternalImageID: "z", BoundingBox: BoundingBox{Width: 0.5, Height: 0.5}}, ""},
		{NewFace{ImageID: img, ExternalImageID: "x", BoundingBox: BoundingBox{Left: 0.6, Width: 0.4, Height: 0.5}}, ""},
	} {
		slot, ok := st.sameFace(tc.face, nil)
		got := ""
		if ok {
			got = st.record(slot).FaceID
		}
		if got != tc.want {
			t.Fatalf("sameFace(%+v) = %q, want %q", tc.face, got, tc.want)
		}
	}
	mustApply(t, st, &entry{AssocUser: "u", Associate: []string{a.FaceID}})
	if r := st.record(st.faces[uuid.MustParse(a.FaceID)]); r != (FaceRecord{FaceID: a.FaceID, UserID: "u", ImageID: img, ExternalImageID: "x",
		IndexFacesModelVersion: "m-1", BoundingBox: a.BoundingBox}) {
		t.Fatalf("record %+v", r)
	}
	mustApply(t, st, &entry{Deleted: []string{b.FaceID, c.FaceID}})
	if slot, ok := st.sameFace(NewFace{ImageID: img, ExternalImageID: "x", BoundingBox: BoundingBox{Width: 0.5, Height: 0.5}}, nil); !ok || st.record(slot).FaceID != a.FaceID {
		t.Fatal("after b went, a is the face of its image")
	}
	// c's object and "y" are forgotten; the user's ID is interned while a face names it.
	if got := len(st.objs.objs) - len(st.objs.free); got != 1 {
		t.Fatalf("%d vector objects, want 1", got)
	}
	if _, ok := st.strs.idx["y"]; ok || st.strs.idx["u"] == 0 {
		t.Fatalf("strings %v", st.strs.idx)
	}
	mustApply(t, st, &entry{DeleteUser: "u"})
	mustApply(t, st, &entry{Deleted: []string{a.FaceID}})
	if len(st.strs.idx) != 0 || len(st.faces) != 0 || len(st.byImage) != 0 || len(st.objs.objs) != len(st.objs.free) {
		t.Fatalf("an empty state keeps strings %v, %d faces, %d images, objects %d/%d free",
			st.strs.idx, len(st.faces), len(st.byImage), len(st.objs.free), len(st.objs.objs))
	}
	// A face of another spelling of its UUID is another FaceId, as before.
	if _, ok := st.face("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"); ok {
		t.Fatal("an upper-case FaceId found a face")
	}
}
