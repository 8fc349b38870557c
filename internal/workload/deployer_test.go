package workload_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/pki"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

var k8s client.Client

func TestMain(m *testing.M) {
	cp, err := local.StartControlPlane()
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(facesearchv1.AddToScheme(scheme))
	k8s, err = client.New(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	code := m.Run()
	_ = cp.Stop()
	os.Exit(code)
}

// TestDeployerBuildsShardWorkloads applies a Collection's index on a real API server: one
// Deployment and Service per shard, owned by the Collection, restricted, with the storage keys
// from the Secret; fewer shards remove the extra ones; readiness follows the Deployments.
func TestDeployerBuildsShardWorkloads(t *testing.T) {
	ctx := context.Background()
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "default"},
		Spec: facesearchv1.CollectionSpec{
			CollectionID: "People_2026",
			Storage: facesearchv1.StorageSpec{Endpoint: "minio.storage.svc:9000", Bucket: "faces", Prefix: "team-a/",
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "minio-credentials"}},
			Index: facesearchv1.IndexSpec{Shards: 3, Replicas: ptr.To[int32](2)},
		},
	}
	if err := k8s.Create(ctx, col); err != nil {
		t.Fatal(err)
	}
	d := &workload.Deployer{Client: k8s, Scheme: k8s.Scheme(), Image: "facesearch:test"}
	conn := store.Connection{Endpoint: "minio.storage.svc:9000", Bucket: "faces", Prefix: "team-a/"}
	state, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn))
	if err != nil {
		t.Fatal(err)
	}
	if state.Ready || !state.RollingOut || len(state.Shards) != 3 || state.Message != "0 of 3 shards have a ready replica (none yet: shard 0, 1, 2)" {
		t.Fatalf("fresh Deployments cannot be ready: %+v", state)
	}

	for i := 0; i < 3; i++ {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, dep); err != nil {
			t.Fatal(err)
		}
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		checks := []struct {
			what string
			ok   bool
		}{
			{"owned by the Collection", len(dep.OwnerReferences) == 1 && dep.OwnerReferences[0].UID == col.UID},
			{"replicas from spec", *dep.Spec.Replicas == 2},
			{"runs as non-root", pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot},
			{"seccomp RuntimeDefault", pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
			{"no privilege escalation", !*c.SecurityContext.AllowPrivilegeEscalation},
			{"read-only root", *c.SecurityContext.ReadOnlyRootFilesystem},
			{"drops all capabilities", len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL"},
			{"index role of its shard", c.Args[0] == "index" && contains(c.Args, "People_2026") && contains(c.Args, []string{"0", "1", "2"}[i])},
			{"keys from the Secret", c.Env[0].ValueFrom.SecretKeyRef.Name == "minio-credentials"},
			{"readiness probe", c.ReadinessProbe.HTTPGet.Path == "/readyz"},
			{"probes on the probe port", c.ReadinessProbe.HTTPGet.Port.StrVal == "metrics" && c.LivenessProbe.HTTPGet.Port.StrVal == "metrics" &&
				c.StartupProbe.HTTPGet.Port.StrVal == "metrics" && hasPort(c.Ports, "metrics", workload.IndexProbePort)},
			{"search on its own port", hasPort(c.Ports, "search", workload.IndexPort) && contains(c.Args, "--listen") && contains(c.Args, "--probe-listen")},
			{"startup probe tolerates a long load", c.StartupProbe.FailureThreshold >= 60},
		}
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("shard %d: %s: %+v", i, ch.what, dep.Spec.Template.Spec)
			}
		}
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, svc); err != nil {
			t.Fatal(err)
		}
		// No kubelet here: say the pods came up, as a cluster would.
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
		if err := k8s.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	if state, err = d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil || !state.Ready || state.RollingOut || state.Message != "" {
		t.Fatalf("all shards ready and rolled out, got %+v %v", state, err)
	}

	// A rollout (a new image, a reshard) leaves the index Ready as long as every shard keeps
	// a ready replica: searches go on while the pods are replaced.
	setStatus := func(i int, st appsv1.DeploymentStatus) {
		t.Helper()
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: workload.ShardName(col.Name, i)}, dep); err != nil {
			t.Fatal(err)
		}
		dep.Status = st
		if err := k8s.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	col.Spec.Index.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	// Compaction waits for RollingOut to end: old pods may not read a newer snapshot format.
	if state, err = d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil || !state.Ready || !state.RollingOut {
		t.Fatalf("a changed pod template, not yet observed: want still Ready and rolling out, got %+v %v", state, err)
	}
	// Mid-rollout: one surge pod, two old ones ready, the new one loading.
	setStatus(0, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2, UnavailableReplicas: 1})
	if state, err = d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil || !state.Ready || !state.RollingOut {
		t.Fatalf("mid-rollout with ready replicas: want Ready and rolling out, got %+v %v", state, err)
	}
	// A shard without any ready replica is not searchable: not Ready, and the message says which.
	setStatus(1, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1})
	if state, err = d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil || state.Ready ||
		state.Message != "2 of 3 shards have a ready replica (none yet: shard 1)" {
		t.Fatalf("shard 1 without a ready replica: got %+v %v", state, err)
	}

	col.Spec.Index.Shards = 2
	if _, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil {
		t.Fatal(err)
	}
	var deps appsv1.DeploymentList
	if err := k8s.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{workload.LabelCollection: "people"}); err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 2 {
		t.Fatalf("after scaling to 2 shards, %d Deployments remain", len(deps.Items))
	}
	if err := d.RemoveIndex(ctx, client.ObjectKeyFromObject(col)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{workload.LabelCollection: "people"}); err != nil || len(deps.Items) != 0 {
		t.Fatalf("RemoveIndex left %d Deployments (%v)", len(deps.Items), err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPort(ports []corev1.ContainerPort, name string, port int32) bool {
	for _, p := range ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

// TestDeployerGuardsTheShards: each Collection gets, in its own namespace and owned by it, a
// Secret with its index token, CA and serving certificate, which its index pods mount, and a
// NetworkPolicy that opens the search port to the manager and api pods only and the metrics
// port to the scrapers. The token rotates with an overlap; a Secret of that name that is not the
// Collection's is never taken over.
func TestDeployerGuardsTheShards(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	col := &facesearchv1.Collection{
		ObjectMeta: metav1.ObjectMeta{Name: "visitors", Namespace: "team-b"},
		Spec: facesearchv1.CollectionSpec{
			Storage: facesearchv1.StorageSpec{Endpoint: "minio.storage.svc:9000", Bucket: "faces",
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "minio-credentials"}},
			Index: facesearchv1.IndexSpec{Shards: 2, Replicas: ptr.To[int32](1)},
		},
	}
	if err := k8s.Create(ctx, col); err != nil {
		t.Fatal(err)
	}
	scrapers := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}}
	d := &workload.Deployer{Client: k8s, Scheme: k8s.Scheme(), Image: "facesearch:test",
		NetworkPolicy: &workload.NetworkPolicyOptions{ManagerNamespace: "facesearch-system", MetricsScrapers: scrapers}}
	conn := store.Connection{Endpoint: "minio.storage.svc:9000", Bucket: "faces"}
	if _, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil {
		t.Fatal(err)
	}
	owned := func(obj client.Object) bool {
		refs := obj.GetOwnerReferences()
		return len(refs) == 1 && refs[0].UID == col.UID && refs[0].Controller != nil && *refs[0].Controller
	}

	// The Secret.
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: workload.AuthSecretName(col.Name)}, sec); err != nil {
		t.Fatalf("no index auth Secret in the Collection's namespace: %v", err)
	}
	token := string(sec.Data[workload.AuthTokenKey])
	if !owned(sec) || len(token) < 40 {
		t.Errorf("Secret: owner %v, token of %d characters; want the Collection's, and 32 random bytes", sec.OwnerReferences, len(token))
	}
	if _, ok := sec.Data[workload.AuthPreviousTokenKey]; !ok {
		t.Error("the Secret lacks the previousToken key the pods mount")
	}
	// Its certificate is the CA's, for the name the manager's client expects.
	serverName := workload.ServerName("team-b", col.Name)
	if !pki.Valid(pki.KeyPair{CertPEM: sec.Data[workload.AuthTLSCertKey], KeyPEM: sec.Data[workload.AuthTLSKeyKey]},
		sec.Data[workload.AuthCACertKey], serverName, 300*24*time.Hour) {
		t.Error("the serving certificate is not the Collection CA's for " + serverName)
	}

	// The pods take the token and the certificate from it, and nothing else of it.
	for i := 0; i < 2; i++ {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: workload.ShardName(col.Name, i)}, dep); err != nil {
			t.Fatal(err)
		}
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		var vol *corev1.SecretVolumeSource
		for _, v := range pod.Volumes {
			if v.Secret != nil && v.Secret.SecretName == sec.Name {
				vol = v.Secret
			}
		}
		if vol == nil {
			t.Fatalf("shard %d: no volume from Secret %s: %+v", i, sec.Name, pod.Volumes)
		}
		var keys []string
		for _, it := range vol.Items {
			keys = append(keys, it.Key)
		}
		if contains(keys, workload.AuthCAKeyKey) || !contains(keys, workload.AuthTokenKey) || !contains(keys, workload.AuthPreviousTokenKey) ||
			!contains(keys, workload.AuthTLSKeyKey) {
			t.Errorf("shard %d mounts %v: want the tokens and the serving pair, never the CA key", i, keys)
		}
		var authMount string
		for _, m := range c.VolumeMounts {
			if m.Name == "index-auth" {
				authMount = m.MountPath
			}
		}
		if authMount == "" || !contains(c.Args, authMount+"/token") || !contains(c.Args, authMount+"/previousToken") ||
			!contains(c.Args, authMount+"/tls.crt") {
			t.Errorf("shard %d: args %q and mounts %+v do not take the token and certificate from the Secret", i, c.Args, c.VolumeMounts)
		}
		if pod.SecurityContext.FSGroup == nil || *vol.DefaultMode&0o007 != 0 {
			t.Errorf("shard %d: the Secret's files must be readable by the pod's group only (fsGroup %v, mode %o)", i, pod.SecurityContext.FSGroup, *vol.DefaultMode)
		}
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: workload.ShardName(col.Name, i)}, svc); err != nil {
			t.Fatal(err)
		}
		if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != workload.IndexPort || svc.Spec.Ports[1].Name != "metrics" {
			t.Errorf("shard %d Service ports %+v, want search and metrics", i, svc.Spec.Ports)
		}
	}

	// The NetworkPolicy.
	np := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: workload.NetworkPolicyName(col.Name)}, np); err != nil {
		t.Fatalf("no NetworkPolicy in the Collection's namespace: %v", err)
	}
	if !owned(np) || np.Spec.PodSelector.MatchLabels[workload.LabelCollection] != col.Name || np.Spec.PodSelector.MatchLabels[workload.LabelComponent] != "index" {
		t.Errorf("NetworkPolicy owner %v, selects %v: want the Collection's index pods", np.OwnerReferences, np.Spec.PodSelector.MatchLabels)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress || len(np.Spec.Ingress) != 2 {
		t.Fatalf("NetworkPolicy %+v: want two ingress rules", np.Spec)
	}
	search, metrics := np.Spec.Ingress[0], np.Spec.Ingress[1]
	if len(search.Ports) != 1 || search.Ports[0].Port.IntVal != workload.IndexPort || len(search.From) != 1 ||
		search.From[0].NamespaceSelector == nil || search.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "facesearch-system" ||
		search.From[0].PodSelector == nil {
		t.Fatalf("search rule %+v: want port %d from pods of facesearch-system only", search, workload.IndexPort)
	}
	// The manager and api pods, and no other pod of the chart or of anyone else.
	podSel, err := metav1.LabelSelectorAsSelector(search.From[0].PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for component, admitted := range map[string]bool{"manager": true, "api": true, "index": false, "": false} {
		pod := labels.Set{"app.kubernetes.io/name": "facesearch", "app.kubernetes.io/instance": "fs"}
		if component != "" {
			pod["app.kubernetes.io/component"] = component
		}
		if podSel.Matches(pod) != admitted {
			t.Errorf("search rule selector %s admits pods %v: %v, want %v", podSel, pod, podSel.Matches(pod), admitted)
		}
	}
	if podSel.Matches(labels.Set{"app.kubernetes.io/component": "api"}) {
		t.Errorf("search rule selector %s admits an api pod that is not facesearch's", podSel)
	}
	if len(metrics.Ports) != 1 || metrics.Ports[0].Port.IntVal != workload.IndexProbePort || len(metrics.From) != 1 ||
		metrics.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
		t.Errorf("metrics rule %+v: want port %d from the monitoring namespace", metrics, workload.IndexProbePort)
	}

	// Rotation: a token older than the rotation period is replaced, the old one kept as
	// previous; after the overlap the previous one goes. Nothing else changes meanwhile.
	age := func(ago time.Duration) {
		t.Helper()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
			t.Fatal(err)
		}
		sec.Annotations["facesearch.io/token-rotated-at"] = time.Now().Add(-ago).UTC().Format(time.RFC3339)
		if err := k8s.Update(ctx, sec); err != nil {
			t.Fatal(err)
		}
		if _, err := d.EnsureIndex(ctx, workload.IndexSpecOf(col, conn)); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
			t.Fatal(err)
		}
	}
	cert := string(sec.Data[workload.AuthTLSCertKey])
	age(time.Minute)
	if string(sec.Data[workload.AuthTokenKey]) != token || len(sec.Data[workload.AuthPreviousTokenKey]) != 0 {
		t.Fatal("a young token was rotated")
	}
	age(31 * 24 * time.Hour)
	rotated := string(sec.Data[workload.AuthTokenKey])
	if rotated == token || string(sec.Data[workload.AuthPreviousTokenKey]) != token {
		t.Fatalf("after 31 days: token changed %v, previous is the old token %v", rotated != token, string(sec.Data[workload.AuthPreviousTokenKey]) == token)
	}
	age(5 * time.Minute)
	if string(sec.Data[workload.AuthPreviousTokenKey]) != token {
		t.Fatal("the previous token was dropped during the overlap")
	}
	age(11 * time.Minute)
	if len(sec.Data[workload.AuthPreviousTokenKey]) != 0 || string(sec.Data[workload.AuthTokenKey]) != rotated {
		t.Fatal("after the overlap the previous token must go, the new one stay")
	}
	if string(sec.Data[workload.AuthTLSCertKey]) != cert {
		t.Error("a token rotation re-issued a certificate that was still good")
	}

	// A CA near its end is replaced with an overlap: the bundle trusts the new CA and the old
	// one (whose certificate the pods may still serve), the serving certificate is re-issued
	// by the new CA; after the overlap only the new CA is trusted.
	oldCA, _ := pki.NewCA("old", 300*24*time.Hour)
	oldServing, _ := pki.IssueServing(oldCA, []string{serverName}, 200*24*time.Hour)
	sec.Data[workload.AuthCACertKey], sec.Data[workload.AuthCAKeyKey] = oldCA.CertPEM, oldCA.KeyPEM
	sec.Data[workload.AuthTLSCertKey], sec.Data[workload.AuthTLSKeyKey] = oldServing.CertPEM, oldServing.KeyPEM
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	age(time.Minute)
	bundle := sec.Data[workload.AuthCACertKey]
	newServing := pki.KeyPair{CertPEM: sec.Data[workload.AuthTLSCertKey], KeyPEM: sec.Data[workload.AuthTLSKeyKey]}
	if bytes.Equal(newServing.CertPEM, oldServing.CertPEM) || !pki.Valid(newServing, bundle, serverName, 300*24*time.Hour) ||
		!pki.Valid(oldServing, bundle, serverName, 0) || pki.Valid(newServing, oldCA.CertPEM, serverName, 0) {
		t.Fatal("a CA with less than a year left: want a new CA and serving certificate, with the old CA still trusted")
	}
	sec.Annotations["facesearch.io/ca-rotated-at"] = time.Now().Add(-11 * time.Minute).UTC().Format(time.RFC3339)
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	age(time.Minute)
	if pki.Valid(oldServing, sec.Data[workload.AuthCACertKey], serverName, 0) || !pki.Valid(newServing, sec.Data[workload.AuthCACertKey], serverName, 0) {
		t.Fatal("after the overlap the old CA must no longer be trusted, the new one still")
	}

	// A Secret of that name that is not the Collection's is not taken over.
	other := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "guests", Namespace: "team-b"}, Spec: col.Spec}
	if err := k8s.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	squatter := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: workload.AuthSecretName(other.Name), Namespace: "team-b"},
		Data: map[string][]byte{workload.AuthTokenKey: []byte("chosen-by-someone-else")}}
	if err := k8s.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	if _, err := d.EnsureIndex(ctx, workload.IndexSpecOf(other, conn)); err == nil {
		t.Error("EnsureIndex used a Secret that the Collection does not own")
	}
}
