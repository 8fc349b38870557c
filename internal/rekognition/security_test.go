package rekognition

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
)

// Real requests against the real handler, signed by the AWS SDK's own signer: the ways in
// that a signature must close.

const (
	secKey    = "AKIDSECURITYTEST0001"
	secSecret = "security-test-secret"
	secKey2   = "AKIDSECURITYTEST0002"
)

// secBackend answers the few operations these tests call and counts what reaches it; any
// other operation is not expected here (the embedded nil Backend panics).
type secBackend struct {
	Backend
	describes, deletes, creates atomic.Int64
	// hold, when set, makes DescribeCollection wait for it.
	hold chan struct{}
}

func (b *secBackend) DescribeCollection(ctx context.Context, _ *DescribeCollectionInput) (*DescribeCollectionOutput, error) {
	b.describes.Add(1)
	if b.hold != nil {
		select {
		case <-b.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &DescribeCollectionOutput{FaceCount: aws.Int64(1)}, nil
}

func (b *secBackend) DeleteCollection(context.Context, *DeleteCollectionInput) (*DeleteCollectionOutput, error) {
	b.deletes.Add(1)
	return &DeleteCollectionOutput{StatusCode: aws.Int32(200)}, nil
}

func (b *secBackend) CreateUser(context.Context, *CreateUserInput) (*CreateUserOutput, error) {
	b.creates.Add(1)
	return &CreateUserOutput{}, nil
}

func newSecServer(t *testing.T, opts HandlerOptions) (*secBackend, *httptest.Server) {
	t.Helper()
	b := &secBackend{}
	opts.Credentials = StaticCredentials{secKey: FullAccess(secSecret), secKey2: FullAccess(secSecret)}
	if opts.RateLimit == 0 {
		opts.RateLimit = -1
	}
	srv := httptest.NewServer(NewHandler(b, opts))
	t.Cleanup(srv.Close)
	return b, srv
}

// signed builds a request to the server signed with the SDK's signer over exactly the
// headers set before signing; extra headers are added after signing.
func signed(t *testing.T, url, key, body string, signHeaders, extra map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range signHeaders {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "rekognition", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	return req
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType") + " " + string(body)
}

func TestOperationIsBoundToTheSignature(t *testing.T) {
	b, srv := newSecServer(t, HandlerOptions{})
	body := `{"CollectionId":"people"}`

	// A signature made over Host and X-Amz-Date only, sent as another operation.
	req := signed(t, srv.URL, secKey, body, nil,
		map[string]string{"X-Amz-Target": TargetPrefix + "DeleteCollection", "Content-Type": ContentType})
	status, answer := send(t, req)
	if status != http.StatusBadRequest || !strings.Contains(answer, TypeInvalidSignature) {
		t.Fatalf("an operation outside the signature got %d %s", status, answer)
	}
	if b.deletes.Load() != 0 {
		t.Fatal("the unsigned operation reached the backend")
	}

	// Signed over the operation, then changed: the signature no longer matches.
	req = signed(t, srv.URL, secKey, body,
		map[string]string{"X-Amz-Target": TargetPrefix + "DescribeCollection", "Content-Type": ContentType},
		map[string]string{"X-Amz-Target": TargetPrefix + "DeleteCollection"})
	if status, answer := send(t, req); status != http.StatusBadRequest || !strings.Contains(answer, TypeInvalidSignature) {
		t.Fatalf("a changed operation got %d %s", status, answer)
	}

	// The SDK signs X-Amz-Target and Content-Type itself: its calls go through.
	c := rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(secKey, secSecret, "")})
	if _, err := c.DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("people")}); err != nil {
		t.Fatalf("the SDK's own request was refused: %v", err)
	}
	if b.deletes.Load() != 0 || b.describes.Load() != 1 {
		t.Fatalf("backend saw %d deletes, %d describes", b.deletes.Load(), b.describes.Load())
	}
}

func TestReplayedMutationIsRefused(t *testing.T) {
	b, srv := newSecServer(t, HandlerOptions{})
	hdr := func(op string) map[string]string {
		return map[string]string{"X-Amz-Target": TargetPrefix + op, "Content-Type": ContentType}
	}
	body := `{"CollectionId":"people","UserId":"alice"}`
	first := signed(t, srv.URL, secKey, body, hdr("CreateUser"), nil)
	replay := first.Clone(context.Background())
	replay.Body = io.NopCloser(strings.NewReader(body))
	if status, answer := send(t, first); status != http.StatusOK {
		t.Fatalf("first CreateUser: %d %s", status, answer)
	}
	if status, answer := send(t, replay); status != http.StatusBadRequest || !strings.Contains(answer, TypeInvalidSignature) {
		t.Fatalf("the replayed CreateUser got %d %s", status, answer)
	}
	if n := b.creates.Load(); n != 1 {
		t.Fatalf("the backend created %d times", n)
	}

	// Reads are not refused when sent twice (a proxy may retry them).
	read := signed(t, srv.URL, secKey, `{"CollectionId":"people"}`, hdr("DescribeCollection"), nil)
	again := read.Clone(context.Background())
	again.Body = io.NopCloser(strings.NewReader(`{"CollectionId":"people"}`))
	for _, r := range []*http.Request{read, again} {
		if status, answer := send(t, r); status != http.StatusOK {
			t.Fatalf("DescribeCollection: %d %s", status, answer)
		}
	}

	// The SDK signs every attempt anew: many mutating calls in a row all pass.
	c := rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(secKey, secSecret, "")})
	for i := 0; i < 5; i++ {
		if _, err := c.CreateUser(context.Background(), &rek.CreateUserInput{CollectionId: aws.String("people"), UserId: aws.String("bob")}); err != nil {
			t.Fatalf("SDK CreateUser %d: %v", i, err)
		}
	}
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}
func (c *countingBody) Close() error { return nil }

func TestHeadersAreCheckedBeforeAnyWork(t *testing.T) {
	b := &secBackend{hold: make(chan struct{})}
	h := NewHandler(b, HandlerOptions{Credentials: StaticCredentials{secKey: FullAccess(secSecret)},
		RateLimit: -1, MaxConcurrent: 1, QueueWait: time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(b.hold)

	// The one slot is taken by an authenticated request that waits in the backend.
	busy := make(chan int, 1)
	go func() {
		c := rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(secKey, secSecret, "")})
		_, _ = c.DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("people")})
		busy <- 1
	}()
	for b.describes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	big := bytes.Repeat([]byte("x"), 4<<20)
	tests := []struct {
		name, key, want string
		mutate          func(*http.Request)
	}{
		{"unknown key", "AKIDNOBODYKNOWSTHIS", TypeUnrecognizedClient, nil},
		{"no signature at all", secKey, TypeMissingAuthenticationToken, func(r *http.Request) { r.Header.Del("Authorization") }},
		{"expired", secKey, TypeInvalidSignature, func(r *http.Request) {
			old := time.Now().Add(-time.Hour).UTC()
			r.Header.Set("X-Amz-Date", old.Format(amzDateFormat))
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), time.Now().UTC().Format("20060102"), old.Format("20060102"), 1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signed(t, srv.URL, tt.key, string(big),
				map[string]string{"X-Amz-Target": TargetPrefix + "DescribeCollection", "Content-Type": ContentType}, nil)
			if tt.mutate != nil {
				tt.mutate(req)
			}
			body := &countingBody{r: bytes.NewReader(big)}
			rec := httptest.NewRecorder()
			sreq := httptest.NewRequest(http.MethodPost, "/", body)
			sreq.Header = req.Header
			sreq.Host = req.Host
			h.ServeHTTP(rec, sreq)
			var eb struct {
				Type string `json:"__type"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &eb)
			if eb.Type != tt.want {
				t.Fatalf("got %d %s, want %s (the busy slot must not answer first)", rec.Code, rec.Body.String(), tt.want)
			}
			if n := body.read.Load(); n != 0 {
				t.Fatalf("%d body bytes were read before the headers were refused", n)
			}
		})
	}
}

func TestOneKeyCannotTakeEverySlot(t *testing.T) {
	b, srv := newSecServer(t, HandlerOptions{MaxConcurrent: 8, MaxConcurrentPerKey: 2})
	b.hold = make(chan struct{})
	defer close(b.hold)
	client := func(key string) *rek.Client {
		return rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(key, secSecret, "")})
	}
	// Key 1 fills its share with requests that wait in the backend.
	for i := 0; i < 2; i++ {
		go func() {
			_, _ = client(secKey).DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("people")})
		}()
	}
	for b.describes.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := client(secKey).DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("people")})
	if errCode(err) != TypeProvisionedThroughputExceeded {
		t.Fatalf("a third request of the same key: %v, want %s", err, TypeProvisionedThroughputExceeded)
	}
	// Another key is still served at once (its request waits in the backend like the others).
	done := make(chan error, 1)
	go func() {
		_, err := client(secKey2).DescribeCollection(context.Background(), &rek.DescribeCollectionInput{CollectionId: aws.String("people")})
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for b.describes.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("another key's request never reached the backend")
		}
		time.Sleep(time.Millisecond)
	}
}
