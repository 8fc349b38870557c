package rekognition

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	guuid "github.com/google/uuid"

	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// replica is a second api replica next to e's: its own handler (and idempotency cache),
// backend, search.Service and Store, over the same bucket and shards.
func (e *svcEnv) replica(t *testing.T, coll string) *rek.Client {
	t.Helper()
	svc := search.NewService(e.engines)
	e.admin.mu.Lock()
	ix := e.admin.running[coll]
	e.admin.mu.Unlock()
	var shards []index.Searcher
	for _, sh := range ix.shards {
		shards = append(shards, sh)
	}
	c := search.Collection{ID: coll, ARN: "arn:aws:rekognition:test:000000000000:collection/" + coll, FaceModelVersion: e.admin.version, Shards: shards, Ready: true}
	if err := svc.Publish(c, e.admin.conn); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(NewServiceBackend(svc, nil), HandlerOptions{
		Credentials: StaticCredentials{svcKey: FullAccess(svcSecret)},
		RateLimit:   -1, MaxConcurrent: -1,
	}))
	t.Cleanup(srv.Close)
	return sdkAt(srv)
}

// unitVector is a deterministic embedding of dim values for a seed.
func unitVector(seed, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := math.Sin(float64(seed*131+i*17) + 0.3)
		v[i], n = float32(x), n+x*x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// TestTokenAcrossReplicas sends each call with a ClientRequestToken to one replica and its
// retry to another, which has never seen the token: the retry gets the first answer and
// commits nothing, and the token with other parameters is IdempotentParameterMismatch there.
func TestTokenAcrossReplicas(t *testing.T) {
	e := newSvcEnv(t, 1)
	ctx := context.Background()
	const coll = "people"
	c1 := e.sdk()
	if _, err := c1.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String(coll)}); err != nil {
		t.Fatal(err)
	}
	c2 := e.replica(t, coll)
	var faces []string
	for i := 0; i < 3; i++ {
		recs, err := e.store.IndexFaces(ctx, coll, []store.NewFace{{ImageID: fmt.Sprintf("img-%d", i), Confidence: 99, Embedding: unitVector(i, e.admin.dim)}}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		faces = append(faces, recs[0].FaceID)
	}
	reader, err := store.Open(e.admin.conn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	generation := func() uint64 {
		d, err := reader.DescribeCollection(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		return d.Generation
	}
	// answer is what a client reads of an output, without the response metadata.
	answer := func(parts ...any) string {
		js, err := json.Marshal(parts)
		if err != nil {
			t.Fatal(err)
		}
		return string(js)
	}
	id := aws.String(coll)
	tok := aws.String
	unknown := guuid.NewString()

	tests := []struct {
		name string
		// call makes the call with token on c, with the first (variant 0) or other parameters.
		call func(c *rek.Client, token *string, variant int) (string, error)
	}{
		{"CreateUser", func(c *rek.Client, token *string, v int) (string, error) {
			_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: id, UserId: aws.String([]string{"alice", "bob"}[v]), ClientRequestToken: token})
			return "", err
		}},
		{"AssociateFaces", func(c *rek.Client, token *string, v int) (string, error) {
			ids := [][]string{{faces[0], faces[1], unknown}, {faces[2]}}[v]
			out, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: id, UserId: aws.String("alice"), FaceIds: ids, ClientRequestToken: token})
			if err != nil {
				return "", err
			}
			return answer(out.AssociatedFaces, out.UnsuccessfulFaceAssociations, out.UserStatus), nil
		}},
		{"DisassociateFaces", func(c *rek.Client, token *string, v int) (string, error) {
			ids := [][]string{{faces[0], unknown}, {faces[1]}}[v]
			out, err := c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: id, UserId: aws.String("alice"), FaceIds: ids, ClientRequestToken: token})
			if err != nil {
				return "", err
			}
			return answer(out.DisassociatedFaces, out.UnsuccessfulFaceDisassociations, out.UserStatus), nil
		}},
		{"DeleteUser", func(c *rek.Client, token *string, v int) (string, error) {
			_, err := c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: id, UserId: aws.String([]string{"alice", "bob"}[v]), ClientRequestToken: token})
			return "", err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tok("token-of-" + tt.name)
			before := generation()
			first, err := tt.call(c1, token, 0)
			if err != nil {
				t.Fatal(err)
			}
			if g := generation(); g != before+1 {
				t.Fatalf("the call made %d commits, want 1", g-before)
			}
			// The mismatch first: once c2 has answered the token, its own cache would.
			_, err = tt.call(c2, token, 1)
			wantErr[*types.IdempotentParameterMismatchException](t, "the token with other parameters", err)
			again, err := tt.call(c2, token, 0)
			if err != nil || again != first {
				t.Fatalf("the retry on the other replica answered %s, %v; the first %s", again, err, first)
			}
			if g := generation(); g != before+1 {
				t.Fatalf("the retries committed %d more", g-before-1)
			}
		})
	}
	// The control: a new call, not a retry, finds the user gone.
	_, err = c2.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: id, UserId: aws.String("alice"), ClientRequestToken: tok("another")})
	wantErr[*types.ResourceNotFoundException](t, "DeleteUser with a new token", err)
}
