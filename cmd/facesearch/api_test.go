package main

import (
	"fmt"
	"testing"
)

func TestParseImageSources(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "[]",
		"uploads":                       "[{uploads }]",
		"uploads/, /enrol/":             "[{uploads } { enrol/}]",
		"cams/door/front/,faces/enrol/": "[{cams door/front/} {faces enrol/}]",
	} {
		got, err := parseImageSources(in)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("%q: got %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"/", "ab/x/", "uploads/enrol", "/enrol"} {
		if got, err := parseImageSources(bad); err == nil {
			t.Errorf("%q: got %v, want an error", bad, got)
		}
	}
}
