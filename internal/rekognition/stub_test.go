package rekognition

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// stubBackend is the Backend of the protocol tests. It keeps no state of its
// own: it records each call (operation and the decoded input the handler
// passed) and answers what the test set with answer, by default the empty
// output. Rekognition's semantics are tested on the real search path
// (service_backend_test.go).
type stubBackend struct {
	mu      sync.Mutex
	answers map[string]any
	log     []stubCall
	discard bool // record nothing (benchmarks: b.N requests would pin b.N images)

	calls   atomic.Int64  // backend calls, counted on arrival
	block   chan struct{} // when set, every call waits on it (or ctx)
	failErr error         // when set, every call returns it
}

type stubCall struct {
	op string
	in any // the *XxxInput the handler passed
}

func newStubBackend() *stubBackend { return &stubBackend{answers: map[string]any{}} }

// answer sets what op answers from now on: an output (*XxxOutput; each call
// gets a copy), an error, a func(context.Context, *XxxInput) (*XxxOutput,
// error), or nil for the empty output.
func (b *stubBackend) answer(op string, a any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answers[op] = a
}

// lastInput is the JSON of the last input op received ("" if none).
func (b *stubBackend) lastInput(t testing.TB, op string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.log) - 1; i >= 0; i-- {
		if b.log[i].op == op {
			j, err := json.Marshal(b.log[i].in)
			if err != nil {
				t.Fatal(err)
			}
			return string(j)
		}
	}
	return ""
}

func reply[O, I any](ctx context.Context, b *stubBackend, op string, in *I) (*O, error) {
	b.calls.Add(1)
	b.mu.Lock()
	if !b.discard {
		b.log = append(b.log, stubCall{op, in})
	}
	a := b.answers[op]
	b.mu.Unlock()
	if b.block != nil {
		select {
		case <-b.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b.failErr != nil {
		return nil, b.failErr
	}
	switch a := a.(type) {
	case nil:
		return new(O), nil
	case error:
		return nil, a
	case *O:
		o := *a // the handler edits the output it gets (ListCollections filter, [] for nil)
		return &o, nil
	case func(context.Context, *I) (*O, error):
		return a(ctx, in)
	}
	panic(fmt.Sprintf("stubBackend: %s cannot answer a %T", op, a))
}

func (b *stubBackend) CreateCollection(ctx context.Context, in *CreateCollectionInput) (*CreateCollectionOutput, error) {
	return reply[CreateCollectionOutput](ctx, b, "CreateCollection", in)
}
func (b *stubBackend) DescribeCollection(ctx context.Context, in *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	return reply[DescribeCollectionOutput](ctx, b, "DescribeCollection", in)
}
func (b *stubBackend) ListCollections(ctx context.Context, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	return reply[ListCollectionsOutput](ctx, b, "ListCollections", in)
}
func (b *stubBackend) DeleteCollection(ctx context.Context, in *DeleteCollectionInput) (*DeleteCollectionOutput, error) {
	return reply[DeleteCollectionOutput](ctx, b, "DeleteCollection", in)
}
func (b *stubBackend) IndexFaces(ctx context.Context, in *IndexFacesInput) (*IndexFacesOutput, error) {
	return reply[IndexFacesOutput](ctx, b, "IndexFaces", in)
}
func (b *stubBackend) ListFaces(ctx context.Context, in *ListFacesInput) (*ListFacesOutput, error) {
	return reply[ListFacesOutput](ctx, b, "ListFaces", in)
}
func (b *stubBackend) DeleteFaces(ctx context.Context, in *DeleteFacesInput) (*DeleteFacesOutput, error) {
	return reply[DeleteFacesOutput](ctx, b, "DeleteFaces", in)
}
func (b *stubBackend) CreateUser(ctx context.Context, in *CreateUserInput) (*CreateUserOutput, error) {
	return reply[CreateUserOutput](ctx, b, "CreateUser", in)
}
func (b *stubBackend) DeleteUser(ctx context.Context, in *DeleteUserInput) (*DeleteUserOutput, error) {
	return reply[DeleteUserOutput](ctx, b, "DeleteUser", in)
}
func (b *stubBackend) ListUsers(ctx context.Context, in *ListUsersInput) (*ListUsersOutput, error) {
	return reply[ListUsersOutput](ctx, b, "ListUsers", in)
}
func (b *stubBackend) AssociateFaces(ctx context.Context, in *AssociateFacesInput) (*AssociateFacesOutput, error) {
	return reply[AssociateFacesOutput](ctx, b, "AssociateFaces", in)
}
func (b *stubBackend) DisassociateFaces(ctx context.Context, in *DisassociateFacesInput) (*DisassociateFacesOutput, error) {
	return reply[DisassociateFacesOutput](ctx, b, "DisassociateFaces", in)
}
func (b *stubBackend) SearchFaces(ctx context.Context, in *SearchFacesInput) (*SearchFacesOutput, error) {
	return reply[SearchFacesOutput](ctx, b, "SearchFaces", in)
}
func (b *stubBackend) SearchFacesByImage(ctx context.Context, in *SearchFacesByImageInput) (*SearchFacesByImageOutput, error) {
	return reply[SearchFacesByImageOutput](ctx, b, "SearchFacesByImage", in)
}
func (b *stubBackend) SearchUsers(ctx context.Context, in *SearchUsersInput) (*SearchUsersOutput, error) {
	return reply[SearchUsersOutput](ctx, b, "SearchUsers", in)
}
func (b *stubBackend) SearchUsersByImage(ctx context.Context, in *SearchUsersByImageInput) (*SearchUsersByImageOutput, error) {
	return reply[SearchUsersByImageOutput](ctx, b, "SearchUsersByImage", in)
}
func (b *stubBackend) DetectFaces(ctx context.Context, in *DetectFacesInput) (*DetectFacesOutput, error) {
	return reply[DetectFacesOutput](ctx, b, "DetectFaces", in)
}
func (b *stubBackend) CompareFaces(ctx context.Context, in *CompareFacesInput) (*CompareFacesOutput, error) {
	return reply[CompareFacesOutput](ctx, b, "CompareFaces", in)
}
func (b *stubBackend) TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error) {
	return reply[TagResourceOutput](ctx, b, "TagResource", in)
}
func (b *stubBackend) UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error) {
	return reply[UntagResourceOutput](ctx, b, "UntagResource", in)
}
func (b *stubBackend) ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	return reply[ListTagsForResourceOutput](ctx, b, "ListTagsForResource", in)
}
