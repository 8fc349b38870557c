package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/bulk"
)

const (
	bulkCollection   = "bulk-people"
	bulkPrefix       = "e2e-bulk/"
	bulkSourcePrefix = "enrol/"
	bulkJob          = "enrol-bulk-people"
	bulkWorkers      = 2
)

// bulkEnrolJob runs the Indexed Job of config/samples/bulk-enrol-job.yaml (the one
// docs/bulk-enrolment.md describes), its values changed for a Collection of its own: two
// workers enrol every test photo under enrol/, one user per folder. A worker's pod is
// force-deleted after its first committed batch; the Job starts it again and it resumes. The
// Job must complete with every photo counted once and the Collection holding exactly the faces
// the workers counted indexed (a batch stored twice would show as more), and a search must
// find the right users.
func (e *env) bulkEnrolJob(t *testing.T, ph photos) {
	ctx := context.Background()
	mc := e.minioClient(t)
	total := 0
	for _, p := range people {
		files, err := filepath.Glob(filepath.Join(e.testfaces, "johns", p, "*.jpg"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no photos (%v)", p, err)
		}
		for _, f := range files {
			if _, err := mc.FPutObject(ctx, bucket, bulkSourcePrefix+p+"/"+filepath.Base(f), f, minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	e.applyNamedCollection(t, bulkCollection, bulkPrefix, 1, 1)
	eventually(t, 3*time.Minute, "Collection "+bulkCollection+" Ready", func() (bool, string) { return e.namedCollectionReady(bulkCollection) })

	job := e.sampleBulkJob(t)
	if err := e.c.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	progress := func(w int) *bulk.Progress {
		obj, err := mc.GetObject(ctx, bucket, bulk.ProgressKey(bulkPrefix, bulkJob, w), minio.GetObjectOptions{})
		if err != nil {
			return nil
		}
		defer func() { _ = obj.Close() }()
		var p bulk.Progress
		if err := json.NewDecoder(obj).Decode(&p); err != nil {
			return nil
		}
		return &p
	}
	// Kill a worker between batches: poll its progress object closely, since each worker
	// has only a few dozen photos.
	killed, done := -1, 0
	for deadline := time.Now().Add(3 * time.Minute); killed < 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no worker was seen part-way through its photos in 3 minutes")
		}
		for w := 0; w < bulkWorkers && killed < 0; w++ {
			p := progress(w)
			if p == nil || p.Done == 0 || p.Finished != nil {
				continue
			}
			pod := e.workerPod(t, w)
			if pod == "" {
				continue
			}
			e.kubectlRun(t, "-n", releaseNamespace, "delete", "pod", pod, "--grace-period=0", "--force")
			killed, done = w, p.Done
			t.Logf("worker %d's pod %s force-deleted after %d of its %d photos", w, pod, p.Done, p.Listed)
		}
	}

	eventually(t, 5*time.Minute, "Job "+bulkJob+" complete", func() (bool, string) {
		var j batchv1.Job
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: bulkJob}, &j); err != nil {
			return false, err.Error()
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("Job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("succeeded %d, failed %d, active %d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	})
	elapsed := time.Since(start)

	indexed, counted := 0, 0
	for w := 0; w < bulkWorkers; w++ {
		p := progress(w)
		if p == nil || p.Finished == nil {
			t.Fatalf("worker %d: no finished progress: %+v", w, p)
		}
		if w == killed && (p.Starts < 2 || p.Done < done) {
			t.Errorf("worker %d was killed at %d photos but its progress says %d starts, %d done", w, done, p.Starts, p.Done)
		}
		t.Logf("worker %d: %d starts, %d listed, %d indexed, %d without a face, %d failed, %d batches", w, p.Starts, p.Listed, p.Indexed, p.NoFace, p.Failed, p.Batches)
		indexed += p.Indexed
		counted += p.Indexed + p.NoFace + p.Failed
	}
	if counted != total || indexed < total*9/10 {
		t.Fatalf("the workers counted %d photos (%d indexed), want all %d counted once and nearly all indexed", counted, indexed, total)
	}
	// The Collection counts its faces at its next reconcile.
	eventually(t, 2*time.Minute, "the Collection's faceCount", func() (bool, string) {
		var col facesearchv1.Collection
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: bulkCollection}, &col); err != nil {
			return false, err.Error()
		}
		if col.Status.FaceCount > int64(indexed) {
			t.Fatalf("the Collection holds %d faces, more than the %d photos indexed: a photo was stored twice", col.Status.FaceCount, indexed)
		}
		return col.Status.FaceCount == int64(indexed), fmt.Sprintf("faceCount %d, want %d", col.Status.FaceCount, indexed)
	})
	t.Logf("%d photos enrolled by %d workers in %s, one worker killed and resumed", total, bulkWorkers, elapsed.Round(100*time.Millisecond))

	e.clientPod(t, "search-bulk", append([]string{"search", "-collection", bulkCollection}, searchCases(ph, people[:2])...)...)
	if r := e.clientWait(t, "search-bulk", 2*time.Minute); r.Failed > 0 || r.Wrong > 0 || r.OK != 4 {
		t.Fatalf("search of the bulk-enrolled collection: %+v", r)
	}

	e.kubectlRun(t, "-n", releaseNamespace, "delete", "job", bulkJob, "--cascade=foreground", "--timeout=1m")
	e.kubectlRun(t, "-n", releaseNamespace, "delete", "collection", bulkCollection, "--timeout=3m")
}

// sampleBulkJob reads config/samples/bulk-enrol-job.yaml and points it at this suite's
// Collection, MinIO and image, with small batches so that a kill lands between two.
func (e *env) sampleBulkJob(t *testing.T) *batchv1.Job {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "bulk-enrol-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(data, &job); err != nil {
		t.Fatal(err)
	}
	job.Name, job.Namespace = bulkJob, releaseNamespace
	job.Spec.Completions, job.Spec.Parallelism = ptr.To[int32](bulkWorkers), ptr.To[int32](bulkWorkers)
	pod := &job.Spec.Template.Spec
	c := &pod.Containers[0]
	c.Image, c.ImagePullPolicy = e.image, corev1.PullNever
	// One CPU at most each, a quarter requested: two workers and the suite share two cores.
	c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("250m")
	c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1")
	set := map[string]string{
		"--collection": bulkCollection, "--storage-endpoint": "minio.minio.svc:9000", "--bucket": bucket,
		"--prefix": bulkPrefix, "--source-prefix": bulkSourcePrefix, "--job": bulkJob, "--workers": strconv.Itoa(bulkWorkers),
	}
	for i, a := range c.Args {
		name, _, ok := strings.Cut(a, "=")
		if v, known := set[name]; ok && known {
			c.Args[i] = name + "=" + v
			delete(set, name)
		}
	}
	if len(set) != 0 {
		t.Fatalf("the sample Job lacks the flags %v", set)
	}
	c.Args = append(c.Args, "--batch=2", "--parallel=1")
	return &job
}

// workerPod is the running pod of an Indexed Job's worker w, or "" while there is none.
func (e *env) workerPod(t *testing.T, w int) string {
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(releaseNamespace), client.MatchingLabels{"batch.kubernetes.io/job-name": bulkJob}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == strconv.Itoa(w) && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			return p.Name
		}
	}
	return ""
}

// namedCollectionReady says whether a Collection of the release namespace is Ready for its
// current generation.
func (e *env) namedCollectionReady(name string) (bool, string) {
	var col facesearchv1.Collection
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: name}, &col); err != nil {
		return false, err.Error()
	}
	c := apimeta.FindStatusCondition(col.Status.Conditions, facesearchv1.ReadyCondition)
	if c == nil {
		return false, "no Ready condition"
	}
	if c.Status != metav1.ConditionTrue || col.Status.ObservedGeneration != col.Generation {
		return false, fmt.Sprintf("Ready=%s %s: %s (generation %d observed %d)", c.Status, c.Reason, c.Message, col.Generation, col.Status.ObservedGeneration)
	}
	return true, ""
}
