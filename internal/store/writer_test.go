package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// The crash tests run this test binary again as a writer process (see TestMain) and kill it
// with SIGKILL at many points of its work.
const writerEnv = "FACESEARCH_STORE_TEST_WRITER"

const writerImages = 60

func userOf(i int) string { return fmt.Sprintf("u%d", i%4) }

// runWriter does, for each image i: index it; if i%3 == 0 associate it to userOf(i); if
// i%5 == 0 disassociate and delete it; if i%8 == 7 compact. Every step is idempotent, so a
// killed writer can simply run again. It prints a line after each step that succeeded.
func runWriter() int {
	cfg := strings.Split(os.Getenv(writerEnv), ",")
	c, err := store.NewClient(cfg[0], cfg[1], cfg[2], false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := store.New(c, cfg[3], "tenant-a", store.Options{SegmentVectors: 7, RequestTimeout: 2 * time.Second})
	coll := cfg[4]
	ctx := context.Background()
	// retry runs op until it succeeds or fails for a reason retrying cannot fix.
	// A step still failing after two minutes is reported rather than retried forever: the
	// test then fails with the error instead of hanging until its timeout (it once did, for
	// 40 minutes, while a benchmark beside it starved MinIO).
	retry := func(op func() error) {
		start := time.Now()
		for {
			err := op()
			if err == nil {
				return
			}
			if !errs.IsRetryable(err) {
				fmt.Fprintln(os.Stderr, "fatal:", err)
				os.Exit(3)
			}
			if time.Since(start) > 2*time.Minute {
				fmt.Fprintln(os.Stderr, "fatal: still failing after 2 minutes:", err)
				os.Exit(4)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	always := func(float32) float32 { return 100 }
	for i := 0; i < writerImages; i++ {
		var id string
		retry(func() error {
			recs, err := s.IndexFaces(ctx, coll, []store.NewFace{face(i)}, store.IndexFacesOptions{})
			if err == nil {
				id = recs[0].FaceID
			}
			return err
		})
		fmt.Printf("indexed %d %s\n", i, id)
		if i%3 == 0 {
			retry(func() error {
				err := s.CreateUser(ctx, coll, userOf(i), store.UserOptions{ClientRequestToken: "t-" + userOf(i)})
				if errs.Is(err, errs.Conflict) {
					return nil
				}
				return err
			})
			associated := true
			retry(func() error {
				res, err := s.AssociateFaces(ctx, coll, userOf(i), []string{id}, store.AssociateFacesOptions{Similarity: always})
				if err == nil && len(res.Associated) != 1 {
					// Only a face that is deleted anyway may have been deleted by another
					// writer running the same work.
					if i%5 == 0 && res.Unsuccessful[0].Reasons[0] == store.ReasonFaceNotFound {
						associated = false
						return nil
					}
					return fmt.Errorf("not associated: %+v", res)
				}
				return err
			})
			if associated {
				fmt.Printf("associated %d %s\n", i, id)
			}
		}
		if i%5 == 0 {
			if i%3 == 0 {
				retry(func() error {
					_, err := s.DisassociateFaces(ctx, coll, userOf(i), []string{id}, store.UserOptions{})
					return err
				})
			}
			retry(func() error {
				_, unsucc, err := s.DeleteFaces(ctx, coll, []string{id})
				if err == nil && len(unsucc) > 0 && unsucc[0].Reasons[0] != store.ReasonFaceNotFound {
					return fmt.Errorf("not deleted: %+v", unsucc)
				}
				return err
			})
			fmt.Printf("deleted %d %s\n", i, id)
		}
		if i%8 == 7 {
			retry(func() error { return s.Compact(ctx, coll) })
			fmt.Printf("compacted %d\n", i)
		}
	}
	fmt.Println("done")
	return 0
}

type writer struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func startWriter(t *testing.T, f *testenv.Bucket, coll string) *writer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+strings.Join([]string{f.Server.Endpoint, f.Server.AccessKey, f.Server.SecretKey, f.Name, coll}, ","))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &writer{cmd: cmd, lines: bufio.NewScanner(out)}
}

// progress records what the writers reported as done.
type progress struct {
	indexed    map[int]string // image -> FaceId, for images that are never deleted
	associated map[int]bool
	conflicts  []string
}

// read consumes n lines (all if n < 0) and returns whether the writer said "done".
func (w *writer) read(t *testing.T, p *progress, n int) bool {
	t.Helper()
	for n != 0 && w.lines.Scan() {
		n--
		fields := strings.Fields(w.lines.Text())
		if fields[0] == "done" {
			return true
		}
		if len(fields) < 3 {
			continue
		}
		i, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "indexed":
			if i%5 != 0 {
				if old, ok := p.indexed[i]; ok && old != fields[2] {
					// Reported by checkInvariants: read may run on another goroutine.
					p.conflicts = append(p.conflicts, fmt.Sprintf("image %d indexed again as %s, was %s", i, fields[2], old))
				}
				p.indexed[i] = fields[2]
			}
		case "associated":
			p.associated[i] = true
		}
	}
	return false
}

func (w *writer) kill(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	_ = w.cmd.Wait()
}

// checkInvariants reads the collection with a fresh Store: no committed face lost, no face
// half-written (records and vectors agree, vectors exact), no image indexed twice.
func checkInvariants(t *testing.T, f *testenv.Bucket, coll string, p *progress) map[int]string {
	t.Helper()
	if len(p.conflicts) > 0 {
		t.Fatalf("duplicates reported by the writers: %v", p.conflicts)
	}
	ctx := context.Background()
	s := f.Store()
	faces, _, err := s.ListFaces(ctx, coll, store.ListFacesOptions{MaxResults: 4096})
	if err != nil {
		t.Fatal(err)
	}
	byImage := map[int]string{}
	for _, r := range faces {
		i, err := strconv.Atoi(strings.TrimPrefix(r.ImageID, "img-"))
		if err != nil {
			t.Fatalf("bad record %+v", r)
		}
		if old, dup := byImage[i]; dup {
			t.Fatalf("image %d has two faces: %s and %s", i, old, r.FaceID)
		}
		byImage[i] = r.FaceID
		if r.ExternalImageID != fmt.Sprintf("ext-%d", i) || r.Confidence != 99.5 || r.BoundingBox.Width != 0.5 {
			t.Fatalf("record of image %d is not what was written: %+v", i, r)
		}
		if p.associated[i] && i%5 != 0 && r.UserID != userOf(i) {
			t.Fatalf("face of image %d lost its user: %+v", i, r)
		}
	}
	for i, id := range p.indexed {
		if byImage[i] != id {
			t.Fatalf("committed face %s of image %d is lost (have %q)", id, i, byImage[i])
		}
	}
	vs, err := s.LoadVectors(ctx, coll, store.LoadVectorsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.IDs) != len(faces) {
		t.Fatalf("%d vectors for %d face records", len(vs.IDs), len(faces))
	}
	imageOf := map[string]int{}
	for i, id := range byImage {
		imageOf[id] = i
	}
	for k, id := range vs.IDs {
		i, ok := imageOf[id.String()]
		if !ok {
			t.Fatalf("vector %s has no record", id)
		}
		want := vec(i)
		for j, x := range vs.Vectors[k*dim : (k+1)*dim] {
			// fp16 once compacted: within 2^-11 of the value, which is under 1.
			if math.Abs(float64(x-want[j])) > 5e-4 {
				t.Fatalf("vector of image %d differs at %d: %v vs %v", i, j, x, want[j])
			}
		}
	}
	return byImage
}

func TestCrashSafetyKilledWriter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mustCreate(t, f.Store(), "crash")
	p := &progress{indexed: map[int]string{}, associated: map[int]bool{}}
	// Kill the writer after a varying number of completed steps: each kill lands somewhere
	// else inside an index, associate, delete or compaction.
	for round, after := range []int{1, 2, 5, 9, 14, 20, 27, 35, 44, 54, 65, 77, 90} {
		w := startWriter(t, f, "crash")
		if w.read(t, p, after) {
			t.Fatalf("round %d: the writer finished before it could be killed", round)
		}
		if round == 6 {
			// MinIO goes away and comes back while the writer works.
			f.Server.Kill()
			if err := f.Server.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			w.read(t, p, 3)
		}
		w.kill(t)
		checkInvariants(t, f, "crash", p)
	}
	w := startWriter(t, f, "crash")
	if !w.read(t, p, -1) {
		t.Fatal("the last writer did not finish")
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	byImage := checkInvariants(t, f, "crash", p)
	for i := 0; i < writerImages; i++ {
		if _, ok := byImage[i]; ok != (i%5 != 0) {
			t.Fatalf("image %d present=%v at the end", i, ok)
		}
	}
}

// Two writer processes run the same work on one collection at once, racing on every
// commit; one is killed midway and run again. Nothing is lost or duplicated.
func TestTwoWriterProcesses(t *testing.T) {
	f := newFixture(t)
	mustCreate(t, f.Store(), "two")
	p := &progress{indexed: map[int]string{}, associated: map[int]bool{}}
	a := startWriter(t, f, "two")
	b := startWriter(t, f, "two")
	bDone := make(chan bool, 1)
	pb := &progress{indexed: map[int]string{}, associated: map[int]bool{}}
	go func() { bDone <- b.read(t, pb, -1) }()
	a.read(t, p, 25)
	a.kill(t)
	a = startWriter(t, f, "two")
	if !a.read(t, p, -1) || a.cmd.Wait() != nil {
		t.Fatal("writer a did not finish")
	}
	if !<-bDone || b.cmd.Wait() != nil {
		t.Fatal("writer b did not finish")
	}
	p.conflicts = append(p.conflicts, pb.conflicts...)
	for i, id := range pb.indexed {
		if p.indexed[i] != id {
			t.Fatalf("the two writers got different faces for image %d: %s and %s", i, p.indexed[i], id)
		}
	}
	byImage := checkInvariants(t, f, "two", p)
	for i := 0; i < writerImages; i++ {
		if _, ok := byImage[i]; ok != (i%5 != 0) {
			t.Fatalf("image %d present=%v at the end", i, ok)
		}
	}
}
