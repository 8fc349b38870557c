package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/facesearch/facesearch-operator/internal/bulk"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// bulkFixture is a bucket holding a collection and photos under photos/<person>/: the
// labelled crops of the test faces and their mirror images.
type bulkFixture struct {
	bucket *testenv.Bucket
	photos int
	// args are the flags every bulk-enrol of the fixture takes.
	args []string
}

func newBulkFixture(t *testing.T) *bulkFixture {
	t.Helper()
	bucket := testenv.NewBucket(t, testenv.BucketOptions{Prefix: "fs/"})
	pack := testenv.ModelPack(t)
	m, err := face.LoadManifest(pack)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CreateCollection(t, bucket.Store(), "people", m.FaceModelVersion, m.Embedder.Dimension)
	f := &bulkFixture{bucket: bucket, args: []string{
		"--collection", "people", "--storage-endpoint", bucket.Server.Endpoint, "--bucket", bucket.Name, "--prefix", "fs/",
		"--source-prefix", "photos/", "--model-packs", pack, "--onnxruntime-library", testenv.ONNXRuntimeLibrary(t),
	}}
	files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", "*", "*.jpg"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := facetest.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		person, name := filepath.Base(filepath.Dir(file)), filepath.Base(file)
		f.put(t, "photos/"+person+"/"+name, data)
		f.put(t, "photos/"+person+"/mirror-"+name, facetest.JPEG(mirror(m), 90))
	}
	return f
}

func (f *bulkFixture) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := f.bucket.Client.PutObject(context.Background(), f.bucket.Name, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	f.photos++
}

// mirror is m flipped left to right.
func mirror(m *image.RGBA) *image.RGBA {
	out := image.NewRGBA(m.Rect)
	w := m.Rect.Dx()
	for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
		for x := 0; x < w; x++ {
			out.SetRGBA(m.Rect.Min.X+x, y, m.RGBAAt(m.Rect.Max.X-1-x, y))
		}
	}
	return out
}

// start runs `facesearch bulk-enrol` as a process of its own (this test binary again).
func (f *bulkFixture) start(t *testing.T, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args, _ := json.Marshal(append(append([]string{"bulk-enrol"}, f.args...), extra...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args),
		"FACESEARCH_STORAGE_ACCESS_KEY="+f.bucket.Server.AccessKey, "FACESEARCH_STORAGE_SECRET_KEY="+f.bucket.Server.SecretKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &out
}

// progress reads the job's progress objects.
func (f *bulkFixture) progress(t *testing.T, job string) []bulk.Progress {
	t.Helper()
	ps, err := bulk.ReadJob(context.Background(), f.bucket.Client, f.bucket.Name, "fs/", job)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestBulkEnrolKilled runs `facesearch bulk-enrol` as a process, SIGKILLs it at a random
// moment after some of its progress writes (three times), runs it to the end, and
// checks that every photo was enrolled exactly once: as many faces as photos counted
// indexed, no ExternalImageId twice, each face on its user.
func TestBulkEnrolKilled(t *testing.T) {
	f := newBulkFixture(t)
	flags := []string{"--job", "killed", "--batch", "4", "--parallel", "1", "--progress-interval", "1s"}
	kills, batches := 0, 0
	for kills < 3 {
		cmd, out := f.start(t, flags...)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Killed after 1 to 4 more batches (of about 28), then 0-300 ms into the next ones.
		wait := batches + 1 + rand.IntN(4)
		for {
			ps := f.progress(t, "killed")
			if len(ps) == 1 && ps[0].Batches >= wait {
				batches = ps[0].Batches
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("bulk-enrol ended before it was killed (%v):\n%s", err, out)
			case <-time.After(20 * time.Millisecond):
			}
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if err := <-exited; err == nil {
			t.Fatal("bulk-enrol ended well though it was killed")
		}
		kills++
		t.Logf("killed after batch %d", batches)
	}
	cmd, out := f.start(t, flags...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bulk-enrol after %d kills: %v\n%s", kills, err, out)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("worker 0 of 1 of job killed: %d photos", f.photos)) {
		t.Fatalf("bulk-enrol said:\n%s", out)
	}
	ps := f.progress(t, "killed")
	if len(ps) != 1 || ps[0].Starts != kills+1 || ps[0].Done != f.photos || ps[0].Finished == nil ||
		ps[0].Indexed+ps[0].NoFace+ps[0].Failed != f.photos || ps[0].Indexed < f.photos*3/4 {
		t.Fatalf("progress %+v of %d photos", ps, f.photos)
	}

	st := f.bucket.Store()
	seen := map[string]string{}
	token := ""
	for {
		page, next, err := st.ListFaces(context.Background(), "people", store.ListFacesOptions{MaxResults: store.MaxListResults, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if other, ok := seen[r.ExternalImageID]; ok {
				t.Fatalf("photo %s enrolled twice: faces %s and %s", r.ExternalImageID, other, r.FaceID)
			}
			seen[r.ExternalImageID] = r.FaceID
			if user, _, _ := strings.Cut(r.ExternalImageID, ":"); r.UserID != user {
				t.Fatalf("face %s of %s is on user %q", r.FaceID, r.ExternalImageID, r.UserID)
			}
		}
		if token = next; token == "" {
			break
		}
	}
	if len(seen) != ps[0].Indexed {
		t.Fatalf("%d faces stored, %d photos counted indexed", len(seen), ps[0].Indexed)
	}

	// --status sums the job's progress.
	var status bytes.Buffer
	args := append(append([]string{}, f.args...), "--job", "killed", "--status")
	t.Setenv("FACESEARCH_STORAGE_ACCESS_KEY", f.bucket.Server.AccessKey)
	t.Setenv("FACESEARCH_STORAGE_SECRET_KEY", f.bucket.Server.SecretKey)
	if err := runBulkEnrol(context.Background(), args, &status, &status); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(status.String(), "\n")
	total := strings.Fields(lines[2])
	want := []string{"total", fmt.Sprint(f.photos), fmt.Sprint(f.photos), fmt.Sprint(ps[0].Indexed)}
	if len(total) < 4 || strings.Join(total[:4], " ") != strings.Join(want, " ") || !strings.Contains(lines[1], "finished") {
		t.Fatalf("status:\n%s", status.String())
	}
}

// TestBulkEnrolFlags: the command refuses what it cannot run with, before it loads anything.
func TestBulkEnrolFlags(t *testing.T) {
	testCases := []struct {
		args []string
		want string
	}{
		{args: []string{"--collection", "people"}, want: "are required"},
		{args: []string{"--collection", "people", "--storage-endpoint", "127.0.0.1:1", "--bucket", "b", "--job", "j", "x.jpg"}, want: "flags only"},
		{args: []string{"--storage-endpoint", "127.0.0.1:1", "--bucket", "b", "--job", "J"}, want: "no collection"},
	}
	for _, tc := range testCases {
		var out bytes.Buffer
		err := runBulkEnrol(context.Background(), append(tc.args, "--model-packs", testenv.ModelPack(t), "--onnxruntime-library", testenv.ONNXRuntimeLibrary(t)), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bulk-enrol %q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("JOB_COMPLETION_INDEX", "7")
	if envInt("JOB_COMPLETION_INDEX", 0) != 7 {
		t.Fatal("JOB_COMPLETION_INDEX not read")
	}
}
