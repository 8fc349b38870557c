package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// TestAPIRoleServesWhatTheManagerMade runs the api role as a user bound, in its namespace
// only, to the generated api ClusterRole, on a real API server and MinIO: it publishes the
// collection the manager made once a shard serves, follows its shards' readiness, never sees
// another namespace's Collections or lists Secrets, withdraws a deleted Collection, and on
// stop fails readiness while it still answers.
func TestAPIRoleServesWhatTheManagerMade(t *testing.T) {
	cp := testenv.ControlPlane(t)
	bucket := testenv.NewBucket(t, testenv.BucketOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	admin, err := client.New(cp.Config, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	const apiUser = "facesearch-api-test"
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "api", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	role.Name = apiUser
	ns, elsewhere := "api-team", "elsewhere"
	conn := bucket.Connection()
	storageSecret := func(namespace string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "minio"}, StringData: map[string]string{
			controllers.AccessKeySecretKey: conn.AccessKey, controllers.SecretKeySecretKey: conn.SecretKey}}
	}
	collection := func(namespace string) *facesearchv1.Collection {
		return &facesearchv1.Collection{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "people"},
			Spec: facesearchv1.CollectionSpec{
				Storage: facesearchv1.StorageSpec{Endpoint: conn.Endpoint, Bucket: conn.Bucket, CredentialsSecretRef: corev1.LocalObjectReference{Name: "minio"}},
				Index:   facesearchv1.IndexSpec{Shards: 1, Replicas: ptr.To[int32](1)},
			},
		}
	}
	col, other := collection(ns), collection(elsewhere)
	objs := []client.Object{role,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}},
		// Bound in its namespace only, as the chart binds it.
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: apiUser},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: apiUser}}},
		storageSecret(ns), storageSecret(elsewhere),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-keys"}, StringData: map[string]string{"AKIDAPIROLETEST0": "secret-access-key"}},
		col, other,
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	// What the manager does for each: the stored collection with its owner, the index
	// workload. The api role has not started yet.
	st := bucket.Store()
	manager := &workload.Deployer{Client: admin, Scheme: admin.Scheme(), Image: "facesearch:test"}
	for _, c := range []*facesearchv1.Collection{col, other} {
		if _, err := st.CreateCollection(ctx, c.Namespace+"-people", store.CreateCollectionOptions{
			FaceModelVersion: c.Spec.FaceModelVersion, Dimension: 4, Owner: store.Owner{Namespace: c.Namespace, UID: string(c.UID)}}); err != nil {
			t.Fatal(err)
		}
		c.Spec.CollectionID = c.Namespace + "-people"
		if err := admin.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := manager.EnsureIndex(ctx, workload.IndexSpecOf(c, conn)); err != nil {
			t.Fatal(err)
		}
	}
	// Faces for the api role to load its records of at start (its warm-up).
	if _, err := st.ImportFaces(ctx, col.Spec.CollectionID, []store.NewFace{
		{ImageID: "00000000-0000-4000-8000-000000000001", Confidence: 99, Embedding: []float32{1, 0, 0, 0}},
		{ImageID: "00000000-0000-4000-8000-000000000002", Confidence: 99, Embedding: []float32{0, 1, 0, 0}},
	}, store.IndexFacesOptions{}); err != nil {
		t.Fatal(err)
	}
	setReady := func(ready int32) {
		t.Helper()
		dep := &appsv1.Deployment{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: workload.ShardName(col.Name, 0)}, dep); err != nil {
			t.Fatal(err)
		}
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: ready, AvailableReplicas: ready}
		if err := admin.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	setReady(1)

	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: apiUser}
	asAPI, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := asAPI.Get(ctx, client.ObjectKeyFromObject(col), &facesearchv1.Collection{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the api role cannot read a Collection of its namespace: %v", err)
		}
	}
	if err := asAPI.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
		t.Errorf("the api role may list Secrets (err %v)", err)
	}
	if err := asAPI.Get(ctx, client.ObjectKeyFromObject(other), &facesearchv1.Collection{}); !apierrors.IsForbidden(err) {
		t.Errorf("the api role reads Collections of another namespace (err %v)", err)
	}

	opts := apiOptions([]string{ns}, "facesearch-api", "0", "0")
	opts.Controller.SkipNameValidation = ptr.To(true)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	svc := search.NewService(nil)
	creds, err := watchCredentialsSecret(ctx, mgr.GetAPIReader(), ns, "api-keys", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	af := &apiFlags{addr: "127.0.0.1:0", namespace: ns, credentialsSecret: "api-keys", warmUpTimeout: time.Minute}
	api, err := newAPIRole(mgr, af, svc, &workload.Deployer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme()}, creds)
	if err != nil {
		t.Fatal(err)
	}
	api.drain = 2 * time.Second
	if err := api.shareRateLimit(mgr, "facesearch-api"); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	api.onListen = func(a string) { addr <- a }
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("the api role ended with %v", err)
		}
	})
	var url string
	select {
	case a := <-addr:
		url = "http://" + a + "/healthz"
	case err := <-done:
		t.Fatalf("the api role stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the endpoint did not listen")
	}

	published := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			c, ok := svc.InNamespace(ns).Collections.Get(col.Spec.CollectionID)
			if ok == want && (!ok || c.Ready) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("collection published %v (ready %v), want %v and ready", ok, ok && c.Ready, want)
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := api.ready(ctx, mgr.GetClient())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api role is not ready: %v", err)
		}
	}
	// Ready means the records are in memory: no call has asked for them yet.
	if !svc.InNamespace(ns).Loaded(col.Spec.CollectionID) {
		t.Error("the api role is ready without the records of the collection it published")
	}
	published(true)

	// Three replicas behind the Service, one of them not ready: each allows half the budget.
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "facesearch-api-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: "facesearch-api"}}, AddressType: discoveryv1.AddressTypeIPv4}
	for i, ready := range []bool{true, true, false} {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}})
	}
	if err := admin.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); api.endpoint.replicas.Load() != 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the rate limit is shared by %d replicas, want the 2 ready ones", api.endpoint.replicas.Load())
		}
	}
	if _, ok := svc.InNamespace(elsewhere).Collections.Get(other.Spec.CollectionID); ok {
		t.Error("a Collection of another namespace is published")
	}

	// No ready pod: the collection stays published, not ready (searches get a retryable error).
	setReady(0)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, ok := svc.InNamespace(ns).Collections.Get(col.Spec.CollectionID); ok && !c.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a shard without a ready pod left the collection ready")
		}
	}
	setReady(1)
	published(true)

	if err := admin.Delete(ctx, col); err != nil {
		t.Fatal(err)
	}
	published(false)

	// Stop: readiness fails at once, the endpoint answers through the drain, then stops.
	stop()
	for deadline := time.Now().Add(time.Second); api.ready(ctx, mgr.GetClient()) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still ready after the stop")
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("the endpoint refused a request while draining: %v", err)
	}
	_ = resp.Body.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the api role ended with %v", err)
	}
	done <- nil
	if _, err := http.Get(url); err == nil {
		t.Error("the endpoint still answers after the drain")
	}
}
