package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestSidecarOnTheLocalStack runs the whole in-cluster path without a node: the local stack's
// endpoint, the sidecar role in this process with a real ServiceAccount token from the API
// server, the AWS SDK on localhost with dummy keys. The granted ServiceAccount finds the
// person (SDK and shortcut) and its search is recorded; one without the grant is refused
// with AccessDeniedException.
func TestSidecarOnTheLocalStack(t *testing.T) {
	ctx := context.Background()
	env := startLocalStack(t, "AKIDSIDECARLOCALTEST", "sidecar-local-secret")
	admin := localSDK(env["API_ENDPOINT"], "AKIDSIDECARLOCALTEST", "sidecar-local-secret")
	k8s := localKube(t, env)

	// An application team's collection, enrolled through the endpoint with a key.
	if _, err := admin.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String("lobby")}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", "John_Schneider", "*.jpg"))
	sort.Strings(files)
	var faceIDs []string
	for _, f := range files[:2] {
		img, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := admin.IndexFaces(ctx, &rekognition.IndexFacesInput{CollectionId: aws.String("lobby"), Image: &types.Image{Bytes: img}, MaxFaces: aws.Int32(1)})
		if err != nil || len(out.FaceRecords) != 1 {
			t.Fatalf("IndexFaces %s: %v", f, err)
		}
		faceIDs = append(faceIDs, aws.ToString(out.FaceRecords[0].Face.FaceId))
	}
	if _, err := admin.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String("lobby"), UserId: aws.String("schneider")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AssociateFaces(ctx, &rekognition.AssociateFacesInput{CollectionId: aws.String("lobby"), UserId: aws.String("schneider"), FaceIds: faceIDs}); err != nil {
		t.Fatal(err)
	}
	var cols facesearchv1.CollectionList
	if err := k8s.List(ctx, &cols, client.InNamespace("default")); err != nil || len(cols.Items) != 1 {
		t.Fatalf("collections: %v (%v)", cols.Items, err)
	}
	resource := cols.Items[0].Name

	// RBAC: frontdesk may search it; stranger may not.
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "frontdesk"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "stranger"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "search-lobby"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"facesearch.io"}, Resources: []string{"collections"}, ResourceNames: []string{resource}, Verbs: []string{"search"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "frontdesk"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "search-lobby"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: "frontdesk"}}},
	} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	probe, err := os.ReadFile(files[8])
	if err != nil {
		t.Fatal(err)
	}

	frontdesk := startSidecar(t, k8s, "frontdesk", env["API_ENDPOINT"])
	sdk := localSDK(frontdesk, "any", "any")
	res, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{CollectionId: aws.String("lobby"), Image: &types.Image{Bytes: probe}})
	if err != nil {
		t.Fatalf("SearchUsersByImage through the sidecar: %v", err)
	}
	if len(res.UserMatches) == 0 || aws.ToString(res.UserMatches[0].User.UserId) != "schneider" {
		t.Fatalf("found %+v, want schneider", res.UserMatches)
	}
	// The shortcut: the image as the body, the answer as JSON.
	resp, err := http.Post("http://"+frontdesk+"/search?collection=lobby&maxUsers=1", "image/jpeg", bytes.NewReader(probe))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out rekognition.SearchUsersByImageOutput
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || len(out.UserMatches) != 1 || aws.ToString(out.UserMatches[0].User.UserId) != "schneider" {
		t.Fatalf("POST /search: %d %s (%v)", resp.StatusCode, body, err)
	}
	// Recorded: the sidecar was started with --record.
	var srs facesearchv1.SearchRequestList
	if err := k8s.List(ctx, &srs, client.InNamespace("default"), client.MatchingLabels{"facesearch.io/recorded": "true"}); err != nil {
		t.Fatal(err)
	}
	if len(srs.Items) != 2 {
		t.Fatalf("%d recorded searches, want 2", len(srs.Items))
	}
	for _, sr := range srs.Items {
		if sr.Labels["facesearch.io/service-account"] != "frontdesk" || sr.Spec.Image.Digest == nil || len(sr.Status.UserMatches) == 0 || sr.Status.UserMatches[0].User.UserID != "schneider" {
			t.Errorf("record %s: labels %v, image %+v, matches %+v", sr.Name, sr.Labels, sr.Spec.Image, sr.Status.UserMatches)
		}
	}

	stranger := startSidecar(t, k8s, "stranger", env["API_ENDPOINT"])
	sdk = localSDK(stranger, "any", "any")
	_, err = sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{CollectionId: aws.String("lobby"), Image: &types.Image{Bytes: probe}})
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) {
		t.Fatalf("a ServiceAccount without the grant: %v, want AccessDeniedException", err)
	}
}

// startSidecar runs the sidecar role for a ServiceAccount of the default namespace, with a
// token the API server issued for the endpoint's audience, and returns its address.
func startSidecar(t *testing.T, k8s client.Client, sa, endpoint string) string {
	t.Helper()
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"facesearch.io"}, ExpirationSeconds: ptr.To[int64](600)}}
	if err := k8s.SubResource("token").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: sa}}, req); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(req.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseSidecarFlags([]string{"--listen", "127.0.0.1:0", "--token-file", tokenFile, "--record", "--shutdown-delay", "0s",
		"--endpoint", "http://" + endpoint})
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := newSidecarProxy(f, "", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveSidecar(ctx, f, proxy, logr.Discard(), func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the sidecar ended with %v", err)
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("the sidecar stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar did not listen")
	}
	return ""
}
