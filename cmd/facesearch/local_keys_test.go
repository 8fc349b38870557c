package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

// TestLocalCredentials: the local stack's --api-credentials-file adds keys in the api Secret's
// entries to the environment's administrator key, and refuses a file it cannot read whole.
func TestLocalCredentials(t *testing.T) {
	const admin, adminSecret = "AKIDLOCALADMIN0001", "admin-secret"
	cases := []struct {
		name string
		file string // "" names no file
		want map[string]rekognition.Credential
		err  string
	}{
		{name: "no file", want: map[string]rekognition.Credential{admin: rekognition.FullAccess(adminSecret)}},
		{
			name: "a narrower key",
			file: "# one collection, reading only\n\nAKIDLOCALNARROW001=narrow-secret\nAKIDLOCALNARROW001.scope = read\nAKIDLOCALNARROW001.collections=staff\n",
			want: map[string]rekognition.Credential{
				admin:                rekognition.FullAccess(adminSecret),
				"AKIDLOCALNARROW001": {SecretAccessKey: "narrow-secret", AllowedCollections: []string{"staff"}, AllowedOperations: mustScope(t, "read")},
			},
		},
		{name: "a secret with =", file: "AKIDLOCALNARROW001=a=b\nAKIDLOCALNARROW001.scope=search\nAKIDLOCALNARROW001.collections=*\n",
			want: map[string]rekognition.Credential{
				admin:                rekognition.FullAccess(adminSecret),
				"AKIDLOCALNARROW001": {SecretAccessKey: "a=b", AllowedCollections: []string{"*"}, AllowedOperations: mustScope(t, "search")},
			}},
		{name: "a line without =", file: "AKIDLOCALNARROW001\n", err: ":1: want NAME=VALUE"},
		{name: "an entry twice", file: "AKIDLOCALNARROW001=a\n\nAKIDLOCALNARROW001=b\n", err: ":3: AKIDLOCALNARROW001 is set twice"},
		{name: "an unknown scope", file: "AKIDLOCALNARROW001=a\nAKIDLOCALNARROW001.scope=write\n", err: `secret entry "AKIDLOCALNARROW001.scope"`},
		{name: "the environment's key", file: admin + "=other\n" + admin + ".scope=read\n", err: "is the environment's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", admin)
			t.Setenv("AWS_SECRET_ACCESS_KEY", adminSecret)
			path := ""
			if tc.file != "" {
				path = filepath.Join(t.TempDir(), "keys.env")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := localCredentials(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("keys %v, want %v", got, tc.want)
			}
			for id, w := range tc.want {
				g := got[id]
				if g.SecretAccessKey != w.SecretAccessKey || !slices.Equal(g.AllowedCollections, w.AllowedCollections) ||
					!slices.Equal(g.AllowedOperations, w.AllowedOperations) {
					t.Errorf("key %s: %+v, want %+v", id, g, w)
				}
			}
		})
	}
}

func mustScope(t *testing.T, s string) []string {
	t.Helper()
	ops, err := rekognition.ParseScope(s)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}
