package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

// TestBulkEnrolJobInDocs keeps docs/bulk-enrolment.md's Indexed Job true: it is a valid Job
// (strict decoding), Indexed, with --workers equal to its completions and --job equal to its
// name, every flag one the image's bulk-enrol defines, the storage keys from the chart's
// default storage Secret, and the pod as locked down as the chart's own.
func TestBulkEnrolJobInDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "bulk-enrolment.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) != 1 {
		t.Fatalf("docs/bulk-enrolment.md has %d yaml blocks, want the Job's one", len(blocks))
	}
	// The docs show the sample file that the e2e suite runs on a node (BulkEnrolIndexedJob).
	sample, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "bulk-enrol-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(sample, []byte("apiVersion:")); i < 0 || !bytes.Equal(sample[i:], blocks[0][1]) {
		t.Error("docs/bulk-enrolment.md's Job is not config/samples/bulk-enrol-job.yaml (from apiVersion on)")
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(blocks[0][1], &job); err != nil {
		t.Fatalf("the documented Job: %v", err)
	}
	spec := job.Spec
	if job.Kind != "Job" || spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion || spec.Completions == nil ||
		spec.BackoffLimit == nil || spec.Template.Spec.RestartPolicy != "Never" {
		t.Fatalf("the documented Job is not an Indexed Job with completions, backoffLimit and restartPolicy Never: %+v", spec)
	}
	c := spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "bulk-enrol" {
		t.Fatalf("args %q", c.Args)
	}
	assertFlagsDefined(t, "bulk-enrol", c.Args[1:])
	flags := map[string]string{}
	for _, a := range c.Args[1:] {
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags[name] = value
	}
	if flags["workers"] != strconv.Itoa(int(*spec.Completions)) || flags["job"] != job.Name {
		t.Errorf("--workers=%s --job=%s, the Job has completions %d and name %s", flags["workers"], flags["job"], *spec.Completions, job.Name)
	}

	var values struct {
		Storage struct {
			Credentials struct {
				Name string `json:"name"`
			} `json:"credentials"`
		} `json:"storage"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != values.Storage.Credentials.Name {
			t.Errorf("env %s is not from the chart's storage Secret %q", e.Name, values.Storage.Credentials.Name)
			continue
		}
		keys[e.Name] = e.ValueFrom.SecretKeyRef.Key
	}
	if keys["FACESEARCH_STORAGE_ACCESS_KEY"] != "accessKey" || keys["FACESEARCH_STORAGE_SECRET_KEY"] != "secretKey" {
		t.Errorf("storage keys %v", keys)
	}

	// The binary writes to /tmp as it starts: a read-only root needs an emptyDir there.
	tmp := false
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Template.Spec.Volumes {
			tmp = tmp || (m.MountPath == "/tmp" && !m.ReadOnly && m.Name == v.Name && v.EmptyDir != nil)
		}
	}
	if !tmp {
		t.Error("the Job's container has no writable emptyDir at /tmp")
	}

	sc, psc := c.SecurityContext, spec.Template.Spec.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("the Job's pod is not locked down: %+v %+v", psc, sc)
	}
}
