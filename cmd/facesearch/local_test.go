package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestLocalStackServesOneTruth runs the local role as make run-local does and talks to it
// with the AWS SDK and a Kubernetes client at once: a collection created through the
// endpoint is a Collection resource, one declared as a resource answers the endpoint, and a
// face enrolled through the endpoint is found by the next search.
func TestLocalStackServesOneTruth(t *testing.T) {
	ctx := context.Background()
	env := startLocalStack(t, "AKIDLOCALSTACKTEST", "local-stack-secret")

	sdk := localSDK(env["API_ENDPOINT"], "AKIDLOCALSTACKTEST", "local-stack-secret")
	k8s := localKube(t, env)

	// Through the endpoint: the collection becomes a resource.
	created, err := sdk.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String("Front_Desk")})
	if err != nil {
		t.Fatal(err)
	}
	var cols facesearchv1.CollectionList
	if err := k8s.List(ctx, &cols, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	if len(cols.Items) != 1 || cols.Items[0].Spec.CollectionID != "Front_Desk" || !cols.Items[0].IsReady() {
		t.Fatalf("CreateCollection made no ready Collection resource: %+v", cols.Items)
	}
	// One ARN: kubectl shows the one the endpoint answers.
	described, err := sdk.DescribeCollection(ctx, &rekognition.DescribeCollectionInput{CollectionId: aws.String("Front_Desk")})
	if err != nil {
		t.Fatal(err)
	}
	arn := cols.Items[0].Status.CollectionARN
	if arn == "" || aws.ToString(created.CollectionArn) != arn || aws.ToString(described.CollectionARN) != arn {
		t.Fatalf("ARNs differ: status %q, CreateCollection %q, DescribeCollection %q", arn, aws.ToString(created.CollectionArn), aws.ToString(described.CollectionARN))
	}
	_, err = sdk.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String("Front_Desk")})
	var exists *types.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("a second CreateCollection: want ResourceAlreadyExistsException, got %v", err)
	}

	// Through Kubernetes: a declared collection answers the endpoint.
	declared := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: "declared", Namespace: "default"},
		Spec:       facesearchv1.CollectionSpec{Storage: cols.Items[0].Spec.Storage, Index: facesearchv1.IndexSpec{Shards: 1, Replicas: ptr.To[int32](1)}},
	}
	declared.Spec.Storage.CredentialsSecretRef = corev1.LocalObjectReference{Name: cols.Items[0].Spec.Storage.CredentialsSecretRef.Name}
	if err := k8s.Create(ctx, declared); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		out, err := sdk.DescribeCollection(ctx, &rekognition.DescribeCollectionInput{CollectionId: aws.String("declared")})
		if err == nil && aws.ToString(out.FaceModelVersion) == "faceplugin-1.0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the declared collection never answered DescribeCollection: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Enrol through the endpoint and search at once.
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", "John_Schneider", "*.jpg"))
	sort.Strings(files)
	var faceIDs []string
	for _, f := range files[:2] {
		img, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := sdk.IndexFaces(ctx, &rekognition.IndexFacesInput{CollectionId: aws.String("Front_Desk"), Image: &types.Image{Bytes: img},
			ExternalImageId: aws.String(filepath.Base(f)), MaxFaces: aws.Int32(1)})
		if err != nil || len(out.FaceRecords) != 1 {
			t.Fatalf("IndexFaces %s: %v", f, err)
		}
		faceIDs = append(faceIDs, aws.ToString(out.FaceRecords[0].Face.FaceId))
	}
	if _, err := sdk.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String("Front_Desk"), UserId: aws.String("schneider")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.AssociateFaces(ctx, &rekognition.AssociateFacesInput{CollectionId: aws.String("Front_Desk"), UserId: aws.String("schneider"), FaceIds: faceIDs}); err != nil {
		t.Fatal(err)
	}
	probe, err := os.ReadFile(files[8])
	if err != nil {
		t.Fatal(err)
	}
	res, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{CollectionId: aws.String("Front_Desk"), Image: &types.Image{Bytes: probe}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UserMatches) == 0 || aws.ToString(res.UserMatches[0].User.UserId) != "schneider" {
		t.Fatalf("the search right after enrolment found %+v, want schneider", res.UserMatches)
	}

	// The console shows the same: the collection made through the endpoint, its user.
	console := consoleSignIn(t, env["CONSOLE_URL"], "AKIDLOCALSTACKTEST", "local-stack-secret")
	page := consoleGet(t, console, env["CONSOLE_URL"]+"collections/Front_Desk")
	for _, want := range []string{`id="collection-details"`, `data-user-id="schneider"`, `id="face-count">2<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the console's page of Front_Desk lacks %s", want)
		}
	}

	// Deleting through the endpoint deletes the resource.
	if _, err := sdk.DeleteCollection(ctx, &rekognition.DeleteCollectionInput{CollectionId: aws.String("Front_Desk")}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.List(ctx, &cols, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, c := range cols.Items {
		if c.Spec.CollectionID == "Front_Desk" {
			t.Fatalf("DeleteCollection left the Collection resource %s", c.Name)
		}
	}
}

// startLocalStack runs the local role in this process, as make run-local does, with the
// endpoint on a free port and the access key given (and more flags of the local role, if
// any), until the test ends. It returns the lines of its env file, written once every
// address answers.
func startLocalStack(t *testing.T, accessKey, secretKey string, args ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runLocal(ctx, append([]string{"--api-bind-address", "127.0.0.1:0", "--kubeconfig", filepath.Join(dir, "kubeconfig"),
			"--env-file", filepath.Join(dir, "env"), "--zap-log-level", "error"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("the local stack ended with %v", err)
		}
	})
	env := map[string]string{}
	for deadline := time.Now().Add(3 * time.Minute); len(env) == 0; {
		if data, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				env[k] = v
			}
		}
		select {
		case err := <-done:
			done <- err // for the clean-up
			t.Fatalf("the local stack ended before it served: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the local stack did not serve within 3 minutes")
		}
	}
	return env
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleSignIn signs in to the console at url (…/console/) with an access key pair, as a
// browser does, and returns the browser.
func consoleSignIn(t *testing.T, url, keyID, secret string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	form := csrfField.FindStringSubmatch(consoleGet(t, c, url+"signin"))
	if form == nil {
		t.Fatal("no sign-in form")
	}
	resp, err := c.PostForm(url+"signin", neturl.Values{"csrf": {form[1]}, "access_key_id": {keyID}, "secret_access_key": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/collections" {
		t.Fatalf("signing in to the console: %s at %s", resp.Status, resp.Request.URL.Path)
	}
	return c
}

func consoleGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

// localSDK is an AWS SDK client of an endpoint on 127.0.0.1 (plain HTTP) with a key pair.
func localSDK(addr, key, secret string) *rekognition.Client {
	return rekognition.New(rekognition.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
}

// localKube is an administrator's client of the local stack's control plane.
func localKube(t *testing.T, env map[string]string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env["KUBECONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return k8s
}
