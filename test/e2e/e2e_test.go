// Package e2e runs the operator as a platform team does: the chart installed with helm on a
// real node (kubelet, containerd, kube-proxy, CoreDNS; hack/cluster.sh), the image built from
// the Dockerfile, MinIO as a pod, Pod Security "restricted" on every namespace, and an
// application Pod calling the endpoint with the AWS SDK. make e2e brings the node up, loads
// the images, runs this suite and tears the node down.
//
// The cases run in order, each on what the ones before it made; a failed case stops the rest.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
)

const (
	releaseNamespace = "facesearch-system"
	release          = "facesearch"
	appsNamespace    = "apps"
	minioNamespace   = "minio"
	bucket           = "faces"
	apiEndpoint      = "https://facesearch-api.facesearch-system.svc:8443"
	minioUser        = "e2e-minio-root"
	minioPassword    = "e2e-minio-root-secret"
	apiKeyID         = "AKIAE2EADMIN00000001"
	apiSecret        = "e2e-admin-secret-access-key-0001"
	collectionName   = "people"
	collectionPrefix = "e2e/"
)

// The people of the test photos (hack/install-testfaces.sh): three photos each are enrolled,
// the others are searched.
var people = []string{"John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm"}

type photos struct {
	enrol  map[string][]string // user -> object keys
	search map[string][]string
}

func TestE2E(t *testing.T) {
	e := loadEnv(t)
	var ph photos
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"MinIOPodAndPhotos", func(t *testing.T) { ph = e.minio(t) }},
		{"HelmInstallRestricted", e.helmInstall},
		{"CollectionTwoShardsTwoReplicas", e.collection},
		{"UsersFromPhotosInMinIO", func(t *testing.T) { e.users(t, ph) }},
		{"SearchRequestFindsThePerson", func(t *testing.T) { e.searchRequest(t, ph) }},
		{"InClusterSDKClient", func(t *testing.T) { e.sdkClient(t, ph) }},
		{"SidecarSearchesWithPodIdentity", func(t *testing.T) { e.sidecarSearch(t, ph) }},
		{"TokenRetriedOnAnotherReplica", e.tokenOnReplicas},
		{"IndexPodKilledDuringCalls", func(t *testing.T) { e.indexPodKilled(t, ph) }},
		{"APIPodKilledDuringCalls", func(t *testing.T) { e.apiPodKilled(t, ph) }},
		{"APIScaledTwoToThree", func(t *testing.T) { e.apiScaled(t, ph) }},
		{"APIThroughputByReplicas", func(t *testing.T) { e.apiThroughput(t, ph) }},
		{"ShardsTwoToThree", func(t *testing.T) { e.reshard(t, ph) }},
		{"HelmUpgradeRollsPods", func(t *testing.T) { e.helmUpgrade(t, ph) }},
		{"ManagerPodKilled", func(t *testing.T) { e.managerKilled(t, ph) }},
		{"CollectionDeletedErasesStorage", e.deleteCollection},
		{"BulkEnrolIndexedJob", func(t *testing.T) { e.bulkEnrolJob(t, ph) }},
		{"ExpiredTokenRefused", e.expiredToken},
	}
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, s.fn)
		t.Logf("%s: %s in %s", s.name, map[bool]string{true: "passed", false: "FAILED"}[ok], time.Since(start).Round(100*time.Millisecond))
		if !ok {
			e.dumpState(t)
			t.FailNow()
		}
	}
}

func restrictedNamespace(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
`, name)
}

// minio runs the tests' MinIO build as a Pod and uploads the test photos through its Service.
func (e *env) minio(t *testing.T) photos {
	e.apply(t, restrictedNamespace(minioNamespace)+fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: minio, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: minio}}
  template:
    metadata: {labels: {app: minio}}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: minio
        image: %[2]s
        imagePullPolicy: Never
        command: [/minio, server, /data, --address, ":9000"]
        env:
        - {name: MINIO_ROOT_USER, value: %[3]s}
        - {name: MINIO_ROOT_PASSWORD, value: %[4]s}
        - {name: HOME, value: /tmp}
        ports: [{name: s3, containerPort: 9000}]
        readinessProbe: {httpGet: {path: /minio/health/ready, port: s3}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: data, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: minio, namespace: %[1]s}
spec:
  selector: {app: minio}
  ports: [{name: s3, port: 9000, targetPort: s3}]
`, minioNamespace, e.toolsImage, minioUser, minioPassword))
	eventually(t, 2*time.Minute, "MinIO ready", func() (bool, string) {
		return e.podsReady(minioNamespace, client.MatchingLabels{"app": "minio"}, 1)
	})
	mc := e.minioClient(t)
	ctx := context.Background()
	// MinIO reports ready a moment before it takes every request.
	made := func() (bool, string) {
		err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
		if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return true, ""
		}
		return false, err.Error()
	}
	// Twice in this project's runs (of about ten), a MinIO pod answered every PUT of the bucket
	// with NoSuchBucket while its readiness probe passed, and went on so for 90 s; the cause is
	// not known (its log, with --quiet then, said nothing). The suite is about the operator, so
	// it logs what MinIO says and replaces the pod once before it gives up.
	if ok, why := within(t, 30*time.Second, "bucket "+bucket+" made", made); !ok {
		logs, _ := e.try("", e.kubectl, "-n", minioNamespace, "logs", "-l", "app=minio", "--tail=50")
		t.Logf("MinIO refuses the bucket after 30 s (%s); its log:\n%s\nreplacing its pod once", why, logs)
		e.kubectlRun(t, "-n", minioNamespace, "delete", "pod", "-l", "app=minio", "--wait=true")
		eventually(t, 2*time.Minute, "MinIO ready again", func() (bool, string) {
			return e.podsReady(minioNamespace, client.MatchingLabels{"app": "minio"}, 1)
		})
		eventually(t, 90*time.Second, "bucket "+bucket+" made", made)
	}
	ph := photos{enrol: map[string][]string{}, search: map[string][]string{}}
	for _, p := range people {
		dir := filepath.Join(e.testfaces, "johns", p)
		files, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil || len(files) < 5 {
			t.Fatalf("%s: %d photos (%v)", dir, len(files), err)
		}
		sort.Strings(files)
		for i, f := range files[:5] {
			key := "photos/" + p + "/" + filepath.Base(f)
			if _, err := mc.FPutObject(ctx, bucket, key, f, minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
				t.Fatal(err)
			}
			if i < 3 {
				ph.enrol[p] = append(ph.enrol[p], key)
			} else {
				ph.search[p] = append(ph.search[p], key)
			}
		}
	}
	return ph
}

// minioClient reaches the MinIO Service's ClusterIP from the host, through kube-proxy.
func (e *env) minioClient(t *testing.T) *minio.Client {
	var svc corev1.Service
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: minioNamespace, Name: "minio"}, &svc); err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(svc.Spec.ClusterIP+":9000", &minio.Options{Creds: miniocreds.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func (e *env) helmValues(extra ...string) []string {
	repo, tag, _ := strings.Cut(e.image, ":")
	args := []string{
		"--namespace", releaseNamespace,
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "storage.endpoint=minio.minio.svc:9000", "--set", "storage.bucket=" + bucket,
		"--set", "storage.prefix=api/", "--set", "storage.tls=false",
		"--set", "storage.imageSources[0].prefix=photos/",
		"--set", "storage.credentials.create=true",
		"--set", "storage.credentials.accessKey=" + minioUser, "--set", "storage.credentials.secretKey=" + minioPassword,
		"--set", "manager.terminationGracePeriodSeconds=5",
		"--set", "api.serviceAccountTokens.servedNamespaces={" + appsNamespace + "}",
		"--set", "api.serviceAccountTokens.recordTTLSeconds=" + strconv.Itoa(recordTTLSeconds),
		"--wait", "--timeout", "5m",
	}
	return append(args, extra...)
}

// helmInstall installs the chart into a namespace that enforces the restricted profile.
func (e *env) helmInstall(t *testing.T) {
	// The application namespace first: the chart binds the api role there, as a namespace
	// whose pods search with their ServiceAccount tokens.
	e.apply(t, restrictedNamespace(appsNamespace))
	e.apply(t, restrictedNamespace(releaseNamespace)+fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata: {name: facesearch-api-keys, namespace: %[1]s}
stringData:
  %[2]s: %[3]s
  %[2]s.scope: admin
  %[2]s.collections: "*"
---
apiVersion: v1
kind: Secret
metadata: {name: minio-credentials, namespace: %[1]s}
stringData: {accessKey: %[4]s, secretKey: %[5]s}
`, releaseNamespace, apiKeyID, apiSecret, minioUser, minioPassword))
	args := append([]string{"install", release, e.chart}, e.helmValues()...)
	e.run(t, "", e.helm, args...)
	eventually(t, 3*time.Minute, "every pod of the release ready", func() (bool, string) {
		return e.podsReady(releaseNamespace, client.MatchingLabels{"app.kubernetes.io/instance": release}, -1)
	})

	// A token that will have expired when the suite ends (see expiredToken).
	eventually(t, time.Minute, "ServiceAccount apps/default", func() (bool, string) {
		err := e.c.Get(context.Background(), client.ObjectKey{Namespace: appsNamespace, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, fmt.Sprint(err)
	})
	e.expiring = e.serviceAccountToken(t, "default", "facesearch.io", "")
	e.expiresAt = time.Now().Add(10 * time.Minute)

	// The application namespace: the key pair and the API's CA, as a platform team hands them out.
	ca := e.kubectlRun(t, "-n", releaseNamespace, "get", "secret", release+"-api-tls", "-o", "jsonpath={.data.ca\\.crt}")
	if ca == "" {
		t.Fatalf("Secret %s-api-tls has no ca.crt", release)
	}
	e.apply(t, restrictedNamespace(appsNamespace)+fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata: {name: api-client, namespace: %[1]s}
stringData: {accessKeyId: %[2]s, secretAccessKey: %[3]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-ca, namespace: %[1]s}
binaryData: {ca.crt: %[4]s}
`, appsNamespace, apiKeyID, apiSecret, ca))
}

func (e *env) getCollection(t *testing.T) *facesearchv1.Collection {
	var col facesearchv1.Collection
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: collectionName}, &col); err != nil {
		t.Fatal(err)
	}
	return &col
}

// collectionReady says whether the Collection is Ready for its current generation.
func (e *env) collectionReady() (bool, string) { return e.namedCollectionReady(collectionName) }

func indexPods() client.MatchingLabels {
	return client.MatchingLabels{"app.kubernetes.io/component": "index", "facesearch.io/collection": collectionName}
}

func (e *env) applyCollection(t *testing.T, shards int) {
	e.applyNamedCollection(t, collectionName, collectionPrefix, shards, 2)
}

// applyNamedCollection applies a Collection of the release namespace stored in the suite's
// MinIO under prefix.
func (e *env) applyNamedCollection(t *testing.T, name, prefix string, shards, replicas int) {
	e.apply(t, fmt.Sprintf(`apiVersion: facesearch.io/v1alpha1
kind: Collection
metadata: {name: %s, namespace: %s}
spec:
  storage:
    endpoint: minio.minio.svc:9000
    bucket: %s
    prefix: %s
    credentialsSecretRef: {name: minio-credentials}
  imageSources: [{prefix: photos/}]
  index: {shards: %d, replicas: %d}
  deletionPolicy: Delete
`, name, releaseNamespace, bucket, prefix, shards, replicas))
}

// collection applies a Collection of 2 shards x 2 replicas and waits for its 4 index pods.
func (e *env) collection(t *testing.T) {
	e.applyCollection(t, 2)
	eventually(t, 3*time.Minute, "Collection Ready", e.collectionReady)
	eventually(t, time.Minute, "4 index pods ready", func() (bool, string) {
		return e.podsReady(releaseNamespace, indexPods(), 4)
	})
}

func userName(p string) string { return strings.ToLower(strings.ReplaceAll(p, "_", "-")) }

func (e *env) applyUser(t *testing.T, p string, keys []string) {
	e.applyUserIn(t, releaseNamespace, collectionName, p, keys)
}

func (e *env) applyUserIn(t *testing.T, namespace, collection, p string, keys []string) {
	var faces strings.Builder
	for i, k := range keys {
		fmt.Fprintf(&faces, "  - name: %s-%d\n    image: {s3Object: {name: %s}}\n", p, i, k)
	}
	e.apply(t, fmt.Sprintf(`apiVersion: facesearch.io/v1alpha1
kind: User
metadata: {name: %s, namespace: %s}
spec:
  collectionRef: {name: %s}
  userId: %s
  faces:
%s`, userName(p), namespace, collection, p, faces.String()))
}

func (e *env) waitUserActive(t *testing.T, p string) { e.waitUserActiveIn(t, releaseNamespace, p) }

func (e *env) waitUserActiveIn(t *testing.T, namespace, p string) {
	eventually(t, 3*time.Minute, "User "+namespace+"/"+p+" ACTIVE", func() (bool, string) {
		var u facesearchv1.User
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: userName(p)}, &u); err != nil {
			return false, err.Error()
		}
		if u.Status.UserStatus != facesearchv1.UserStatus("ACTIVE") {
			msg := ""
			if c := apimeta.FindStatusCondition(u.Status.Conditions, facesearchv1.ReadyCondition); c != nil {
				msg = c.Reason + ": " + c.Message
			}
			return false, string(u.Status.UserStatus) + " " + msg
		}
		return true, ""
	})
}

// users enrols the people from their photos in MinIO, as an app team does from Git.
func (e *env) users(t *testing.T, ph photos) {
	for _, p := range people[:4] {
		e.applyUser(t, p, ph.enrol[p])
	}
	for _, p := range people[:4] {
		e.waitUserActive(t, p)
	}
	eventually(t, time.Minute, "Collection counts 4 users and 12 faces", func() (bool, string) {
		col := e.getCollection(t)
		return col.Status.UserCount == 4 && col.Status.FaceCount == 12, fmt.Sprintf("%d users, %d faces", col.Status.UserCount, col.Status.FaceCount)
	})
}

// searchRequest asks who is in a photo that was not enrolled.
func (e *env) searchRequest(t *testing.T, ph photos) {
	want := "John_Savage"
	e.apply(t, fmt.Sprintf(`apiVersion: facesearch.io/v1alpha1
kind: SearchRequest
metadata: {name: who-is-this, namespace: %s}
spec:
  collectionRef: {name: %s}
  image: {s3Object: {name: %s}}
  maxUsers: 3
`, releaseNamespace, collectionName, ph.search[want][0]))
	var sr facesearchv1.SearchRequest
	eventually(t, 2*time.Minute, "SearchRequest answered", func() (bool, string) {
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: "who-is-this"}, &sr); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
		if c == nil || c.Status == metav1.ConditionUnknown {
			return false, "not finished"
		}
		return true, ""
	})
	c := apimeta.FindStatusCondition(sr.Status.Conditions, facesearchv1.SucceededCondition)
	if c.Status != metav1.ConditionTrue {
		t.Fatalf("SearchRequest failed: %s %s", c.Reason, c.Message)
	}
	if len(sr.Status.UserMatches) == 0 || sr.Status.UserMatches[0].User.UserID != want {
		t.Fatalf("SearchRequest matches %+v, want %s first", sr.Status.UserMatches, want)
	}
	t.Logf("SearchRequest: %s at %s", sr.Status.UserMatches[0].User.UserID, sr.Status.UserMatches[0].Similarity)
}

// searchCases are the client's -case arguments for the people enrolled in the Collection.
func searchCases(ph photos, ps []string) []string {
	var args []string
	for _, p := range ps {
		for _, k := range ph.search[p] {
			args = append(args, "-case", p+"="+k)
		}
	}
	return args
}

// sdkClient enrols and searches through the Rekognition API from a Pod, with the AWS SDK,
// by the endpoint Service's cluster DNS name.
func (e *env) sdkClient(t *testing.T, ph photos) {
	for _, p := range people[:2] {
		name := "enrol-" + userName(p)
		e.clientPod(t, name, "enrol", "-collection", "api-people", "-user", p, "-faces", strings.Join(ph.enrol[p], ","))
		if r := e.clientWait(t, name, 3*time.Minute); r.Failed > 0 || r.OK != 3 {
			t.Fatalf("enrol %s: %+v", p, r)
		}
	}
	e.clientPod(t, "search-api", append([]string{"search", "-collection", "api-people"}, searchCases(ph, people[:2])...)...)
	if r := e.clientWait(t, "search-api", 2*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != 4 {
		t.Fatalf("search: %+v", r)
	}
	// The same client searches the Collection that was applied with kubectl.
	e.clientPod(t, "search-people", append([]string{"search", "-collection", collectionName}, searchCases(ph, people[:4])...)...)
	if r := e.clientWait(t, "search-people", 2*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != 8 {
		t.Fatalf("search: %+v", r)
	}
}

// startLoad starts a client Pod that searches for d, and indexes a photo into api-people in a
// loop meanwhile, and waits until its searches succeed.
func (e *env) startLoad(t *testing.T, name string, ph photos, d time.Duration) {
	e.clientPod(t, name, append([]string{"load", "-collection", collectionName, "-duration", d.String(), "-workers", "2",
		"-write-collection", "api-people", "-write-photo", ph.enrol[people[0]][0]}, searchCases(ph, people[:4])...)...)
	eventually(t, time.Minute, name+" searching", func() (bool, string) {
		ok, failed, wrong, err := e.clientProgress(name)
		if err != nil {
			return false, err.Error()
		}
		return ok > 0, fmt.Sprintf("ok=%d failed=%d wrong=%d", ok, failed, wrong)
	})
}

// loadResult waits for a load and fails the case on any failed call (beyond the SDK's own
// retries, which are logged), wrong answer, or lost or duplicated face.
func (e *env) loadResult(t *testing.T, name, what string) clientResult {
	t.Helper()
	r := e.clientWait(t, name, 3*time.Minute)
	t.Logf("%s: searches ok=%d failed=%d wrong=%d; writes ok=%d failed=%d lost=%d duplicated=%d; SDK attempts %d, failed attempts (retried) %d",
		what, r.OK, r.Failed, r.Wrong, r.Writes, r.WriteFailed, r.Lost, r.Duplicated, r.Attempts, r.AttemptFailures)
	if r.Failed != 0 || r.Wrong != 0 || r.WriteFailed != 0 || r.Lost != 0 || r.Duplicated != 0 || r.OK == 0 || r.Writes == 0 {
		t.Errorf("%s: want every call to succeed, every answer right, no face lost or duplicated (%v)", what, r.Errors)
	}
	return r
}

// indexPodKilled kills one replica of a shard while calls run: the other replica answers.
func (e *env) indexPodKilled(t *testing.T, ph photos) {
	e.startLoad(t, "load-kill-index", ph, 45*time.Second)
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(releaseNamespace), indexPods(),
		client.MatchingLabels{"facesearch.io/shard": "0"}); err != nil || len(pods.Items) != 2 {
		t.Fatalf("shard 0 pods: %d (%v)", len(pods.Items), err)
	}
	victim := pods.Items[0].Name
	t.Logf("killing index pod %s", victim)
	e.kubectlRun(t, "-n", releaseNamespace, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
	e.loadResult(t, "load-kill-index", "an index pod killed")
	eventually(t, 2*time.Minute, "4 index pods ready again", func() (bool, string) {
		return e.podsReady(releaseNamespace, indexPods(), 4)
	})
}

func apiPods() client.MatchingLabels {
	return client.MatchingLabels{"app.kubernetes.io/instance": release, "app.kubernetes.io/component": "api"}
}

// apiAddresses are the ready api pods' own addresses.
func (e *env) apiAddresses(t *testing.T) []string {
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(releaseNamespace), apiPods()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range pods.Items {
		if p := &pods.Items[i]; isReady(p) && p.DeletionTimestamp == nil {
			out = append(out, "https://"+p.Status.PodIP+":8443")
		}
	}
	sort.Strings(out)
	return out
}

// tokenOnReplicas sends a mutating call with a ClientRequestToken to one api replica and again
// to the other, as an SDK retry after a failover lands: the same answer, and one effect.
func (e *env) tokenOnReplicas(t *testing.T) {
	addrs := e.apiAddresses(t)
	if len(addrs) < 2 {
		t.Fatalf("api replicas ready: %v, want 2", addrs)
	}
	e.clientPod(t, "token", "token", "-collection", "api-people", "-endpoints", strings.Join(addrs, ","),
		"-server-name", release+"-api."+releaseNamespace+".svc")
	if r := e.clientWait(t, "token", 2*time.Minute); r.Failed > 0 || r.OK != 2*len(addrs)+1 {
		t.Fatalf("token retried on another replica: %+v", r)
	}
}

// apiPodKilled kills an api pod while calls run: the Service sends them to the other.
func (e *env) apiPodKilled(t *testing.T, ph photos) {
	e.startLoad(t, "load-kill-api", ph, 45*time.Second)
	names := e.podNames(t, apiPods())
	var victim string
	for n := range names {
		victim = n
		break
	}
	t.Logf("killing api pod %s (of %d)", victim, len(names))
	e.kubectlRun(t, "-n", releaseNamespace, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
	e.loadResult(t, "load-kill-api", "an api pod killed")
	eventually(t, 2*time.Minute, "2 api pods ready again", func() (bool, string) { return e.podsReady(releaseNamespace, apiPods(), 2) })
}

// scaleAPI sets the api Deployment's replicas and waits until exactly that many pods run.
func (e *env) scaleAPI(t *testing.T, n int) {
	e.kubectlRun(t, "-n", releaseNamespace, "scale", "deployment", release+"-api", fmt.Sprintf("--replicas=%d", n))
	eventually(t, 3*time.Minute, fmt.Sprintf("%d api pods ready", n), func() (bool, string) {
		return e.podsReady(releaseNamespace, apiPods(), n)
	})
}

// apiScaled adds a third api replica while calls run: it takes requests only once it serves.
func (e *env) apiScaled(t *testing.T, ph photos) {
	e.startLoad(t, "load-scale-api", ph, 45*time.Second)
	e.scaleAPI(t, 3)
	e.loadResult(t, "load-scale-api", "api scaled from 2 to 3")
}

// apiThroughput measures searches per second and their latency with 1, 2 and 3 api replicas,
// as ratios to one replica in the same run, and leaves 2.
func (e *env) apiThroughput(t *testing.T, ph photos) {
	type row struct {
		replicas int
		r        clientResult
	}
	var rows []row
	for _, n := range []int{1, 2, 3} {
		e.scaleAPI(t, n)
		name := fmt.Sprintf("bench-api-%d", n)
		e.clientPod(t, name, append([]string{"load", "-collection", collectionName, "-duration", "20s", "-workers", "4"}, searchCases(ph, people[:4])...)...)
		r := e.clientWait(t, name, 2*time.Minute)
		if r.Failed != 0 || r.Wrong != 0 || r.OK == 0 {
			t.Errorf("%d replicas: ok=%d failed=%d wrong=%d (%v)", n, r.OK, r.Failed, r.Wrong, r.Errors)
		}
		rows = append(rows, row{n, r})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SearchUsersByImage, 4 in flight from one SDK client, 20 s per row, ratios to 1 replica:\n")
	fmt.Fprintf(&b, "%-9s %9s %8s %8s %8s %8s %8s\n", "replicas", "req/s", "x1", "p50 ms", "x1", "p99 ms", "x1")
	for _, r := range rows {
		base := rows[0].r
		fmt.Fprintf(&b, "%-9d %9.2f %8.2f %8.0f %8.2f %8.0f %8.2f\n", r.replicas, r.r.Rate, r.r.Rate/base.Rate,
			r.r.P50, r.r.P50/base.P50, r.r.P99, r.r.P99/base.P99)
	}
	t.Log("\n" + b.String())
	e.scaleAPI(t, 2)
}

// reshard grows the Collection from 2 to 3 shards; every answer stays right.
func (e *env) reshard(t *testing.T, ph photos) {
	e.startLoad(t, "load-reshard", ph, 60*time.Second)
	e.applyCollection(t, 3)
	eventually(t, 3*time.Minute, "Collection Ready with 3 shards", e.collectionReady)
	eventually(t, 2*time.Minute, "6 index pods ready", func() (bool, string) {
		return e.podsReady(releaseNamespace, indexPods(), 6)
	})
	r := e.clientWait(t, "load-reshard", 2*time.Minute)
	if r.Wrong != 0 {
		t.Errorf("wrong answers while resharding: %d (%v)", r.Wrong, r.Errors)
	}
	t.Logf("searches while resharding 2 -> 3: ok=%d failed=%d", r.OK, r.Failed)
	e.clientPod(t, "search-3-shards", append([]string{"search", "-collection", collectionName}, searchCases(ph, people[:4])...)...)
	if r := e.clientWait(t, "search-3-shards", 2*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != 8 {
		t.Fatalf("search with 3 shards: %+v", r)
	}
}

func (e *env) managerPods() client.MatchingLabels {
	return client.MatchingLabels{"app.kubernetes.io/instance": release, "app.kubernetes.io/component": "manager"}
}

func (e *env) podNames(t *testing.T, sel client.MatchingLabels) map[string]bool {
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(releaseNamespace), sel); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range pods.Items {
		names[p.Name] = true
	}
	return names
}

// helmUpgrade moves the release to a new image tag (and a changed value), as an upgrade to a
// new release does: the manager and every index pod roll. It counts the searches that fail
// while they roll; none may be answered wrongly.
func (e *env) helmUpgrade(t *testing.T, ph photos) {
	before := e.podNames(t, e.managerPods())
	for n := range e.podNames(t, apiPods()) {
		before[n] = true
	}
	e.startLoad(t, "load-upgrade", ph, 90*time.Second)
	_, tag, _ := strings.Cut(e.upgrade, ":")
	args := append([]string{"upgrade", release, e.chart}, e.helmValues("--set", "image.tag="+tag, "--set", "manager.logLevel=debug")...)
	e.run(t, "", e.helm, args...)
	eventually(t, 3*time.Minute, "the manager and the api pods rolled", func() (bool, string) {
		for _, sel := range []client.MatchingLabels{e.managerPods(), apiPods()} {
			for n := range e.podNames(t, sel) {
				if before[n] {
					return false, n + " still there"
				}
			}
		}
		if ok, why := e.podsReady(releaseNamespace, e.managerPods(), 1); !ok {
			return false, why
		}
		return e.podsReady(releaseNamespace, apiPods(), 2)
	})
	eventually(t, 4*time.Minute, "every index pod on the new image", func() (bool, string) {
		var pods corev1.PodList
		if err := e.c.List(context.Background(), &pods, client.InNamespace(releaseNamespace), indexPods()); err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image != e.upgrade {
				return false, p.Name + " runs " + p.Spec.Containers[0].Image
			}
		}
		return e.podsReady(releaseNamespace, indexPods(), 6)
	})
	eventually(t, 3*time.Minute, "Collection Ready after the upgrade", e.collectionReady)
	e.loadResult(t, "load-upgrade", "helm upgrade (manager, api and index pods rolled)")
}

// managerKilled kills the manager; a new one takes over and the status converges.
func (e *env) managerKilled(t *testing.T, ph photos) {
	before := e.podNames(t, e.managerPods())
	for n := range before {
		e.kubectlRun(t, "-n", releaseNamespace, "delete", "pod", n, "--grace-period=0", "--force", "--wait=false")
	}
	eventually(t, 3*time.Minute, "a new manager ready", func() (bool, string) {
		for n := range e.podNames(t, e.managerPods()) {
			if before[n] {
				return false, n + " still there"
			}
		}
		return e.podsReady(releaseNamespace, e.managerPods(), 1)
	})
	// The new manager reconciles: a User applied now becomes ACTIVE and is counted.
	e.applyUser(t, people[4], ph.enrol[people[4]])
	e.waitUserActive(t, people[4])
	eventually(t, 2*time.Minute, "Collection counts 5 users", func() (bool, string) {
		col := e.getCollection(t)
		return col.Status.UserCount == 5 && col.Status.FaceCount == 15, fmt.Sprintf("%d users, %d faces", col.Status.UserCount, col.Status.FaceCount)
	})
	e.clientPod(t, "search-after-failover", append([]string{"search", "-collection", collectionName}, searchCases(ph, people)...)...)
	if r := e.clientWait(t, "search-after-failover", 2*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != 10 {
		t.Fatalf("search after the manager was replaced: %+v", r)
	}
}

// deleteCollection deletes the Collection (deletionPolicy Delete): no face data is left in
// MinIO. What stays are the commit keys, each overwritten with a 4-byte marker (the deletion's,
// or the compaction's when it had emptied the commit already) that keeps a writer still in
// flight from creating it again (docs/security.md).
func (e *env) deleteCollection(t *testing.T) {
	mc := e.minioClient(t)
	ctx := context.Background()
	type object struct {
		key  string
		size int64
	}
	list := func() []object {
		var objs []object
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: collectionPrefix, Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			objs = append(objs, object{o.Key, o.Size})
		}
		return objs
	}
	before := list()
	var faceBytes int64
	for _, o := range before {
		faceBytes += o.size
	}
	if faceBytes < 10000 {
		t.Fatalf("%d objects, %d bytes under %s before the deletion: the test would prove nothing", len(before), faceBytes, collectionPrefix)
	}
	e.kubectlRun(t, "-n", releaseNamespace, "delete", "collection", collectionName, "--timeout=3m")
	eventually(t, time.Minute, "index pods gone", func() (bool, string) {
		var pods corev1.PodList
		if err := e.c.List(ctx, &pods, client.InNamespace(releaseNamespace), indexPods()); err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d index pods", len(pods.Items))
	})
	after := list()
	for _, o := range after {
		if !strings.Contains(o.key, "/log/") || o.size != 4 {
			t.Errorf("left after the deletion: %s (%d bytes)", o.key, o.size)
			continue
		}
		obj, err := mc.GetObject(ctx, bucket, o.key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 8)
		n, _ := obj.Read(data)
		_ = obj.Close()
		// FSD1 marks a commit erased by the deletion, FSC1 one that an earlier compaction
		// had already emptied (its faces moved to a snapshot, now erased): both are 4 bytes
		// that keep the key taken, with nothing of a face in them.
		if m := string(data[:n]); m != "FSD1" && m != "FSC1" {
			t.Errorf("commit %s holds %q, not a marker", o.key, data[:n])
		}
	}
	t.Logf("before the deletion: %d objects, %d bytes; after: %d deletion markers of 4 bytes", len(before), faceBytes, len(after))
}

// dumpState logs what a failed case needs to be understood: pods, events, the manager's log.
func (e *env) dumpState(t *testing.T) {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "collections,users,searchrequests", "-A"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", releaseNamespace, "logs", "-l", "app.kubernetes.io/component=manager", "--tail=200"},
		{"-n", releaseNamespace, "logs", "-l", "app.kubernetes.io/component=api", "--tail=60", "--prefix"},
		{"-n", releaseNamespace, "logs", "-l", "app.kubernetes.io/component=index", "--tail=30", "--prefix"},
		{"-n", releaseNamespace, "logs", "-l", "app.kubernetes.io/component=index", "--tail=30", "--prefix", "--previous"},
	} {
		out, err := e.try("", e.kubectl, args...)
		t.Logf("kubectl %s:\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
	if dir := os.Getenv("FACESEARCH_E2E_ARTIFACTS"); dir != "" {
		t.Logf("node logs are kept in %s", dir)
	}
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}
