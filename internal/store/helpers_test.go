package store_test

import (
	"context"
	"io"
	"math"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

type object struct {
	key  string
	data []byte
}

// listAll reads every object under prefix straight from MinIO.
func listAll(t *testing.T, f *testenv.Bucket, prefix string) []object {
	t.Helper()
	c := f.Client
	ctx := context.Background()
	var out []object
	for o := range c.ListObjects(ctx, f.Name, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		r, err := c.GetObject(ctx, f.Name, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, object{o.Key, data})
	}
	return out
}

func rawFloat32s(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}
