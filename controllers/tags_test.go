package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rek "github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/rekognition"
)

// TestApplyTags: tags are read from the JSON annotation and from labels and annotations
// tags.facesearch.io/<key>; a change lands where the key is declared, a new key in the
// JSON, a label value that is no label value moves to the JSON, and a removal clears all.
func TestApplyTags(t *testing.T) {
	g := NewWithT(t)
	col := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{
		Labels: map[string]string{tagKeyPrefix + "env": "prod", tagKeyPrefix + "tier": "gold", "app": "x"},
		Annotations: map[string]string{tagKeyPrefix + "owner": "Team A", tagsAnnotation: `{"cost:center":"42","env":"old"}`,
			"other": "kept"},
	}}
	tags, err := collectionTags(col)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tags).To(Equal(map[string]string{"env": "prod", "tier": "gold", "owner": "Team A", "cost:center": "42"}))

	g.Expect(applyTags(col, map[string]string{"env": "pre prod", "owner": "Team B", "tier": "silver", "a/b": "c"}, []string{"cost:center"})).To(Succeed())
	tags, err = collectionTags(col)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tags).To(Equal(map[string]string{"env": "pre prod", "tier": "silver", "owner": "Team B", "a/b": "c"}))
	g.Expect(col.Labels).To(Equal(map[string]string{tagKeyPrefix + "tier": "silver", "app": "x"}), "\"pre prod\" is no label value: it moves to the JSON")
	g.Expect(col.Annotations[tagKeyPrefix+"owner"]).To(Equal("Team B"))
	var js map[string]string
	g.Expect(json.Unmarshal([]byte(col.Annotations[tagsAnnotation]), &js)).To(Succeed())
	g.Expect(js).To(Equal(map[string]string{"env": "pre prod", "a/b": "c"}))

	g.Expect(applyTags(col, nil, []string{"env", "tier", "owner", "a/b", "absent"})).To(Succeed())
	tags, err = collectionTags(col)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tags).To(BeEmpty())
	g.Expect(col.Labels).To(Equal(map[string]string{"app": "x"}))
	g.Expect(col.Annotations).To(Equal(map[string]string{"other": "kept"}))

	col.Annotations[tagsAnnotation] = "[1]"
	_, err = collectionTags(col)
	g.Expect(err).To(MatchError(ContainSubstring("not a JSON object")))
}

// TestTagsThroughEndpoint drives TagResource, UntagResource and ListTagsForResource with
// the AWS SDK over the endpoint with the operator's CollectionAdmin, both ways: tags given
// at CreateCollection and set with TagResource are on the Collection resource, and tags
// written on the resource as kubectl would are listed.
func TestTagsThroughEndpoint(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "tags-" + ns
	g.Expect(minioClient.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})).To(Succeed())
	admin := &CollectionAdmin{Client: k8sClient, Reader: k8sClient, Search: searchSvc.InNamespace(ns), Namespace: ns, Timeout: waitReady,
		Storage: newCollection(ns, "x", bucket, 1).Spec.Storage}
	const adminKey, readKey, otherKey = "AKIDTAGSADMIN0000001", "AKIDTAGSREADER000001", "AKIDTAGSOTHER0000001"
	creds := rekognition.StaticCredentials{
		adminKey: rekognition.FullAccess("admin-secret"),
		readKey:  {SecretAccessKey: "read-secret", AllowedOperations: []string{"ListTagsForResource", "TagResource"}, AllowedCollections: []string{"tagged"}},
		otherKey: {SecretAccessKey: "other-secret", AllowedOperations: []string{rekognition.AllOperations}, AllowedCollections: []string{"elsewhere"}},
	}
	srv := httptest.NewServer(rekognition.NewHandler(rekognition.NewServiceBackend(searchSvc.InNamespace(ns), admin), rekognition.HandlerOptions{
		Credentials: creds, RateLimit: -1, MaxConcurrent: -1,
	}))
	t.Cleanup(srv.Close)
	sdk := func(key, secret string) *rek.Client {
		return rek.New(rek.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
	}
	c := sdk(adminKey, "admin-secret")
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprint(err)
	}
	list := func(arn string) map[string]string {
		out, err := c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		g.Expect(err).NotTo(HaveOccurred())
		return out.Tags
	}
	resource := func() *facesearchv1.Collection {
		col := &facesearchv1.Collection{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tagged"}, col)).To(Succeed())
		return col
	}

	// More than 50 tags at CreateCollection: ServiceQuotaExceededException, no collection.
	fiftyOne := map[string]string{}
	for i := 0; i <= rekognition.MaxTagsPerCollection; i++ {
		fiftyOne[fmt.Sprintf("k%02d", i)] = "v"
	}
	_, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("tagged"), Tags: fiftyOne})
	g.Expect(code(err)).To(Equal(rekognition.TypeServiceQuotaExceeded))

	// CreateCollection's Tags are on the resource and read back.
	created, err := c.CreateCollection(ctx, &rek.CreateCollectionInput{CollectionId: aws.String("tagged"),
		Tags: map[string]string{"team": "a", "cost center": "7"}})
	g.Expect(err).NotTo(HaveOccurred())
	arn := aws.ToString(created.CollectionArn)
	g.Expect(arn).To(Equal(resource().ARN()))
	g.Expect(list(arn)).To(Equal(map[string]string{"team": "a", "cost center": "7"}))

	// Written on the resource as kubectl annotate/label would: listed.
	col := resource()
	col.Annotations[tagKeyPrefix+"env"] = "prod"
	col.Labels[tagKeyPrefix+"tier"] = "gold"
	g.Expect(k8sClient.Update(ctx, col)).To(Succeed())
	g.Expect(list(arn)).To(Equal(map[string]string{"team": "a", "cost center": "7", "env": "prod", "tier": "gold"}))

	// TagResource: a declared key changes in place, a new one goes to the JSON annotation.
	_, err = c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"env": "staging", "new:key": "v"}})
	g.Expect(err).NotTo(HaveOccurred())
	col = resource()
	g.Expect(col.Annotations[tagKeyPrefix+"env"]).To(Equal("staging"))
	var js map[string]string
	g.Expect(json.Unmarshal([]byte(col.Annotations[tagsAnnotation]), &js)).To(Succeed())
	g.Expect(js).To(Equal(map[string]string{"team": "a", "cost center": "7", "new:key": "v"}))

	// UntagResource removes a key wherever it is; an absent key is no error.
	_, err = c.UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team", "tier", "absent"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resource().Labels).NotTo(HaveKey(tagKeyPrefix + "tier"))
	want := map[string]string{"cost center": "7", "env": "staging", "new:key": "v"}
	g.Expect(list(arn)).To(Equal(want))

	// Past 50 tags: ServiceQuotaExceededException, nothing written.
	many := map[string]string{}
	for i := 0; i < rekognition.MaxTagsPerCollection-len(want)+1; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	_, err = c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: many})
	g.Expect(code(err)).To(Equal(rekognition.TypeServiceQuotaExceeded))
	g.Expect(list(arn)).To(Equal(want))
	delete(many, "k00") // exactly 50
	_, err = c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: many})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list(arn)).To(HaveLen(rekognition.MaxTagsPerCollection))
	_, err = c.UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: slicesKeys(many)})
	g.Expect(err).NotTo(HaveOccurred())

	// The model's constraints, and ARNs of no collection.
	_, err = c.TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"aws:reserved": "x"}})
	g.Expect(code(err)).To(Equal(rekognition.TypeInvalidParameter))
	for _, other := range []string{arn + "x", "arn:aws:rekognition:us-east-1:000000000000:collection/tagged", "arn:aws:s3:::some-bucket-name"} {
		_, err = c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(other)})
		g.Expect(code(err)).To(Equal(rekognition.TypeResourceNotFound), other)
	}

	// A key limited to the collection lists and tags it; one limited to another may not.
	_, err = sdk(readKey, "read-secret").TagResource(ctx, &rek.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"by": "reader"}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = sdk(readKey, "read-secret").UntagResource(ctx, &rek.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"by"}})
	g.Expect(code(err)).To(Equal(rekognition.TypeAccessDenied))
	_, err = sdk(otherKey, "other-secret").ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	g.Expect(code(err)).To(Equal(rekognition.TypeAccessDenied))

	// A Collection declared in Kubernetes, never through the endpoint, has its tags too.
	declared := newCollection(ns, "declared", bucket, 1)
	declared.Labels = map[string]string{tagKeyPrefix + "source": "git"}
	g.Expect(k8sClient.Create(ctx, declared)).To(Succeed())
	g.Expect(list(declared.ARN())).To(Equal(map[string]string{"source": "git"}))

	_, err = c.DeleteCollection(ctx, &rek.DeleteCollectionInput{CollectionId: aws.String("tagged")})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.ListTagsForResource(ctx, &rek.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	g.Expect(code(err)).To(Equal(rekognition.TypeResourceNotFound))
}

func slicesKeys(m map[string]string) []string {
	var keys []string
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	return keys
}
