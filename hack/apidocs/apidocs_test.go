package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReferenceIsFresh fails when docs/api-reference.md no longer matches the API types.
func TestReferenceIsFresh(t *testing.T) {
	pkg, err := Load("../../api/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pkg.Write(&b); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../docs/api-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), committed) {
		t.Error("docs/api-reference.md is stale: run go run ./hack/apidocs -out docs/api-reference.md and commit it")
	}
	for _, kind := range []string{"## Collection\n", "## User\n", "## SearchRequest\n", "## Condition reasons"} {
		if !strings.Contains(b.String(), kind) {
			t.Errorf("the reference lacks %q", kind)
		}
	}
}

func TestValidationMarkers(t *testing.T) {
	cases := []struct {
		marker string
		want   string
	}{
		{"+kubebuilder:validation:Enum=Retain;Delete", "one of `Retain`, `Delete`"},
		{"+kubebuilder:validation:Maximum=64", "Maximum 64"},
		{"+kubebuilder:validation:Pattern=`^[a-z]+$`", "pattern `^[a-z]+$`"},
		{"+kubebuilder:default=Retain", "default `Retain`"},
		{`+kubebuilder:validation:XValidation:rule="self == oldSelf",message="x is immutable"`, "CEL: x is immutable"},
	}
	for _, c := range cases {
		_, rules := validation([]string{c.marker})
		if len(rules) != 1 || rules[0] != c.want {
			t.Errorf("%s: got %q, want %q", c.marker, rules, c.want)
		}
	}
}
