package bulk

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProgressSkip(t *testing.T) {
	var p Progress
	for i := range MaxSkippedListed + 5 {
		p.skip(Skipped{Key: fmt.Sprint(i), Reason: "NO_FACE_DETECTED"}, i%2 == 0)
	}
	if p.NoFace+p.Failed != MaxSkippedListed+5 || p.NoFace != (MaxSkippedListed+6)/2 || len(p.Skipped) != MaxSkippedListed {
		t.Fatalf("no face %d, failed %d, named %d", p.NoFace, p.Failed, len(p.Skipped))
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	fin := t0.Add(time.Hour)
	testCases := []struct {
		name     string
		in       []Progress
		want     Summary
		complete bool
	}{
		{name: "none", in: nil, want: Summary{}},
		{
			name: "one running of two",
			in: []Progress{{Worker: 1, Workers: 2, Starts: 1, Listed: 10, Done: 4, Indexed: 3, NoFace: 1, Batches: 2, Ignored: 3,
				Started: t0, Updated: t0.Add(time.Minute), Skipped: []Skipped{{Key: "a/1.jpg", Reason: "NO_FACE_DETECTED"}}}},
			want: Summary{Workers: 2, Reported: 1, Listed: 10, Done: 4, Indexed: 3, NoFace: 1, Batches: 2, Ignored: 3,
				Started: t0, Updated: t0.Add(time.Minute), Skipped: []Skipped{{Key: "a/1.jpg", Reason: "NO_FACE_DETECTED"}}},
		},
		{
			name: "both finished, one restarted twice",
			in: []Progress{
				{Worker: 0, Workers: 2, Starts: 3, Listed: 10, Done: 10, Indexed: 8, Failed: 2, Batches: 5, Ignored: 3,
					Started: t0.Add(time.Second), Updated: fin, Finished: &fin, Skipped: []Skipped{{Key: "x"}, {Key: "y"}}},
				{Worker: 1, Workers: 2, Starts: 1, Listed: 12, Done: 12, Indexed: 12, Batches: 6, Ignored: 3,
					Started: t0, Updated: t0.Add(time.Minute), Finished: &fin},
			},
			want: Summary{Workers: 2, Reported: 2, Finished: 2, Listed: 22, Done: 22, Indexed: 20, Failed: 2, Batches: 11, Ignored: 3,
				Restarts: 2, Started: t0, Updated: fin, Skipped: []Skipped{{Key: "x"}, {Key: "y"}}},
			complete: true,
		},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Merge:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Complete() != tc.complete {
				t.Fatalf("Complete() = %t", got.Complete())
			}
		})
	}
}

func TestWriteStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	fin := t0.Add(time.Minute)
	ps := []Progress{
		{Job: "j", Worker: 0, Workers: 3, Starts: 2, Listed: 10, Done: 10, Indexed: 9, NoFace: 1, Started: t0, Updated: fin, Finished: &fin,
			Skipped: []Skipped{{Key: "in/a/blank.jpg", Reason: "NO_FACE_DETECTED", Message: "no face found"}}},
		{Job: "j", Worker: 2, Workers: 3, Starts: 1, Listed: 11, Done: 5, Indexed: 4, Failed: 1, Ignored: 2, Started: t0, Updated: t0.Add(30 * time.Second),
			Skipped: []Skipped{{Key: "in/b/x.jpg", Reason: "InvalidImageFormat", Message: "not an image"}}},
	}
	var out bytes.Buffer
	WriteStatus(&out, "j", ps, t0.Add(2*time.Minute), 1)
	want := `WORKER  LISTED  DONE  INDEXED  NO FACE  FAILED  STARTS  STATE            UPDATED
0       10      10    9        1        0       2       finished         1m0s ago
1       -       -     -        -        -       0       not started      -
2       11      5     4        0        1       1       running          1m30s ago
total   21      15    13       1        1       3       1 of 3 finished  1m0s ago

2 photo files were not in a user's folder (<prefix><UserId>/<photo>) and were left alone.

Skipped photos (1 named of 2):
KEY             REASON            MESSAGE
in/a/blank.jpg  NO_FACE_DETECTED  no face found
`
	if out.String() != want {
		t.Fatalf("status:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	WriteStatus(&out, "j", nil, t0, 10)
	if !strings.Contains(out.String(), "no progress recorded") {
		t.Fatalf("status of a job never started: %s", out.String())
	}
}
