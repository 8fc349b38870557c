package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/controllers"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/testenv"
	"github.com/facesearch/facesearch-operator/internal/webhook"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// TestManagerOptionsReadSecretsLive: the manager's client never serves a Secret or a
// ConfigMap from its cache, and caches only the index shards' Deployments and Services.
func TestManagerOptionsReadSecretsLive(t *testing.T) {
	o := managerOptions("0", "0", false)
	if o.Client.Cache == nil {
		t.Fatal("no client cache options: every Secret read goes through the cache")
	}
	disabled := map[reflect.Type]bool{}
	for _, obj := range o.Client.Cache.DisableFor {
		disabled[reflect.TypeOf(obj)] = true
	}
	for _, obj := range []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}} {
		if !disabled[reflect.TypeOf(obj)] {
			t.Errorf("%T is read through the cache", obj)
		}
	}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		found := false
		for k, by := range o.Cache.ByObject {
			if reflect.TypeOf(k) == reflect.TypeOf(obj) {
				found = true
				if by.Label == nil || by.Label.String() != workload.IndexSelector().String() {
					t.Errorf("%T cached with selector %v, want %v", obj, by.Label, workload.IndexSelector())
				}
			}
		}
		if !found {
			t.Errorf("every %T of the cluster is cached", obj)
		}
	}
}

// generatedManagerRole is the ClusterRole controller-gen makes from the RBAC markers, the
// one the chart and kustomize install.
func generatedManagerRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	return role
}

// TestManagerRunsOnItsClusterRole runs the manager's controllers as a user bound to the
// generated ClusterRole only, on a real API server: with get alone on Secrets and
// ConfigMaps, the manager still reads a Collection's credentials, an image ConfigMap and the
// endpoint's access keys, and cannot list the cluster's Secrets.
func TestManagerRunsOnItsClusterRole(t *testing.T) {
	cp := testenv.ControlPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	admin, err := client.New(cp.Config, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	const managerUser = "facesearch-manager-test"
	role := generatedManagerRole(t)
	role.Name = "facesearch-manager-test"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: managerUser}},
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	objs := []client.Object{role, binding, ns,
		// Credentials that lack secretKey: the Collection reports it, which it can only do
		// once it read the Secret, without reaching any storage.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "incomplete"}, StringData: map[string]string{controllers.AccessKeySecretKey: "id"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "photo"}, BinaryData: map[string][]byte{"door.jpg": {0xff, 0xd8}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "api-keys"}, StringData: map[string]string{"AKIDMANAGERRBACTEST": "secret-access-key"}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}

	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser}
	asManager, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// RBAC takes a moment to see a new binding.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := asManager.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "photo"}, &corev1.ConfigMap{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manager's role cannot get a ConfigMap: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := asManager.List(ctx, &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		t.Errorf("the manager's role may list every Secret (err %v)", err)
	}

	opts := managerOptions("0", "0", false)
	// The local stack's test set the same controllers up in this process.
	opts.Controller.SkipNameValidation = ptr.To(true)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	svc := search.NewService(nil)
	if err := controllers.Setup(mgr, controllers.Options{Search: svc, Indexes: &workload.Deployer{Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Image: "facesearch:test"}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the manager's caches did not sync on its ClusterRole")
	}

	// Through the manager's client, as the controllers read them: a cached read would need
	// list and watch, and wait for ever.
	read, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	if err := mgr.GetClient().Get(read, client.ObjectKey{Namespace: ns.Name, Name: "photo"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("reading an image ConfigMap through the manager's client: %v", err)
	}
	if err := mgr.GetClient().Get(read, client.ObjectKey{Namespace: ns.Name, Name: "incomplete"}, &corev1.Secret{}); err != nil {
		t.Errorf("reading a Secret through the manager's client: %v", err)
	}
	if _, err := watchCredentialsSecret(read, mgr.GetAPIReader(), ns.Name, "api-keys", logr.Discard()); err != nil {
		t.Errorf("reading the endpoint's access keys: %v", err)
	}

	// Of Deployments, the cache holds the index shards' only.
	shard := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: workload.ShardName("others", 0)}}
	workload.BuildShardDeployment(shard, workload.IndexSpec{Owner: &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "others"}},
		CollectionID: "others", Shards: 1, Replicas: 1, SecretName: "incomplete"}, "facesearch:test", 0)
	app := shard.DeepCopy()
	app.Name, app.Labels = "someone-elses-app", map[string]string{"app": "someone-elses-app"}
	app.Spec.Selector = &metav1.LabelSelector{MatchLabels: app.Labels}
	app.Spec.Template.Labels = app.Labels
	for _, d := range []*appsv1.Deployment{shard, app} {
		if err := admin.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(shard), &appsv1.Deployment{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an index shard's Deployment is not in the manager's cache: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(app), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("another application's Deployment is in the manager's cache (err %v)", err)
	}

	// The Collection controller reads the credentials Secret the Collection names.
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "people"},
		Spec: facesearchv1.CollectionSpec{
			Storage: facesearchv1.StorageSpec{Endpoint: "127.0.0.1:1", Bucket: "faces", CredentialsSecretRef: corev1.LocalObjectReference{Name: "incomplete"}},
			Index:   facesearchv1.IndexSpec{Shards: 1, Replicas: ptr.To[int32](1)},
		},
	}
	if err := admin.Create(ctx, col); err != nil {
		t.Fatal(err)
	}
	var cond *metav1.Condition
	for deadline := time.Now().Add(time.Minute); ; {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(col), col); err != nil {
			t.Fatal(err)
		}
		cond = meta.FindStatusCondition(col.Status.Conditions, facesearchv1.StorageReadyCondition)
		// "lacks": the Secret was read (not found or forbidden say otherwise).
		if cond != nil && cond.Reason == facesearchv1.CredentialsSecretNotFoundReason && strings.Contains(cond.Message, "lacks") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Collection did not report its incomplete Secret: %+v", cond)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestInjectionFlags: the sidecar injection's flags become the webhook's options; the sidecar
// defaults to the operator's image and resources, and a misspelt resources key is refused.
func TestInjectionFlags(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, o webhook.Options)
		err   string
	}{
		{name: "defaults", check: func(t *testing.T, o webhook.Options) {
			if o.Port != 9443 || o.CertMode != webhook.CertSelf || o.Sidecar.Image != "facesearch:test" || o.Sidecar.Port != 8480 ||
				o.Sidecar.TokenAudience != "facesearch.io" || !reflect.DeepEqual(o.Sidecar.Resources, webhook.DefaultResources()) || o.Namespace != "facesearch-system" {
				t.Errorf("options %+v", o)
			}
		}},
		{name: "set", args: []string{"--webhook-cert-mode=files", "--sidecar-image=other:1", "--sidecar-port=9480",
			`--sidecar-resources={"requests":{"memory":"16Mi"}}`, "--sidecar-token-audience=api.example"},
			check: func(t *testing.T, o webhook.Options) {
				if o.CertMode != webhook.CertFiles || o.Sidecar.Image != "other:1" || o.Sidecar.Port != 9480 ||
					o.Sidecar.Resources.Requests.Memory().String() != "16Mi" || o.Sidecar.TokenAudience != "api.example" {
					t.Errorf("options %+v", o)
				}
			}},
		{name: "misspelt resources", args: []string{`--sidecar-resources={"request":{"memory":"16Mi"}}`}, err: "--sidecar-resources"},
		{name: "privileged port", args: []string{"--sidecar-port=80"}, err: "--sidecar-port 80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			var f injectionFlags
			f.bind(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			o, err := f.options("facesearch:test", "facesearch-system")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}
