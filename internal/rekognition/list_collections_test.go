package rekognition

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"

	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// TestCollectionTokenPacking checks that a ListCollections NextToken holds any CollectionId
// whole, with the limited keys' MAC, within the model's 255 characters, and that nothing
// else reads as one.
func TestCollectionTokenPacking(t *testing.T) {
	ids := []string{"a", "-", "--a", "a--", "Z.9_x", strings.Repeat("z", 255), strings.Repeat("-", 255),
		strings.Repeat("aZ0_.-", 42) + "xyz"}
	mac := []byte{0, 1, 2, 0xfe, 0xff, 0, 0, 9}
	for _, id := range ids {
		for _, tail := range [][]byte{nil, mac} {
			tok := packCollectionID(id, tail)
			if len(tok)+1 > maxPaginationToken { // with its one-character marker
				t.Fatalf("token of a %d-character id has %d characters", len(id), len(tok)+1)
			}
			got, gotTail, ok := unpackCollectionID(tok, len(tail))
			if !ok || got != id || string(gotTail) != string(tail) {
				t.Fatalf("%q: token %q reads as %q %v, %v", id, tok, got, gotTail, ok)
			}
		}
	}
	if n := len(packCollectionID(strings.Repeat("z", 255), nil)); n != 240 {
		t.Errorf("longest token: %d digits, want 240", n)
	}
	if n := len(packCollectionID(strings.Repeat("z", 255), mac)); n != 250 {
		t.Errorf("longest token with a MAC: %d digits, want 250", n)
	}
	for _, tok := range []string{"", "\"", "~", "ZjoxMjM0=", strings.Repeat("#", 256)} {
		if id, _, ok := unpackCollectionID(tok, 0); ok {
			t.Errorf("token %q read as %q", tok, id)
		}
	}
}

// TestListCollectionsLongIDs pages through collections whose ids have 255 characters (one
// shared 250-character prefix) with the SDK, one per page, deleting the collection each
// token names before it is used: every token fits the model, and every collection that
// was there throughout comes once.
func TestListCollectionsLongIDs(t *testing.T) {
	svc := search.NewService(nil)
	conn := store.Connection{Endpoint: "127.0.0.1:1", Bucket: "unused"} // never reached: listing reads the registry
	prefix := strings.Repeat("p", 250)
	var ids []string
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		ids = append(ids, id)
		if err := svc.Publish(search.Collection{ID: id, FaceModelVersion: "v", Ready: true}, conn); err != nil {
			t.Fatal(err)
		}
	}
	// A key limited to some collections gets the handler's own tokens (with a MAC).
	const limitedKeyID, limitedSecret = "AKIDLIMITEDLONGIDS01", "limited-secret"
	limited := Credential{SecretAccessKey: limitedSecret, AllowedOperations: []string{"ListCollections"},
		AllowedCollections: []string{ids[0], ids[2], ids[3], ids[5]}}
	srv := httptest.NewServer(NewHandler(NewServiceBackend(svc, nil), HandlerOptions{
		Credentials: StaticCredentials{svcKey: FullAccess(svcSecret), limitedKeyID: limited}, RateLimit: -1, MaxConcurrent: -1,
	}))
	t.Cleanup(srv.Close)
	c := sdkAt(srv)
	lc := rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(limitedKeyID, limitedSecret, "")})
	ctx := context.Background()

	list := func(c *rek.Client) []string {
		var got []string
		in := &rek.ListCollectionsInput{MaxResults: aws.Int32(1)}
		for {
			out, err := c.ListCollections(ctx, in)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			got = append(got, out.CollectionIds...)
			if out.NextToken == nil {
				return got
			}
			if n := len(*out.NextToken); n > maxPaginationToken {
				t.Fatalf("NextToken of %d characters", n)
			}
			// The page's last collection goes away before the token comes back.
			svc.Unpublish(out.CollectionIds[0])
			in.NextToken = out.NextToken
		}
	}
	if got := list(lc); strings.Join(got, ",") != strings.Join([]string{ids[0], ids[2], ids[3], ids[5]}, ",") {
		t.Fatalf("the limited key listed %d: %v", len(got), got)
	}
	for _, id := range ids {
		_ = svc.Publish(search.Collection{ID: id, FaceModelVersion: "v", Ready: true}, conn)
	}
	if got := list(c); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %d: %v", len(got), got)
	}

	// A token made for a long id is accepted as it is, and one altered is refused.
	_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{NextToken: aws.String("C" + strings.Repeat("#", 250))})
	if errCode(err) != TypeInvalidPaginationToken {
		t.Fatalf("altered token: %v", err)
	}
}
