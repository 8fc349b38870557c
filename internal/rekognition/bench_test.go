package rekognition

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// benchOut is the stub's fixed answer to SearchUsersByImage, so that the
// benchmark measures the handler only.
var benchOut = &SearchUsersByImageOutput{
	FaceModelVersion: ptr(testModelVersion),
	SearchedFace:     &SearchedFaceDetails{FaceDetail: testDetail},
	UserMatches: []UserMatch{
		{Similarity: ptr(float32(99.1)), User: &MatchedUser{UserId: ptr("alice"), UserStatus: UserStatusActive}},
		{Similarity: ptr(float32(91.3)), User: &MatchedUser{UserId: ptr("bob"), UserStatus: UserStatusActive}},
	},
}

// BenchmarkHandler measures the per-request overhead of the handler (SigV4
// verification including the body hash, JSON decoding with base64 image,
// validation, encoding) for SearchUsersByImage with images of two sizes. The
// request is signed once outside the loop; the handler's clock is pinned to
// the signing time.
func BenchmarkHandler(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			img := bytes.Repeat([]byte{0xff, 0xd8, 0x42}, size/3)
			body := []byte(`{"CollectionId":"bench","MaxUsers":5,"Image":{"Bytes":"` + base64.StdEncoding.EncodeToString(img) + `"}}`)
			at := time.Now()
			stub := newStubBackend()
			stub.discard = true
			stub.answer("SearchUsersByImage", benchOut)
			h := NewHandler(stub, HandlerOptions{
				Credentials: testCreds(), RateLimit: -1, Now: func() time.Time { return at },
			})
			proto, _ := http.NewRequest(http.MethodPost, "http://rekognition.local/", bytes.NewReader(body))
			proto.Header.Set("Content-Type", ContentType)
			proto.Header.Set("X-Amz-Target", TargetPrefix+"SearchUsersByImage")
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
				proto, sha256Hex(body), "rekognition", testRegion, at); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := proto.Clone(context.Background())
				r.Body = httpBody(body)
				r.ContentLength = int64(len(body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return "image=" + itoa(n>>20) + "MiB"
	}
	return "image=" + itoa(n>>10) + "KiB"
}

func itoa(n int) string { return string(rune('0'+n/10%10)) + string(rune('0'+n%10)) }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func httpBody(b []byte) readCloser { return readCloser{bytes.NewReader(b)} }
