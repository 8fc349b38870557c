// Command client is the end-to-end suite's in-cluster application: the AWS SDK for Go, run in
// a Pod, calling the endpoint's Service by its cluster DNS name as any application would.
//
//	client enrol  -collection C -user U -faces photos/U/a.jpg,photos/U/b.jpg
//	client search -collection C -case U=photos/U/c.jpg [-case ...]
//	client load   -collection C -duration 40s -case U=photos/U/c.jpg [-case ...]
//
// The endpoint, key pair and CA come from FACESEARCH_ENDPOINT, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and FACESEARCH_CA_FILE. Photos are S3Objects in FACESEARCH_BUCKET.
// Every mode ends with one line "RESULT <json>" that the suite reads from the Pod's log.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
)

// Result is what the suite reads back.
type Result struct {
	Mode   string   `json:"mode"`
	OK     int      `json:"ok"`
	Failed int      `json:"failed"`
	Wrong  int      `json:"wrong"`
	Errors []string `json:"errors,omitempty"`
	// Matches maps each searched photo to the user found first and its similarity.
	Matches map[string]string `json:"matches,omitempty"`
	FaceIDs []string          `json:"faceIds,omitempty"`
}

type cases []string

func (c *cases) String() string     { return strings.Join(*c, ",") }
func (c *cases) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: client enrol|search|load [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	collection := fs.String("collection", "", "CollectionId")
	user := fs.String("user", "", "UserId (enrol)")
	faces := fs.String("faces", "", "comma-separated object keys to index and associate (enrol)")
	duration := fs.Duration("duration", 30*time.Second, "how long to search (load)")
	workers := fs.Int("workers", 2, "searches in flight (load)")
	var cs cases
	fs.Var(&cs, "case", "USER=OBJECT-KEY: a photo and who should be found in it (search, load)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	ctx := context.Background()
	sdk, err := newClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bucket := envOr("FACESEARCH_BUCKET", "faces")
	res := Result{Mode: mode, Matches: map[string]string{}}
	switch mode {
	case "enrol":
		err = enrol(ctx, sdk, bucket, *collection, *user, strings.Split(*faces, ","), &res)
	case "search":
		for _, c := range cs {
			search(ctx, sdk, bucket, *collection, c, &res, nil)
		}
	case "load":
		load(ctx, sdk, bucket, *collection, cs, *duration, *workers, &res)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		res.Failed++
		res.Errors = append(res.Errors, err.Error())
	}
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	if res.Failed > 0 || res.Wrong > 0 {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newClient() (*rekognition.Client, error) {
	endpoint := os.Getenv("FACESEARCH_ENDPOINT")
	if endpoint == "" {
		return nil, errors.New("FACESEARCH_ENDPOINT is not set")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if f := os.Getenv("FACESEARCH_CA_FILE"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", f)
		}
		tlsConfig.RootCAs = pool
	}
	httpClient := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}
	return rekognition.New(rekognition.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   httpClient,
		Credentials: credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
	}), nil
}

func s3Image(bucket, key string) *types.Image {
	return &types.Image{S3Object: &types.S3Object{Bucket: aws.String(bucket), Name: aws.String(key)}}
}

// enrol makes the collection if needed, indexes each photo's largest face, and associates
// the faces with a new user: the Rekognition sequence an application runs.
func enrol(ctx context.Context, sdk *rekognition.Client, bucket, collection, user string, keys []string, res *Result) error {
	_, err := sdk.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String(collection)})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("CreateCollection: %w", err)
	}
	var ids []string
	for _, k := range keys {
		out, err := sdk.IndexFaces(ctx, &rekognition.IndexFacesInput{
			CollectionId: aws.String(collection), Image: s3Image(bucket, k),
			ExternalImageId: aws.String(user), MaxFaces: aws.Int32(1)})
		if err != nil {
			return fmt.Errorf("IndexFaces %s: %w", k, err)
		}
		if len(out.FaceRecords) != 1 {
			return fmt.Errorf("IndexFaces %s: %d faces indexed", k, len(out.FaceRecords))
		}
		ids = append(ids, aws.ToString(out.FaceRecords[0].Face.FaceId))
	}
	if _, err := sdk.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String(collection), UserId: aws.String(user)}); err != nil {
		return fmt.Errorf("CreateUser: %w", err)
	}
	out, err := sdk.AssociateFaces(ctx, &rekognition.AssociateFacesInput{
		CollectionId: aws.String(collection), UserId: aws.String(user), FaceIds: ids})
	if err != nil {
		return fmt.Errorf("AssociateFaces: %w", err)
	}
	if len(out.AssociatedFaces) != len(ids) {
		return fmt.Errorf("AssociateFaces: %d of %d faces associated (%v)", len(out.AssociatedFaces), len(ids), out.UnsuccessfulFaceAssociations)
	}
	res.OK = len(ids)
	res.FaceIDs = ids
	return nil
}

// search runs one case and counts it; mu guards res when load runs cases concurrently.
func search(ctx context.Context, sdk *rekognition.Client, bucket, collection, c string, res *Result, mu *sync.Mutex) {
	want, key, _ := strings.Cut(c, "=")
	out, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{
		CollectionId: aws.String(collection), Image: s3Image(bucket, key), MaxUsers: aws.Int32(3)})
	if mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	at := time.Now().UTC().Format("15:04:05.000")
	switch {
	case err != nil:
		res.Failed++
		if len(res.Errors) < 20 {
			res.Errors = append(res.Errors, at+" "+key+": "+err.Error())
		}
	case len(out.UserMatches) == 0 || aws.ToString(out.UserMatches[0].User.UserId) != want:
		res.Wrong++
		got := "nobody"
		if len(out.UserMatches) > 0 {
			got = aws.ToString(out.UserMatches[0].User.UserId)
		}
		if len(res.Errors) < 20 {
			res.Errors = append(res.Errors, fmt.Sprintf("%s %s: found %s, want %s", at, key, got, want))
		}
	default:
		res.OK++
		res.Matches[key] = fmt.Sprintf("%s %.2f", want, aws.ToFloat32(out.UserMatches[0].Similarity))
	}
}

// load searches the cases round-robin from several workers for the duration, printing a
// progress line every 5 s so that the suite can see when searches started to succeed.
func load(ctx context.Context, sdk *rekognition.Client, bucket, collection string, cs []string, d time.Duration, workers int, res *Result) {
	if len(cs) == 0 {
		res.Failed++
		res.Errors = append(res.Errors, "load needs at least one -case")
		return
	}
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i += workers {
				search(ctx, sdk, bucket, collection, cs[i%len(cs)], res, &mu)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			mu.Lock()
			fmt.Printf("PROGRESS ok=%d failed=%d wrong=%d\n", res.OK, res.Failed, res.Wrong)
			mu.Unlock()
		}
	}
}
