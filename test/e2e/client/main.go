// Command client is the end-to-end suite's in-cluster application: the AWS SDK for Go, run in
// a Pod, calling the endpoint's Service by its cluster DNS name as any application would.
//
//	client enrol  -collection C -user U -faces photos/U/a.jpg,photos/U/b.jpg
//	client search -collection C -case U=photos/U/c.jpg [-case ...]
//	client load   -collection C -duration 40s -case U=photos/U/c.jpg [-case ...] [-write-collection W -write-photo K]
//	client token  -collection C -endpoints https://IP:PORT,https://IP:PORT -server-name NAME
//	client sidecar -collection C -case U=photos/U/c.jpg [-photo-file F -photo-user U] [-expect-error TYPE]
//
// load also indexes the photo K into W in a loop when asked, and checks at the end that every
// face it was told was indexed is there exactly once (none lost, none duplicated by retries).
// token sends each mutating call with a ClientRequestToken to one api replica, then the same
// call again to another, as an SDK retry after a failover would.
//
// sidecar runs in a Pod that has the facesearch sidecar: the SDK calls it on localhost with
// dummy keys (it signs, the sidecar drops the signature and sends the pod's token), and
// -photo-file is POSTed as raw bytes to the sidecar's /search shortcut. With -expect-error,
// every call must fail with that error type instead (a ServiceAccount without the grant).
//
// The endpoint, key pair and CA come from FACESEARCH_ENDPOINT, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and FACESEARCH_CA_FILE. Photos are S3Objects in FACESEARCH_BUCKET.
// Every mode ends with one line "RESULT <json>" that the suite reads from the Pod's log.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"
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
	// Attempts are the HTTP requests the SDK sent, AttemptFailures those that failed (a
	// transport error or a 5xx/throttling answer) and were retried or gave up.
	Attempts        int `json:"attempts"`
	AttemptFailures int `json:"attemptFailures"`
	// Writes succeeded, and of the faces they indexed, Lost are missing and Duplicated are
	// there more than once (load with -write-collection).
	Writes, WriteFailed, Lost, Duplicated int
	// Rate is the searches per second, P50 and P99 their latency in milliseconds (load).
	Rate     float64 `json:"rate"`
	P50, P99 float64
}

// attempts counts the SDK's HTTP attempts and the failed ones.
type attempts struct {
	next         http.RoundTripper
	mu           sync.Mutex
	sent, failed int
}

func (a *attempts) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(r)
	a.mu.Lock()
	a.sent++
	if err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusBadRequest && strings.Contains(resp.Header.Get("X-Amzn-Errortype"), "Throttling")) {
		a.failed++
	}
	a.mu.Unlock()
	return resp, err
}

var counted *attempts

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
	writeCollection := fs.String("write-collection", "", "CollectionId to index -write-photo into in a loop meanwhile (load)")
	writePhoto := fs.String("write-photo", "", "object key of the photo the writer indexes (load)")
	endpoints := fs.String("endpoints", "", "comma-separated base URLs of api replicas (token)")
	serverName := fs.String("server-name", "", "TLS server name of the replicas' certificate (token)")
	photoFile := fs.String("photo-file", "", "a photo to POST to the sidecar's /search shortcut (sidecar)")
	photoUser := fs.String("photo-user", "", "who should be found in -photo-file (sidecar)")
	expectError := fs.String("expect-error", "", "the error type every call must end with (sidecar)")
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
		load(ctx, sdk, bucket, *collection, cs, *duration, *workers, &res, *writeCollection, *writePhoto)
	case "sidecar":
		sidecar(ctx, sdk, bucket, *collection, cs, *photoFile, *photoUser, *expectError, &res)
	case "token":
		err = tokens(ctx, *collection, strings.Split(*endpoints, ","), *serverName, &res)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		res.Failed++
		res.Errors = append(res.Errors, err.Error())
	}
	res.Attempts, res.AttemptFailures = counted.sent, counted.failed
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	if res.Failed > 0 || res.Wrong > 0 || res.Lost > 0 || res.Duplicated > 0 {
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
	return newClientFor(os.Getenv("FACESEARCH_ENDPOINT"), "")
}

// newClientFor is an SDK client of one endpoint; serverName, when set, is the name the
// endpoint's certificate must hold (to reach a replica by its pod address).
func newClientFor(endpoint, serverName string) (*rekognition.Client, error) {
	if endpoint == "" {
		return nil, errors.New("FACESEARCH_ENDPOINT is not set")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
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
	if counted == nil {
		counted = &attempts{}
	}
	counted.next = &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	httpClient := &http.Client{Timeout: 60 * time.Second, Transport: counted}
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
// progress line every 5 s so that the suite can see when searches started to succeed. With
// writeCollection, one more worker indexes writePhoto there under a new ExternalImageId each
// time, and the faces are checked and deleted at the end.
func load(ctx context.Context, sdk *rekognition.Client, bucket, collection string, cs []string, d time.Duration, workers int, res *Result, writeCollection, writePhoto string) {
	if len(cs) == 0 {
		res.Failed++
		res.Errors = append(res.Errors, "load needs at least one -case")
		return
	}
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	var latencies []time.Duration
	for w := range workers {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i += workers {
				t0 := time.Now()
				search(ctx, sdk, bucket, collection, cs[i%len(cs)], res, &mu)
				mu.Lock()
				latencies = append(latencies, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	run := fmt.Sprintf("w%d-", time.Now().UnixNano())
	indexed := map[string]string{} // ExternalImageId -> FaceId
	if writeCollection != "" {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				ext := fmt.Sprintf("%s%d", run, i)
				out, err := sdk.IndexFaces(ctx, &rekognition.IndexFacesInput{CollectionId: aws.String(writeCollection),
					Image: s3Image(bucket, writePhoto), ExternalImageId: aws.String(ext), MaxFaces: aws.Int32(1)})
				mu.Lock()
				switch {
				case err != nil:
					res.WriteFailed++
					if len(res.Errors) < 20 {
						res.Errors = append(res.Errors, time.Now().UTC().Format("15:04:05.000")+" IndexFaces: "+err.Error())
					}
				case len(out.FaceRecords) != 1:
					res.WriteFailed++
				default:
					res.Writes++
					indexed[ext] = aws.ToString(out.FaceRecords[0].Face.FaceId)
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			mu.Lock()
			fmt.Printf("PROGRESS ok=%d failed=%d wrong=%d\n", res.OK, res.Failed, res.Wrong)
			mu.Unlock()
		}
	}
	res.Rate = float64(len(latencies)) / time.Since(start).Seconds()
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		res.P50 = float64(latencies[n/2].Microseconds()) / 1000
		res.P99 = float64(latencies[min(n-1, n*99/100)].Microseconds()) / 1000
	}
	if writeCollection != "" {
		checkWrites(ctx, sdk, writeCollection, run, indexed, res)
	}
}

// checkWrites lists the faces the writer indexed: each success must be there once, and
// nothing beyond one face per ExternalImageId (an SDK retry of an IndexFaces that had landed
// indexes the same image again, which must not add a face). It deletes them after.
func checkWrites(ctx context.Context, sdk *rekognition.Client, collection, run string, indexed map[string]string, res *Result) {
	found := map[string][]string{}
	var token *string
	for {
		out, err := sdk.ListFaces(ctx, &rekognition.ListFacesInput{CollectionId: aws.String(collection), NextToken: token, MaxResults: aws.Int32(4096)})
		if err != nil {
			res.Failed++
			res.Errors = append(res.Errors, "ListFaces: "+err.Error())
			return
		}
		for _, f := range out.Faces {
			if ext := aws.ToString(f.ExternalImageId); strings.HasPrefix(ext, run) {
				found[ext] = append(found[ext], aws.ToString(f.FaceId))
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	var ids []string
	for ext, faces := range found {
		if len(faces) > 1 {
			res.Duplicated += len(faces) - 1
			res.Errors = append(res.Errors, fmt.Sprintf("%s indexed %d times", ext, len(faces)))
		}
		ids = append(ids, faces...)
	}
	for ext, id := range indexed {
		if !slices.Contains(found[ext], id) {
			res.Lost++
			res.Errors = append(res.Errors, fmt.Sprintf("face %s of %s was indexed and is gone", id, ext))
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), 4096)
		if _, err := sdk.DeleteFaces(ctx, &rekognition.DeleteFacesInput{CollectionId: aws.String(collection), FaceIds: ids[:n]}); err != nil {
			res.Errors = append(res.Errors, "DeleteFaces: "+err.Error())
			return
		}
		ids = ids[n:]
	}
}

// tokens sends CreateUser and DeleteUser with a ClientRequestToken to the first replica and
// then the same call to each other replica: every replica must answer as the first did (a
// retried DeleteUser that already took effect succeeds), and a token reused with other
// parameters is refused with IdempotentParameterMismatchException.
func tokens(ctx context.Context, collection string, endpoints []string, serverName string, res *Result) error {
	if len(endpoints) < 2 {
		return fmt.Errorf("token needs two replicas or more, got %v", endpoints)
	}
	var clients []*rekognition.Client
	for _, ep := range endpoints {
		c, err := newClientFor(ep, serverName)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	user := fmt.Sprintf("token-user-%d", time.Now().UnixNano())
	create := fmt.Sprintf("create-%d", time.Now().UnixNano())
	remove := fmt.Sprintf("delete-%d", time.Now().UnixNano())
	for i, c := range clients {
		if _, err := c.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String(collection), UserId: aws.String(user), ClientRequestToken: aws.String(create)}); err != nil {
			return fmt.Errorf("CreateUser with token %s on replica %d (%s): %w", create, i, endpoints[i], err)
		}
		res.OK++
	}
	_, err := clients[len(clients)-1].CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String(collection), UserId: aws.String(user + "-other"), ClientRequestToken: aws.String(create)})
	var mismatch *types.IdempotentParameterMismatchException
	if !errors.As(err, &mismatch) {
		return fmt.Errorf("CreateUser reusing token %s for another user on replica %d: %w, want IdempotentParameterMismatchException", create, len(clients)-1, err)
	}
	res.OK++
	for i, c := range clients {
		if _, err := c.DeleteUser(ctx, &rekognition.DeleteUserInput{CollectionId: aws.String(collection), UserId: aws.String(user), ClientRequestToken: aws.String(remove)}); err != nil {
			return fmt.Errorf("DeleteUser with token %s on replica %d (%s): %w", remove, i, endpoints[i], err)
		}
		res.OK++
	}
	out, err := clients[0].ListUsers(ctx, &rekognition.ListUsersInput{CollectionId: aws.String(collection)})
	if err != nil {
		return fmt.Errorf("ListUsers: %w", err)
	}
	for _, u := range out.Users {
		if aws.ToString(u.UserId) == user {
			return fmt.Errorf("user %s is still there after DeleteUser", user)
		}
	}
	return nil
}

// sidecar searches through the pod's sidecar: the SDK's requests and the raw-image shortcut.
func sidecar(ctx context.Context, sdk *rekognition.Client, bucket, collection string, cs []string, photoFile, photoUser, expectError string, res *Result) {
	check := func(what string, errType string, err error) {
		if errType == expectError {
			res.OK++
			return
		}
		res.Wrong++
		res.Errors = append(res.Errors, fmt.Sprintf("%s: error %q (%v), want %q", what, errType, err, expectError))
	}
	for _, c := range cs {
		if expectError == "" {
			search(ctx, sdk, bucket, collection, c, res, nil)
			continue
		}
		_, key, _ := strings.Cut(c, "=")
		_, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{
			CollectionId: aws.String(collection), Image: s3Image(bucket, key), MaxUsers: aws.Int32(3)})
		var api smithy.APIError
		errType := ""
		if errors.As(err, &api) {
			errType = api.ErrorCode()
		} else if err != nil {
			errType = "transport"
		}
		check(key, errType, err)
	}
	if photoFile == "" {
		return
	}
	img, err := os.ReadFile(photoFile)
	if err != nil {
		res.Failed++
		res.Errors = append(res.Errors, err.Error())
		return
	}
	u := strings.TrimSuffix(os.Getenv("FACESEARCH_ENDPOINT"), "/") + "/search?maxUsers=3&collection=" + url.QueryEscape(collection)
	resp, err := http.Post(u, "image/jpeg", bytes.NewReader(img))
	if err != nil {
		res.Failed++
		res.Errors = append(res.Errors, "POST /search: "+err.Error())
		return
	}
	defer resp.Body.Close()
	var out struct {
		UserMatches []struct {
			Similarity float64
			User       struct {
				UserID string `json:"UserId"`
			}
		}
	}
	body, _ := io.ReadAll(resp.Body)
	if expectError != "" {
		check("POST /search", resp.Header.Get("X-Amzn-Errortype"), errors.New(string(body)))
		return
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK {
		res.Failed++
		res.Errors = append(res.Errors, fmt.Sprintf("POST /search: %d %s", resp.StatusCode, body))
		return
	}
	if len(out.UserMatches) == 0 || out.UserMatches[0].User.UserID != photoUser {
		res.Wrong++
		res.Errors = append(res.Errors, fmt.Sprintf("POST /search: %s, want %s first", body, photoUser))
		return
	}
	res.OK++
	res.Matches[photoFile] = fmt.Sprintf("%s %.2f", photoUser, out.UserMatches[0].Similarity)
}
