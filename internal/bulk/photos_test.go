package bulk

import (
	"fmt"
	"strings"
	"testing"
)

func TestPhotoOf(t *testing.T) {
	testCases := []struct {
		name, prefix, key string
		users             bool
		want              Photo
		ok, ignored       bool
	}{
		{name: "a user's photo", prefix: "in/", key: "in/alice/1.jpg", users: true,
			want: Photo{Key: "in/alice/1.jpg", UserID: "alice", ExternalImageID: "alice:1.jpg"}, ok: true},
		{name: "extensions in any case", prefix: "in/", key: "in/bob/b.WebP", users: true,
			want: Photo{Key: "in/bob/b.WebP", UserID: "bob", ExternalImageID: "bob:b.WebP"}, ok: true},
		{name: "no prefix", key: "alice/x.png", users: true,
			want: Photo{Key: "alice/x.png", UserID: "alice", ExternalImageID: "alice:x.png"}, ok: true},
		{name: "names outside the pattern", prefix: "in/", key: "in/Bob Smith/holiday (2).jpeg", users: true,
			want: Photo{Key: "in/Bob Smith/holiday (2).jpeg", UserID: "Bob Smith", ExternalImageID: "Bob_Smith:holiday__2_.jpeg"}, ok: true},
		{name: "not a photo", prefix: "in/", key: "in/alice/notes.txt", users: true},
		{name: "a hidden file", prefix: "in/", key: "in/alice/.x.jpg", users: true},
		{name: "a folder marker", prefix: "in/", key: "in/alice/", users: true},
		{name: "directly under the prefix", prefix: "in/", key: "in/stray.jpg", users: true, ignored: true},
		{name: "deeper than a user's folder", prefix: "in/", key: "in/carol/sub/deep.jpg", users: true, ignored: true},
		{name: "a hidden folder", prefix: "in/", key: "in/.git/x.jpg", users: true, ignored: true},
		{name: "without users, directly under the prefix", prefix: "in/", key: "in/stray.jpg",
			want: Photo{Key: "in/stray.jpg", ExternalImageID: "stray.jpg"}, ok: true},
		{name: "without users, at any depth", prefix: "in/", key: "in/a/b/c.jpg",
			want: Photo{Key: "in/a/b/c.jpg", ExternalImageID: "a:b:c.jpg"}, ok: true},
		{name: "outside the prefix", prefix: "in/", key: "out/alice/1.jpg", users: true},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, ignored := photoOf(tc.prefix, tc.key, tc.users)
			if got != tc.want || ok != tc.ok || ignored != tc.ignored {
				t.Errorf("photoOf(%q, %q, %t) = %+v, %t, %t; want %+v, %t, %t", tc.prefix, tc.key, tc.users, got, ok, ignored, tc.want, tc.ok, tc.ignored)
			}
		})
	}
}

func TestExternalIDOf(t *testing.T) {
	testCases := []struct{ rel, want string }{
		{"alice/1.jpg", "alice:1.jpg"},
		{"zoë/a.png", "zo__:a.png"},
		{strings.Repeat("d/", 200) + "x.jpg", strings.Repeat("d:", 200)[400-250:] + "x.jpg"},
	}
	for _, tc := range testCases {
		if got := ExternalIDOf(tc.rel); got != tc.want {
			t.Errorf("ExternalIDOf(%q) = %q, want %q", tc.rel, got, tc.want)
		}
	}
}

// TestWorkerOf: every key has one worker, the same every time, and keys spread evenly.
func TestWorkerOf(t *testing.T) {
	testCases := []struct {
		workers int
		// slack is the largest share a worker may hold above an even share, of 10,000 keys.
		slack float64
	}{
		{workers: 0}, {workers: 1}, {workers: 2, slack: 0.03}, {workers: 3, slack: 0.05}, {workers: 16, slack: 0.15},
	}
	for _, tc := range testCases {
		t.Run(fmt.Sprint(tc.workers, " workers"), func(t *testing.T) {
			counts := map[int]int{}
			const n = 10000
			for i := range n {
				key := fmt.Sprintf("user-%d/photo-%d.jpg", i/37, i)
				w := WorkerOf(key, tc.workers)
				if w != WorkerOf(key, tc.workers) || w < 0 || w >= max(tc.workers, 1) {
					t.Fatalf("WorkerOf(%q, %d) = %d", key, tc.workers, w)
				}
				counts[w]++
			}
			even := float64(n) / float64(max(tc.workers, 1))
			for w, c := range counts {
				if float64(c) > even*(1+tc.slack) {
					t.Errorf("worker %d holds %d keys of %d, an even share is %.0f", w, c, n, even)
				}
			}
			if len(counts) != max(tc.workers, 1) {
				t.Errorf("%d workers got keys, want %d", len(counts), max(tc.workers, 1))
			}
		})
	}
}

func TestOptions(t *testing.T) {
	valid := Options{Collection: "people", Job: "enrol-2026", Workers: 2, Worker: 1}
	valid.Storage.Bucket = "faces"
	testCases := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{name: "valid", change: func(*Options) {}},
		{name: "no collection", change: func(o *Options) { o.Collection = "" }, wantErr: "no collection"},
		{name: "upper-case job", change: func(o *Options) { o.Job = "Enrol" }, wantErr: "job name"},
		{name: "no job", change: func(o *Options) { o.Job = "" }, wantErr: "job name"},
		{name: "worker past the workers", change: func(o *Options) { o.Worker = 2 }, wantErr: "worker 2 of 2"},
		{name: "no workers", change: func(o *Options) { o.Workers = 0; o.Worker = 0 }, wantErr: "worker 0 of 0"},
		{name: "a prefix that is no folder", change: func(o *Options) { o.SourcePrefix = "photos" }, wantErr: "ends with /"},
		{name: "batch too large", change: func(o *Options) { o.BatchSize = MaxBatchSize + 1 }, wantErr: "batch size"},
		{name: "threshold above 100", change: func(o *Options) { v := float32(101); o.UserMatchThreshold = &v }, wantErr: "threshold"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			got, err := o.withDefaults()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			case err == nil && (got.SourceBucket != "faces" || got.BatchSize != DefaultBatchSize || got.Parallel < 1 || *got.UserMatchThreshold != 75):
				t.Fatalf("defaults not filled in: %+v", got)
			}
		})
	}
}
