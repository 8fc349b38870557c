package rekognition

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"

	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
)

// scopeBackend records the operations that reach it and answers empty
// outputs; its ListCollections pages over its collections in id order with a
// token naming the last id of the page, as ServiceBackend does.
type scopeBackend struct {
	mu          sync.Mutex
	calls       []string
	collections []string // sorted
	stuckToken  bool     // ListCollections answers the same NextToken forever
}

func (b *scopeBackend) record(op string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, op)
}

func (b *scopeBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

func (b *scopeBackend) CreateCollection(context.Context, *CreateCollectionInput) (*CreateCollectionOutput, error) {
	b.record("CreateCollection")
	return &CreateCollectionOutput{StatusCode: ptr(int32(200))}, nil
}
func (b *scopeBackend) DescribeCollection(context.Context, *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	b.record("DescribeCollection")
	return &DescribeCollectionOutput{}, nil
}
func (b *scopeBackend) ListCollections(_ context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	b.record("ListCollections")
	if b.stuckToken {
		return &ListCollectionsOutput{CollectionIds: []string{"team-a"}, NextToken: ptr("again")}, nil
	}
	after := ""
	if tok := deref(in.NextToken); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), "c:") {
			return nil, ErrInvalidPaginationToken("Invalid pagination token")
		}
		after = string(raw[2:])
	}
	limit := 1000
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = int(*in.MaxResults)
	}
	out := &ListCollectionsOutput{}
	for _, id := range b.collections {
		if id <= after {
			continue
		}
		if len(out.CollectionIds) == limit {
			out.NextToken = ptr(base64.RawURLEncoding.EncodeToString([]byte("c:" + out.CollectionIds[limit-1])))
			break
		}
		out.CollectionIds = append(out.CollectionIds, id)
		out.FaceModelVersions = append(out.FaceModelVersions, "v-"+id)
	}
	return out, nil
}
func (b *scopeBackend) DeleteCollection(context.Context, *DeleteCollectionInput) (*DeleteCollectionOutput, error) {
	b.record("DeleteCollection")
	return &DeleteCollectionOutput{StatusCode: ptr(int32(200))}, nil
}
func (b *scopeBackend) IndexFaces(context.Context, *IndexFacesInput) (*IndexFacesOutput, error) {
	b.record("IndexFaces")
	return &IndexFacesOutput{}, nil
}
func (b *scopeBackend) ListFaces(context.Context, *ListFacesInput) (*ListFacesOutput, error) {
	b.record("ListFaces")
	return &ListFacesOutput{}, nil
}
func (b *scopeBackend) DeleteFaces(context.Context, *DeleteFacesInput) (*DeleteFacesOutput, error) {
	b.record("DeleteFaces")
	return &DeleteFacesOutput{}, nil
}
func (b *scopeBackend) CreateUser(context.Context, *CreateUserInput) (*CreateUserOutput, error) {
	b.record("CreateUser")
	return &CreateUserOutput{}, nil
}
func (b *scopeBackend) DeleteUser(context.Context, *DeleteUserInput) (*DeleteUserOutput, error) {
	b.record("DeleteUser")
	return &DeleteUserOutput{}, nil
}
func (b *scopeBackend) ListUsers(context.Context, *ListUsersInput) (*ListUsersOutput, error) {
	b.record("ListUsers")
	return &ListUsersOutput{}, nil
}
func (b *scopeBackend) AssociateFaces(context.Context, *AssociateFacesInput) (*AssociateFacesOutput, error) {
	b.record("AssociateFaces")
	return &AssociateFacesOutput{}, nil
}
func (b *scopeBackend) DisassociateFaces(context.Context, *DisassociateFacesInput) (*DisassociateFacesOutput, error) {
	b.record("DisassociateFaces")
	return &DisassociateFacesOutput{}, nil
}
func (b *scopeBackend) SearchFaces(context.Context, *SearchFacesInput) (*SearchFacesOutput, error) {
	b.record("SearchFaces")
	return &SearchFacesOutput{}, nil
}
func (b *scopeBackend) SearchFacesByImage(context.Context, *SearchFacesByImageInput) (*SearchFacesByImageOutput, error) {
	b.record("SearchFacesByImage")
	return &SearchFacesByImageOutput{}, nil
}
func (b *scopeBackend) SearchUsers(context.Context, *SearchUsersInput) (*SearchUsersOutput, error) {
	b.record("SearchUsers")
	return &SearchUsersOutput{}, nil
}
func (b *scopeBackend) SearchUsersByImage(context.Context, *SearchUsersByImageInput) (*SearchUsersByImageOutput, error) {
	b.record("SearchUsersByImage")
	return &SearchUsersByImageOutput{}, nil
}
func (b *scopeBackend) TagResource(context.Context, *TagResourceInput) (*TagResourceOutput, error) {
	b.record("TagResource")
	return &TagResourceOutput{}, nil
}
func (b *scopeBackend) UntagResource(context.Context, *UntagResourceInput) (*UntagResourceOutput, error) {
	b.record("UntagResource")
	return &UntagResourceOutput{}, nil
}
func (b *scopeBackend) ListTagsForResource(context.Context, *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	b.record("ListTagsForResource")
	return &ListTagsForResourceOutput{}, nil
}

func (b *scopeBackend) DetectFaces(context.Context, *DetectFacesInput) (*DetectFacesOutput, error) {
	b.record("DetectFaces")
	return &DetectFacesOutput{}, nil
}
func (b *scopeBackend) CompareFaces(context.Context, *CompareFacesInput) (*CompareFacesOutput, error) {
	b.record("CompareFaces")
	return &CompareFacesOutput{}, nil
}

// The keys of these tests, as an operator writes them in the Secret.
const (
	scopeAdminKey    = "AKIDSCOPEADMIN000001"
	scopeReaderKey   = "AKIDSCOPEREADER00001"
	scopeSearcherKey = "AKIDSCOPESEARCHER001"
	scopeMixedKey    = "AKIDSCOPEMIXED000001"
	scopeCreatorKey  = "AKIDSCOPECREATOR0001"
	scopeNoScopeKey  = "AKIDSCOPENOSCOPE0001"
	scopeNoCollKey   = "AKIDSCOPENOCOLL00001"
	scopeBareKey     = "AKIDSCOPEBARE0000001"
	scopeTwinKey     = "AKIDSCOPETWIN0000001"
	scopeDetectKey   = "AKIDSCOPEDETECT00001"
)

func scopeSecret() map[string][]byte {
	return map[string][]byte{
		scopeAdminKey: []byte("admin-secret\n"), scopeAdminKey + ".scope": []byte("admin"), scopeAdminKey + ".collections": []byte("*"),
		scopeReaderKey: []byte("reader-secret"), scopeReaderKey + ".scope": []byte("read"), scopeReaderKey + ".collections": []byte("team-a, team-b"),
		scopeSearcherKey: []byte("searcher-secret"), scopeSearcherKey + ".scope": []byte("search"), scopeSearcherKey + ".collections": []byte("team-a"),
		scopeMixedKey: []byte("mixed-secret"), scopeMixedKey + ".scope": []byte("search,IndexFaces"), scopeMixedKey + ".collections": []byte("team-a"),
		scopeCreatorKey: []byte("creator-secret"), scopeCreatorKey + ".scope": []byte("CreateCollection"), scopeCreatorKey + ".collections": []byte("team-a"),
		scopeNoScopeKey: []byte("noscope-secret"), scopeNoScopeKey + ".collections": []byte("*"),
		scopeNoCollKey: []byte("nocoll-secret"), scopeNoCollKey + ".scope": []byte("admin"),
		scopeBareKey: []byte("bare-secret"),
		scopeTwinKey: []byte("reader-secret"), scopeTwinKey + ".scope": []byte("read"), scopeTwinKey + ".collections": []byte("team-a, team-b"),
		scopeDetectKey: []byte("detect-secret"), scopeDetectKey + ".scope": []byte("DetectFaces"), scopeDetectKey + ".collections": []byte("team-a"),
	}
}

func scopeSecretOf(t *testing.T, keys map[string]Credential, id string) string {
	t.Helper()
	c, ok := keys[id]
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return c.SecretAccessKey
}

// scopeServer serves backend with the keys of scopeSecret and returns a client maker.
func scopeServer(t *testing.T, backend Backend) func(key string) *rek.Client {
	t.Helper()
	keys, err := ParseSecretData(scopeSecret())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(backend, HandlerOptions{Credentials: StaticCredentials(keys), RateLimit: -1}))
	t.Cleanup(srv.Close)
	return func(key string) *rek.Client {
		return rek.New(rek.Options{
			Region:           "eu-west-1",
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(key, scopeSecretOf(t, keys, key), ""),
			RetryMaxAttempts: 1,
			HTTPClient:       srv.Client(),
		})
	}
}

func scopeErrCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

const scopeFaceID = "11111111-2222-4333-8444-555555555555"

// scopeCalls calls each operation, with valid parameters, on the collection.
var scopeCalls = map[string]func(context.Context, *rek.Client, string) error{
	"CreateCollection": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: &col})
		return err
	},
	"DescribeCollection": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.DescribeCollection(ctx, &rek.DescribeCollectionInput{CollectionId: &col})
		return err
	},
	"ListCollections": func(ctx context.Context, c *rek.Client, _ string) error {
		_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{})
		return err
	},
	"DeleteCollection": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: &col})
		return err
	},
	"IndexFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.IndexFaces(ctx, &rek.IndexFacesInput{CollectionId: &col, Image: &types.Image{Bytes: []byte("jpeg")}})
		return err
	},
	"ListFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.ListFaces(ctx, &rek.ListFacesInput{CollectionId: &col})
		return err
	},
	"DeleteFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.DeleteFaces(ctx, &rek.DeleteFacesInput{CollectionId: &col, FaceIds: []string{scopeFaceID}})
		return err
	},
	"CreateUser": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.CreateUser(ctx, &rek.CreateUserInput{CollectionId: &col, UserId: aws.String("alice")})
		return err
	},
	"DeleteUser": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.DeleteUser(ctx, &rek.DeleteUserInput{CollectionId: &col, UserId: aws.String("alice")})
		return err
	},
	"ListUsers": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.ListUsers(ctx, &rek.ListUsersInput{CollectionId: &col})
		return err
	},
	"AssociateFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.AssociateFaces(ctx, &rek.AssociateFacesInput{CollectionId: &col, UserId: aws.String("alice"), FaceIds: []string{scopeFaceID}})
		return err
	},
	"DisassociateFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.DisassociateFaces(ctx, &rek.DisassociateFacesInput{CollectionId: &col, UserId: aws.String("alice"), FaceIds: []string{scopeFaceID}})
		return err
	},
	"SearchFaces": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.SearchFaces(ctx, &rek.SearchFacesInput{CollectionId: &col, FaceId: aws.String(scopeFaceID)})
		return err
	},
	"SearchFacesByImage": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.SearchFacesByImage(ctx, &rek.SearchFacesByImageInput{CollectionId: &col, Image: &types.Image{Bytes: []byte("jpeg")}})
		return err
	},
	"SearchUsers": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.SearchUsers(ctx, &rek.SearchUsersInput{CollectionId: &col, UserId: aws.String("alice")})
		return err
	},
	"SearchUsersByImage": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.SearchUsersByImage(ctx, &rek.SearchUsersByImageInput{CollectionId: &col, Image: &types.Image{Bytes: []byte("jpeg")}})
		return err
	},
	// No collection: the same call whatever col is.
	"DetectFaces": func(ctx context.Context, c *rek.Client, _ string) error {
		_, err := c.DetectFaces(ctx, &rek.DetectFacesInput{Image: &types.Image{Bytes: []byte("jpeg")}})
		return err
	},
	"CompareFaces": func(ctx context.Context, c *rek.Client, _ string) error {
		_, err := c.CompareFaces(ctx, &rek.CompareFacesInput{SourceImage: &types.Image{Bytes: []byte("jpeg")}, TargetImage: &types.Image{Bytes: []byte("jpeg")}})
		return err
	},
	// The tag operations name the collection by its ARN; the key's collections apply to it.
	"TagResource": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(scopeARN(col)), Tags: map[string]string{"team": "a"}})
		return err
	},
	"UntagResource": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(scopeARN(col)), TagKeys: []string{"team"}})
		return err
	},
	"ListTagsForResource": func(ctx context.Context, c *rek.Client, col string) error {
		_, err := c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(scopeARN(col))})
		return err
	},
}

func scopeARN(col string) string { return "arn:facesearch:rekognition:ns::collection/" + col }

// TestScopesAllowOnlyTheirOperations calls every operation with every key, on
// a collection some keys may use (team-a) and one none but the admin may
// (team-z): allowed calls reach the backend, the others answer IAM's
// AccessDeniedException and never reach it.
func TestScopesAllowOnlyTheirOperations(t *testing.T) {
	if got, want := len(scopeCalls), len(Operations()); got != want {
		t.Fatalf("the table calls %d operations, the handler serves %d", got, want)
	}
	b := &scopeBackend{}
	client := scopeServer(t, b)
	ctx := context.Background()

	all := Operations()
	// DetectFaces and CompareFaces name no collection: allowed by the scope, on any.
	images := []string{"DetectFaces", "CompareFaces"}
	read := []string{"DescribeCollection", "ListCollections", "ListFaces", "ListUsers", "ListTagsForResource", "SearchFaces", "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "DetectFaces", "CompareFaces"}
	search := []string{"SearchFaces", "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "DetectFaces", "CompareFaces"}
	allowed := map[string]map[string][]string{ // key -> collection -> operations allowed
		scopeAdminKey:    {"team-a": all, "team-z": all},
		scopeReaderKey:   {"team-a": read, "team-z": append([]string{"ListCollections"}, images...)},
		scopeSearcherKey: {"team-a": search, "team-z": images},
		scopeMixedKey:    {"team-a": append([]string{"IndexFaces"}, search...), "team-z": images},
		scopeCreatorKey:  {"team-a": {"CreateCollection"}},
		scopeNoScopeKey:  {}, // no .scope: nothing, on any collection
		// No .collections: an empty listing, and what uses no collection.
		scopeNoCollKey: {"team-a": append([]string{"ListCollections"}, images...), "team-z": append([]string{"ListCollections"}, images...)},
		scopeBareKey:   {},
		// Named in the scope alone, without the searches.
		scopeDetectKey: {"team-a": {"DetectFaces"}, "team-z": {"DetectFaces"}},
	}
	for key, byCol := range allowed {
		c := client(key)
		for _, col := range []string{"team-a", "team-z"} {
			for _, op := range all {
				t.Run(key+"/"+col+"/"+op, func(t *testing.T) {
					before := b.count()
					err := scopeCalls[op](ctx, c, col)
					reached := b.count() - before
					if slices.Contains(byCol[col], op) {
						if err != nil || reached != 1 {
							t.Fatalf("allowed call: error %v, %d backend calls", err, reached)
						}
						return
					}
					var ad *types.AccessDeniedException
					if !errors.As(err, &ad) && scopeErrCode(err) != TypeAccessDenied {
						t.Fatalf("want AccessDeniedException, got %v", err)
					}
					want := fmt.Sprintf("User: %s is not authorized to perform: rekognition:%s on resource: ", key, op)
					if msg := err.Error(); !strings.Contains(msg, want) {
						t.Fatalf("message %q does not say %q", msg, want)
					}
					if reached != 0 {
						t.Fatalf("a denied call reached the backend (%d calls)", reached)
					}
				})
			}
		}
	}
}

// TestScopeNoCollectionsListsNothing: a key whose .collections entry is
// missing or empty sees no collection, even with the admin scope.
func TestScopeNoCollectionsListsNothing(t *testing.T) {
	b := &scopeBackend{collections: []string{"team-a", "team-b", "team-z"}}
	client := scopeServer(t, b)
	out, err := client(scopeNoCollKey).ListCollections(context.Background(), &rek.ListCollectionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CollectionIds) != 0 || len(out.FaceModelVersions) != 0 || out.NextToken != nil {
		t.Fatalf("a key without collections lists %v (token %v)", out.CollectionIds, aws.ToString(out.NextToken))
	}
	for _, data := range []map[string][]byte{
		{scopeBareKey: []byte("s")},
		{scopeBareKey: []byte("s"), scopeBareKey + ".collections": []byte(""), scopeBareKey + ".scope": []byte(" \n")},
		{scopeBareKey: []byte("s"), scopeBareKey + ".collections": []byte(" , ")},
	} {
		keys, err := ParseSecretData(data)
		if err != nil {
			t.Fatal(err)
		}
		c := keys[scopeBareKey]
		if c.Allows("team-a") || c.Allows("") || c.AllowsAllCollections() || c.MayCall("SearchUsersByImage") || c.MayCall("ListCollections") {
			t.Fatalf("%q: an empty credential allows something: %+v", data, c)
		}
	}
	var zero Credential
	if zero.Allows("team-a") || zero.MayCall("DescribeCollection") {
		t.Fatal("the zero Credential allows something")
	}
}

func TestParseSecretDataScopes(t *testing.T) {
	const id = "AKIDEXAMPLE000000009"
	read := "CompareFaces,DescribeCollection,DetectFaces,ListCollections,ListFaces,ListTagsForResource,ListUsers,SearchFaces,SearchFacesByImage,SearchUsers,SearchUsersByImage"
	valid := []struct {
		name       string
		data       map[string]string
		ops, colls string // the parsed lists, comma-joined
	}{
		{"admin on all", map[string]string{id: "s", id + ".scope": "admin", id + ".collections": "*"}, "*", "*"},
		{"read on two", map[string]string{id: "s", id + ".scope": " read\n", id + ".collections": "team-a, team-b\n"}, read, "team-a,team-b"},
		{"search", map[string]string{id: "s", id + ".scope": "search", id + ".collections": "team-a"}, "CompareFaces,DetectFaces,SearchFaces,SearchFacesByImage,SearchUsers,SearchUsersByImage", "team-a"},
		{"search and an operation", map[string]string{id: "s", id + ".scope": "IndexFaces, search", id + ".collections": "a,a,b"},
			"CompareFaces,DetectFaces,IndexFaces,SearchFaces,SearchFacesByImage,SearchUsers,SearchUsersByImage", "a,b"},
		{"image operations alone", map[string]string{id: "s", id + ".scope": "DetectFaces,CompareFaces"}, "CompareFaces,DetectFaces", ""},
		{"operations only", map[string]string{id: "s", id + ".scope": "DeleteCollection,CreateCollection", id + ".collections": "team-a"}, "CreateCollection,DeleteCollection", "team-a"},
		{"no entries", map[string]string{id: "s"}, "", ""},
		{"empty entries", map[string]string{id: "s", id + ".scope": "", id + ".collections": " , "}, "", ""},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tt.data {
				data[k] = []byte(v)
			}
			keys, err := ParseSecretData(data)
			if err != nil {
				t.Fatal(err)
			}
			c := keys[id]
			if c.SecretAccessKey != "s" || strings.Join(c.AllowedOperations, ",") != tt.ops || strings.Join(c.AllowedCollections, ",") != tt.colls {
				t.Fatalf("got %+v, want operations %q collections %q", c, tt.ops, tt.colls)
			}
		})
	}

	invalid := []struct {
		name string
		data map[string]string
		want []string // in the error
	}{
		{"orphan scope", map[string]string{id + ".scope": "admin"}, []string{id + ".scope", "no entry"}},
		{"orphan collections", map[string]string{id + ".collections": "*"}, []string{id + ".collections", "no entry"}},
		{"unknown scope", map[string]string{id: "s", id + ".scope": "write"}, []string{id + ".scope", `"write"`, "admin, read, search", "SearchUsersByImage"}},
		{"operation in the wrong case", map[string]string{id: "s", id + ".scope": "searchfaces"}, []string{`"searchfaces"`}},
		{"IAM action syntax", map[string]string{id: "s", id + ".scope": "rekognition:SearchFaces"}, []string{`"rekognition:SearchFaces"`}},
		{"admin and more", map[string]string{id: "s", id + ".scope": "admin,read"}, []string{id + ".scope", "admin", "alone"}},
		{"all and more", map[string]string{id: "s", id + ".collections": "*,team-a"}, []string{id + ".collections", `"*"`, "alone"}},
		{"bad collection", map[string]string{id: "s", id + ".collections": "a/b"}, []string{id + ".collections", `"a/b"`, "not a collection id"}},
		{"unknown suffix", map[string]string{id: "s", id + ".scopes": "admin"}, []string{id + ".scopes", "unknown entry", ".scope", ".collections"}},
		{"empty secret", map[string]string{id: " \n", id + ".scope": "admin"}, []string{`"` + id + `"`, "empty secret"}},
		{"short key id", map[string]string{"AKID": "s"}, []string{`"AKID"`, "not an access key id"}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tt.data {
				data[k] = []byte(v)
			}
			keys, err := ParseSecretData(data)
			if err == nil {
				t.Fatalf("no error; keys %+v", keys)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}

	// A Secret that no longer parses leaves the keys in force; keys that can do
	// nothing are reported.
	var s SecretCredentials
	if err := s.Update(map[string][]byte{id: []byte("s"), "AKIDEXAMPLE000000008": []byte("t"), "AKIDEXAMPLE000000008.scope": []byte("admin")}); err != nil {
		t.Fatal(err)
	}
	w := strings.Join(s.Warnings(), "\n")
	for _, want := range []string{id + " may call no operation", id + " reaches no collection", "AKIDEXAMPLE000000008 reaches no collection"} {
		if !strings.Contains(w, want) {
			t.Fatalf("warnings %q do not say %q", w, want)
		}
	}
	if strings.Contains(w, "AKIDEXAMPLE000000008 may call no operation") {
		t.Fatalf("warnings %q", w)
	}
	if err := s.Update(map[string][]byte{id: []byte("s"), id + ".scope": []byte("everything")}); err == nil {
		t.Fatal("an unknown scope was accepted")
	}
	if c, ok := s.Lookup("AKIDEXAMPLE000000008"); !ok || !c.MayCall("DeleteCollection") {
		t.Fatal("the keys in force changed after a bad update")
	}
}

// scopeCollections are the collections of the paging tests: the reader key
// (team-a, team-b) and its twin see two of them, interleaved with the others
// in id order. No visible id holds a hidden one.
var scopeCollections = []string{"aaa-hidden", "bravo-hidden", "team-a", "team-aa-hidden", "team-ab-hidden", "team-b", "zulu-hidden"}

func scopeHidden() []string {
	var h []string
	for _, id := range scopeCollections {
		if id != "team-a" && id != "team-b" {
			h = append(h, id)
		}
	}
	return h
}

// scopeDecodeToken returns what a token carries, whichever base64 it is in.
func scopeDecodeToken(tok string) string {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if raw, err := enc.DecodeString(tok); err == nil {
			return string(raw)
		}
	}
	return tok
}

// TestScopeListCollectionsPaging pages ListCollections with a limited key over
// the stub and over the real ServiceBackend: each page is full but the last,
// holds only visible ids, and its NextToken carries no hidden id; every
// visible id comes exactly once. An altered token, a backend token and a
// token of another key are refused.
func TestScopeListCollectionsPaging(t *testing.T) {
	svc := search.NewService(nil)
	for _, id := range scopeCollections {
		if err := svc.Publish(search.Collection{ID: id, FaceModelVersion: "v-" + id}, store.Connection{Endpoint: "127.0.0.1:9", Bucket: "faces"}); err != nil {
			t.Fatal(err)
		}
	}
	backends := map[string]Backend{
		"stub":           &scopeBackend{collections: scopeCollections},
		"ServiceBackend": NewServiceBackend(svc, nil),
	}
	ctx := context.Background()
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			client := scopeServer(t, backend)
			for _, pageSize := range []int32{1, 2, 3, 0} {
				t.Run(fmt.Sprintf("MaxResults=%d", pageSize), func(t *testing.T) {
					c := client(scopeReaderKey)
					var ids []string
					var token *string
					for pages := 0; ; pages++ {
						out, err := c.ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(pageSize), NextToken: token})
						if err != nil {
							t.Fatalf("page %d: %v", pages, err)
						}
						for i, id := range out.CollectionIds {
							if id != "team-a" && id != "team-b" {
								t.Fatalf("page %d lists %q", pages, id)
							}
							if i >= len(out.FaceModelVersions) || out.FaceModelVersions[i] != "v-"+id {
								t.Fatalf("page %d: FaceModelVersions %v for %v", pages, out.FaceModelVersions, out.CollectionIds)
							}
						}
						ids = append(ids, out.CollectionIds...)
						if token = out.NextToken; token == nil {
							break
						}
						carried := scopeDecodeToken(*token)
						for _, h := range scopeHidden() {
							if strings.Contains(carried, h) || strings.Contains(*token, h) {
								t.Fatalf("page %d: NextToken %q (%q) names %q, which the key may not see", pages, *token, carried, h)
							}
						}
						if pageSize > 0 && len(out.CollectionIds) != int(pageSize) {
							t.Fatalf("page %d holds %v, not %d ids, and is not the last", pages, out.CollectionIds, pageSize)
						}
						if pages > 10 {
							t.Fatal("pagination does not end")
						}
					}
					if fmt.Sprint(ids) != "[team-a team-b]" {
						t.Fatalf("listed %v, want each visible collection once", ids)
					}
				})
			}

			// A token for the reader: after team-a.
			first, err := client(scopeReaderKey).ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(1)})
			if err != nil || first.NextToken == nil {
				t.Fatalf("first page: %+v, %v", first, err)
			}
			tok := *first.NextToken
			raw := []byte(tok)
			raw[len(raw)/2] ^= 1
			if raw[len(raw)/2] == '`' { // keep it base64url
				raw[len(raw)/2] = 'A'
			}
			backendToken := base64.RawURLEncoding.EncodeToString([]byte("c:bravo-hidden"))
			for what, bad := range map[string]string{
				"altered":           string(raw),
				"truncated":         tok[:len(tok)-4],
				"backend's format":  backendToken,
				"not base64":        "!!!",
				"another key's use": tok, // sent by the twin below
			} {
				c := client(scopeReaderKey)
				if what == "another key's use" {
					c = client(scopeTwinKey)
				}
				_, err := c.ListCollections(ctx, &rek.ListCollectionsInput{MaxResults: aws.Int32(1), NextToken: aws.String(bad)})
				var pt *types.InvalidPaginationTokenException
				if !errors.As(err, &pt) {
					t.Errorf("%s token: got %v, want InvalidPaginationTokenException", what, err)
				}
			}

			// The admin sees every collection, through the backend's own pages.
			var all []string
			pg := rek.NewListCollectionsPaginator(client(scopeAdminKey), &rek.ListCollectionsInput{MaxResults: aws.Int32(3)})
			for pg.HasMorePages() {
				out, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, out.CollectionIds...)
			}
			if !sort.StringsAreSorted(all) || fmt.Sprint(all) != fmt.Sprint(scopeCollections) {
				t.Fatalf("admin lists %v", all)
			}
		})
	}
}

// TestScopeListCollectionsStuckBackend: a backend whose NextToken never
// changes makes an internal error for a limited key, not an endless loop.
func TestScopeListCollectionsStuckBackend(t *testing.T) {
	b := &scopeBackend{stuckToken: true}
	client := scopeServer(t, b)
	_, err := client(scopeReaderKey).ListCollections(context.Background(), &rek.ListCollectionsInput{})
	if scopeErrCode(err) != TypeInternalServerError {
		t.Fatalf("got %v", err)
	}
	if n := b.count(); n != 2 {
		t.Fatalf("%d backend calls, want 2", n)
	}
}
