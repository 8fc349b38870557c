package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// generation is the collection's last commit, read by a fresh Store.
func generation(t *testing.T, f *testenv.Bucket, coll string) uint64 {
	t.Helper()
	d, err := f.Store().DescribeCollection(context.Background(), coll)
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// userCall is one of the four operations with a ClientRequestToken; variant 0 and 1 are two
// different sets of parameters.
type userCall func(s *store.Store, coll, token string, variant int) (*store.AssociateFacesResult, error)

// tokenCase is an operation on a collection prepared for it; meanwhile changes the
// collection after the first call so that doing the call again would answer otherwise.
type tokenCase struct {
	name      string
	prepare   func(t *testing.T, s *store.Store, coll string) []string
	call      func(faces []string) userCall
	meanwhile func(t *testing.T, s *store.Store, coll string, faces []string)
}

// unknownFace is a FaceId of no face: it puts a failure into the recorded answers.
var unknownFace = uuid.NewSHA1(uuid.NameSpaceOID, []byte("no such face")).String()

func indexed(t *testing.T, s *store.Store, coll string, imgs ...int) []string {
	t.Helper()
	var ids []string
	for _, i := range imgs {
		recs, err := s.IndexFaces(context.Background(), coll, []store.NewFace{face(i)}, store.IndexFacesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, recs[0].FaceID)
	}
	return ids
}

func mustUser(t *testing.T, s *store.Store, coll, user string, faces ...string) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, coll, user, store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(faces) > 0 {
		if _, err := s.AssociateFaces(ctx, coll, user, faces, store.AssociateFacesOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func tokenOpts(token string) store.UserOptions { return store.UserOptions{ClientRequestToken: token} }

var tokenCases = []tokenCase{{
	name: "CreateUser",
	call: func([]string) userCall {
		return func(s *store.Store, coll, token string, v int) (*store.AssociateFacesResult, error) {
			return nil, s.CreateUser(context.Background(), coll, []string{"new", "other"}[v], tokenOpts(token))
		}
	},
	// Gone, the user would be created again by a call done twice.
	meanwhile: func(t *testing.T, s *store.Store, coll string, _ []string) {
		if err := s.DeleteUser(context.Background(), coll, "new", store.UserOptions{}); err != nil {
			t.Fatal(err)
		}
	},
}, {
	name: "DeleteUser",
	prepare: func(t *testing.T, s *store.Store, coll string) []string {
		faces := indexed(t, s, coll, 1)
		mustUser(t, s, coll, "u1", faces...)
		mustUser(t, s, coll, "u2")
		return faces
	},
	call: func([]string) userCall {
		return func(s *store.Store, coll, token string, v int) (*store.AssociateFacesResult, error) {
			return nil, s.DeleteUser(context.Background(), coll, []string{"u1", "u2"}[v], tokenOpts(token))
		}
	},
}, {
	name: "AssociateFaces",
	prepare: func(t *testing.T, s *store.Store, coll string) []string {
		faces := indexed(t, s, coll, 1, 2, 3)
		mustUser(t, s, coll, "u")
		return faces
	},
	call: func(faces []string) userCall {
		return func(s *store.Store, coll, token string, v int) (*store.AssociateFacesResult, error) {
			ids := [][]string{{faces[0], faces[1], unknownFace}, {faces[2]}}[v]
			return s.AssociateFaces(context.Background(), coll, "u", ids, store.AssociateFacesOptions{UserOptions: tokenOpts(token)})
		}
	},
	// Off the user, a face would be associated (and committed) again by a call done twice.
	meanwhile: func(t *testing.T, s *store.Store, coll string, faces []string) {
		if _, err := s.DisassociateFaces(context.Background(), coll, "u", faces[1:2], store.UserOptions{}); err != nil {
			t.Fatal(err)
		}
	},
}, {
	name: "DisassociateFaces",
	prepare: func(t *testing.T, s *store.Store, coll string) []string {
		faces := indexed(t, s, coll, 1, 2)
		mustUser(t, s, coll, "u", faces...)
		return faces
	},
	call: func(faces []string) userCall {
		return func(s *store.Store, coll, token string, v int) (*store.AssociateFacesResult, error) {
			ids := [][]string{{faces[0], unknownFace}, {faces[1]}}[v]
			return s.DisassociateFaces(context.Background(), coll, "u", ids, tokenOpts(token))
		}
	},
}}

// TestTokenAnsweredOnAnyStore makes each call with a token on one Store and again on
// another (two api replicas): the second gets the first answer and commits nothing, even
// where doing the call again would answer otherwise; the token with other parameters is
// IdempotentParameterMismatch on both.
func TestTokenAnsweredOnAnyStore(t *testing.T) {
	f := newFixture(t)
	for i, tc := range tokenCases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := f.Store(), f.Store()
			coll := fmt.Sprintf("c%d", i)
			mustCreate(t, a, coll)
			var faces []string
			if tc.prepare != nil {
				faces = tc.prepare(t, a, coll)
			}
			call := tc.call(faces)
			before := generation(t, f, coll)
			first, err := call(a, coll, "tok", 0)
			if err != nil {
				t.Fatal(err)
			}
			if g := generation(t, f, coll); g != before+1 {
				t.Fatalf("the first call made %d commits, want 1", g-before)
			}
			if tc.meanwhile != nil {
				tc.meanwhile(t, a, coll, faces)
			}
			after := generation(t, f, coll)
			for _, s := range []*store.Store{b, a, f.Store()} {
				again, err := call(s, coll, "tok", 0)
				if err != nil {
					t.Fatalf("the same call again: %v", err)
				}
				if !reflect.DeepEqual(again, first) {
					t.Fatalf("the same call again answered %+v, first %+v", again, first)
				}
				_, err = call(s, coll, "tok", 1)
				wantCode(t, err, errs.IdempotentParameterMismatch)
			}
			if g := generation(t, f, coll); g != after {
				t.Fatalf("the calls again made %d commits", g-after)
			}
			// Another token is another call.
			if _, err := call(b, coll, "tok-2", 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTokenRaceCommitsOnce holds one Store's commit at the proxy while the other Store
// commits the same call: the held one loses the race, decides again, finds the record and
// answers the same. Then both Stores race freely on many tokens.
func TestTokenRaceCommitsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	proxy := testenv.NewFaultProxy(t, f.Server.Endpoint)
	a, err := store.Open(f.ProxiedConnection(proxy), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := f.Store()
	mustCreate(t, b, "c")
	faces := indexed(t, b, "c", 1, 2)
	mustUser(t, b, "c", "u")
	mustUser(t, b, "c", "gone")

	for _, tc := range []struct {
		name string
		call func(s *store.Store) (*store.AssociateFacesResult, error)
	}{
		{"AssociateFaces", func(s *store.Store) (*store.AssociateFacesResult, error) {
			return s.AssociateFaces(ctx, "c", "u", []string{faces[0], unknownFace}, store.AssociateFacesOptions{UserOptions: tokenOpts("t-assoc")})
		}},
		{"DeleteUser", func(s *store.Store) (*store.AssociateFacesResult, error) {
			return nil, s.DeleteUser(ctx, "c", "gone", tokenOpts("t-del"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := generation(t, f, "c")
			held, release := proxy.Hold(testenv.IsCommit)
			defer release()
			type answer struct {
				res *store.AssociateFacesResult
				err error
			}
			done := make(chan answer, 1)
			go func() {
				res, err := tc.call(a)
				done <- answer{res, err}
			}()
			<-held // a decided on the state before b's commit
			won, err := tc.call(b)
			if err != nil {
				t.Fatal(err)
			}
			release()
			lost := <-done
			if lost.err != nil || !reflect.DeepEqual(lost.res, won) {
				t.Fatalf("the Store that lost the race answered %+v, %v; the winner %+v", lost.res, lost.err, won)
			}
			if g := generation(t, f, "c"); g != before+1 {
				t.Fatalf("%d commits, want 1", g-before)
			}
		})
	}

	t.Run("free", func(t *testing.T) {
		const n = 8
		for i := 0; i < n; i++ {
			mustUser(t, b, "c", fmt.Sprintf("r%d", i))
		}
		before := generation(t, f, "c")
		var wg sync.WaitGroup
		errc := make(chan error, 2*n)
		for i := 0; i < n; i++ {
			for _, s := range []*store.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errc <- s.DeleteUser(ctx, "c", fmt.Sprintf("r%d", i), tokenOpts(fmt.Sprintf("t-r%d", i)))
				}()
			}
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("a DeleteUser racing with its retry: %v", err)
			}
		}
		if g := generation(t, f, "c"); g != before+n {
			t.Fatalf("%d commits for %d calls made twice, want %d", g-before, n, n)
		}
	})
}

// TestTokenAnswerLost lets a commit land in MinIO but loses its answer. When the storage
// client's own retry gets through, the Store finds its own record and answers as if nothing
// happened; when every answer is lost, the caller's retry on another Store gets the answer
// the first call would have had, and nothing is committed again.
func TestTokenAnswerLost(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	proxy := testenv.NewFaultProxy(t, f.Server.Endpoint)
	a, err := store.Open(f.ProxiedConnection(proxy), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := f.Store()
	mustCreate(t, b, "c")
	faces := indexed(t, b, "c", 1, 2, 3, 4)
	mustUser(t, b, "c", "u")
	mustUser(t, b, "c", "v1")
	mustUser(t, b, "c", "v2")

	for _, tc := range []struct {
		name   string
		lost   int // answers lost in a row
		call   func(s *store.Store) (*store.AssociateFacesResult, error)
		answer *store.AssociateFacesResult
	}{
		{"DeleteUser, the client retries", 1, func(s *store.Store) (*store.AssociateFacesResult, error) {
			return nil, s.DeleteUser(ctx, "c", "v1", tokenOpts("t-v1"))
		}, nil},
		{"DeleteUser, every answer lost", 100, func(s *store.Store) (*store.AssociateFacesResult, error) {
			return nil, s.DeleteUser(ctx, "c", "v2", tokenOpts("t-v2"))
		}, nil},
		{"AssociateFaces, the client retries", 1, func(s *store.Store) (*store.AssociateFacesResult, error) {
			return s.AssociateFaces(ctx, "c", "u", []string{faces[0], unknownFace}, store.AssociateFacesOptions{UserOptions: tokenOpts("t-u1")})
		}, &store.AssociateFacesResult{Associated: faces[:1], UserStatus: store.UserStatusActive,
			Unsuccessful: []store.FaceAssociationFailure{{FaceID: unknownFace, Reasons: []string{store.ReasonFaceNotFound}}}}},
		{"AssociateFaces, every answer lost", 100, func(s *store.Store) (*store.AssociateFacesResult, error) {
			return s.AssociateFaces(ctx, "c", "u", faces[1:3], store.AssociateFacesOptions{UserOptions: tokenOpts("t-u2"), Similarity: func(float32) float32 { return 100 }})
		}, &store.AssociateFacesResult{Associated: faces[1:3], UserStatus: store.UserStatusActive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := generation(t, f, "c")
			proxy.FailAnswer(testenv.IsCommit, 1, tc.lost)
			res, err := tc.call(a)
			seen := proxy.Seen()
			proxy.Count(testenv.IsCommit)
			if seen < 2 {
				t.Fatalf("%d commit requests: the storage client did not retry", seen)
			}
			if g := generation(t, f, "c"); g != before+1 {
				t.Fatalf("%d commits landed, want 1", g-before)
			}
			if tc.lost < seen {
				if err != nil || !reflect.DeepEqual(res, tc.answer) {
					t.Fatalf("after the storage client's retry: %+v, %v; want %+v", res, err, tc.answer)
				}
				return
			}
			if !errs.Is(err, errs.StorageUnavailable) {
				t.Fatalf("with every answer lost: %v, want StorageUnavailable", err)
			}
			for _, s := range []*store.Store{b, a} {
				res, err := tc.call(s)
				if err != nil || !reflect.DeepEqual(res, tc.answer) {
					t.Fatalf("the retry: %+v, %v; want %+v", res, err, tc.answer)
				}
			}
			if g := generation(t, f, "c"); g != before+1 {
				t.Fatalf("the retries committed %d more", g-before-1)
			}
		})
	}
}

// clock is a settable clock shared by the Stores of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// snapshotTokens returns the tokens in the newest snapshot's token records.
func snapshotTokens(t *testing.T, f *testenv.Bucket, coll string) string {
	t.Helper()
	var out []string
	for _, o := range listAll(t, f, "tenant-a/collections/"+coll+"/") {
		if strings.HasSuffix(o.key, "/tokens.json") {
			var recs []struct{ Token string }
			if err := json.Unmarshal(o.data, &recs); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out = append(out, r.Token)
			}
		}
	}
	return strings.Join(out, ",")
}

// TestTokenCompactionAndTTL checks that a record answers after compaction, from the
// snapshot, until its TTL; that compaction keeps only the live records; and that an expired
// token is a new call.
func TestTokenCompactionAndTTL(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "tenant-a", Store: store.Options{Now: clk.Now}})
	a := f.Store()
	mustCreate(t, a, "c")
	faces := indexed(t, a, "c", 1, 2)
	for _, u := range []string{"old", "new", "other"} {
		mustUser(t, a, "c", u)
	}
	if err := a.DeleteUser(ctx, "c", "old", tokenOpts("t-old")); err != nil {
		t.Fatal(err)
	}
	clk.advance(40 * time.Minute)
	assoc := func(s *store.Store, ids ...string) (*store.AssociateFacesResult, error) {
		return s.AssociateFaces(ctx, "c", "new", ids, store.AssociateFacesOptions{UserOptions: tokenOpts("t-new")})
	}
	first, err := assoc(a, faces[0], unknownFace)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := snapshotTokens(t, f, "c"); got != "t-old,t-new" {
		t.Fatalf("the snapshot keeps tokens %q", got)
	}
	gen := generation(t, f, "c")

	// A fresh Store reads the records from the snapshot.
	b := f.Store()
	if err := b.DeleteUser(ctx, "c", "old", tokenOpts("t-old")); err != nil {
		t.Fatalf("DeleteUser again after compaction: %v", err)
	}
	if again, err := assoc(b, faces[0], unknownFace); err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("AssociateFaces again after compaction: %+v, %v; first %+v", again, err, first)
	}
	_, err = assoc(b, faces[1])
	wantCode(t, err, errs.IdempotentParameterMismatch)

	// An hour after it, t-old is forgotten: the same call is a new one, and the token may
	// be used for another.
	clk.advance(30 * time.Minute)
	wantCode(t, b.DeleteUser(ctx, "c", "old", tokenOpts("t-old")), errs.ResourceNotFound)
	if g := generation(t, f, "c"); g != gen {
		t.Fatalf("%d commits while the records answered", g-gen)
	}
	if err := b.DeleteUser(ctx, "c", "other", tokenOpts("t-old")); err != nil {
		t.Fatal(err)
	}
	if _, err := assoc(b, faces[0], unknownFace); err != nil {
		t.Fatal(err)
	}
	if err := f.Store().Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := snapshotTokens(t, f, "c"); got != "t-new,t-old" {
		t.Fatalf("the snapshot keeps tokens %q, want the live t-new and the second t-old", got)
	}
	// Past every TTL a snapshot keeps no record, though no call with a token came since to
	// prune them.
	clk.advance(time.Hour)
	indexed(t, a, "c", 3)
	if err := f.Store().Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := snapshotTokens(t, f, "c"); got != "" {
		t.Fatalf("the snapshot keeps expired tokens %q", got)
	}
	gen = generation(t, f, "c")
	if _, err := assoc(a, faces[1]); err != nil {
		t.Fatalf("an expired token is a new call: %v", err)
	}
	if g := generation(t, f, "c"); g != gen+1 {
		t.Fatalf("the call with an expired token made %d commits, want 1", g-gen)
	}
}

// TestTokenOldFormatsLoad reads a snapshot and a commit written before token records
// existed: they load, CreateUser's old per-user token still answers, and the calls made
// since then are not known (no record survives in an old snapshot).
func TestTokenOldFormatsLoad(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.Store()
	mustCreate(t, s, "c")
	indexed(t, s, "c", 1)
	if err := s.DeleteUser(ctx, "c", "nobody", tokenOpts("t-x")); !errs.Is(err, errs.ResourceNotFound) {
		t.Fatal(err)
	}
	mustUser(t, s, "c", "u")
	if err := s.DeleteUser(ctx, "c", "u", tokenOpts("t-del")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	// Make the snapshot an old one: no "tokens" member, no tokens.json.
	var snapKey, logPrefix string
	for _, o := range listAll(t, f, "tenant-a/collections/c/data/") {
		switch {
		case strings.HasSuffix(o.key, "/tokens.json"):
			if err := f.Client.RemoveObject(ctx, f.Name, o.key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(o.key, "/snap/") && strings.HasSuffix(o.key, ".json") && strings.Count(o.key[strings.Index(o.key, "/snap/")+6:], "/") == 0:
			var sn map[string]any
			if err := json.Unmarshal(o.data, &sn); err != nil {
				t.Fatal(err)
			}
			if sn["tokens"] != "tokens.json" {
				t.Fatalf("the snapshot names no token records: %s", o.data)
			}
			delete(sn, "tokens")
			js, _ := json.Marshal(sn)
			putRaw(t, f, o.key, js)
			snapKey = o.key
		case strings.Contains(o.key, "/log/"):
			logPrefix = o.key[:strings.LastIndexByte(o.key, '/')+1]
		}
	}
	if snapKey == "" || logPrefix == "" {
		t.Fatal("no snapshot or log found")
	}
	// An old commit: CreateUser with its token kept on the user only.
	gen := generation(t, f, "c")
	js := []byte(`{"createUser":"legacy","userToken":"t-legacy"}`)
	var e bytes.Buffer
	e.WriteString("FSE1")
	_ = binary.Write(&e, binary.LittleEndian, uint32(len(js)))
	e.Write(js)
	putRaw(t, f, logPrefix+fmt.Sprintf("%020d", gen+1), e.Bytes())

	r := f.Store()
	if u, err := r.GetUser(ctx, "c", "legacy"); err != nil || u.UserStatus != store.UserStatusCreated {
		t.Fatalf("the user of the old commit: %+v, %v", u, err)
	}
	if err := r.CreateUser(ctx, "c", "legacy", tokenOpts("t-legacy")); err != nil {
		t.Fatalf("CreateUser again with the old commit's token: %v", err)
	}
	wantCode(t, r.CreateUser(ctx, "c", "legacy", tokenOpts("t-other")), errs.Conflict)
	// The old snapshot carried no record of t-del: the user is simply not found.
	wantCode(t, r.DeleteUser(ctx, "c", "u", tokenOpts("t-del")), errs.ResourceNotFound)
	if g := generation(t, f, "c"); g != gen+1 {
		t.Fatalf("generation %d, want %d", g, gen+1)
	}
}

func putRaw(t *testing.T, f *testenv.Bucket, key string, data []byte) {
	t.Helper()
	if _, err := f.Client.PutObject(context.Background(), f.Name, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
