package store

import (
	"net/url"
	"testing"
)

// TestIsCommitEvent: only the log's commits and the manifest of the watched collection
// announce anything, whether MinIO escapes the key or not.
func TestIsCommitEvent(t *testing.T) {
	s := New(nil, "b", "tenant-a", Options{})
	coll := s.collPrefix("c")
	log := s.logKey("c", "inc", 7)
	cases := map[string]bool{
		log:                      true,
		url.QueryEscape(log):     true,
		s.manifestKey("c"):       true,
		s.manifestKey("cc"):      false,
		s.logKey("cc", "inc", 7): false,
		s.snapPrefix("c", "inc") + "00000000000000000007.json":         false,
		s.snapPrefix("c", "inc") + "00000000000000000007-u/seg-0":      false,
		s.snapPrefix("c", "inc") + "00000000000000000007-u/users.json": false,
		s.logPrefix("c", "inc") + "not-a-generation":                   false,
	}
	for key, want := range cases {
		if got := isCommitEvent(coll, key); got != want {
			t.Errorf("isCommitEvent(%q) = %v, want %v", key, got, want)
		}
	}
}
