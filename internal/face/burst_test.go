package face

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
)

// BenchmarkDecodeBurst measures the peak memory (VmHWM) of a process that receives a burst
// of worst-case images at once, each decoded and held as long as an inference would, with
// the decode budget and without it (every decode at once, as before the budget). Each
// burst runs in a child process (this test binary again) so that its peak is its own. It
// prints a table; it asserts nothing about memory or time, which depend on the machine.
//
//	go test ./internal/face -run '^$' -bench BenchmarkDecodeBurst -benchtime 1x
//
// FACESEARCH_BURST_SIZE (default 1200x1200), FACESEARCH_BURST_IMAGES (16) and
// FACESEARCH_BURST_BUDGET (default 64Mi; the manager's default is 512Mi) change the burst.
// GOMEMLIMIT, when set, is passed on to the children.
func BenchmarkDecodeBurst(b *testing.B) {
	size := envOr("FACESEARCH_BURST_SIZE", "1200x1200")
	n := envOr("FACESEARCH_BURST_IMAGES", "16")
	budget := envOr("FACESEARCH_BURST_BUDGET", "64Mi")
	type row struct {
		kind             string
		base, with       burstResult
		baseErr, withErr error
	}
	var rows []row
	for i := 0; i < b.N; i++ {
		rows = rows[:0]
		for _, kind := range burstKinds {
			r := row{kind: kind}
			r.base, r.baseErr = runBurstChild(kind, size, n, "0")
			r.with, r.withErr = runBurstChild(kind, size, n, budget)
			rows = append(rows, r)
		}
	}
	b.StopTimer()
	var out strings.Builder
	fmt.Fprintf(&out, "\nBurst of %s images of %s at once (budget %s, GOMEMLIMIT %q, GOMAXPROCS %d); peak RSS is VmHWM of the process less its RSS before the burst.\n\n",
		n, size, budget, os.Getenv("GOMEMLIMIT"), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&out, "| image | file | decode cost each | peak RSS, no budget | peak RSS, budget | ratio | most room held | time, no budget | time, budget |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if r.baseErr != nil || r.withErr != nil {
			fmt.Fprintf(&out, "| %s | error: %v %v |\n", r.kind, r.baseErr, r.withErr)
			continue
		}
		fmt.Fprintf(&out, "| %s | %d KiB | %d MiB | %d MiB | %d MiB | %.2f | %d MiB | %.1f s | %.1f s |\n", r.kind, r.with.fileBytes>>10, r.with.cost>>20,
			r.base.peak>>20, r.with.peak>>20, float64(r.with.peak)/float64(r.base.peak), r.with.held>>20, r.base.elapsed.Seconds(), r.with.elapsed.Seconds())
	}
	fmt.Print(out.String())
}

// burstKinds are the worst-case images of the burst.
var burstKinds = []string{"png-16bit", "png-16bit-interlaced", "jpeg-progressive-cmyk", "jpeg-progressive-420-turned", "jpeg-baseline-420"}

func burstImage(kind string, w, h int) []byte {
	switch kind {
	case "png-16bit":
		return zeroPNG(w, h, 6, 16, false)
	case "png-16bit-interlaced":
		return zeroPNG(w, h, 6, 16, true)
	case "jpeg-progressive-cmyk":
		return progressiveJPEG(w, h, cmyk, 0)
	case "jpeg-progressive-420-turned":
		return facetest.WithEXIFOrientation(progressiveJPEG(w, h, yuv420, -1), 6)
	default: // an ordinary photo's format: baseline 4:2:0
		return facetest.JPEG(facetest.Solid(w, h, color.RGBA{120, 100, 90, 255}), 90)
	}
}

type burstResult struct {
	fileBytes   int
	cost        int64
	peak, held  int64 // VmHWM over the RSS before; the most room the budget held
	elapsed     time.Duration
	ok, refused int
}

const burstEnv = "FACESEARCH_FACE_BURST_CHILD"

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runBurstChild(kind, size, n, budget string) (burstResult, error) {
	var res burstResult
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), burstEnv+"="+strings.Join([]string{kind, size, n, budget}, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("%w: %s", err, stderr.String())
	}
	var ms int64
	_, err = fmt.Sscan(string(out), &res.fileBytes, &res.cost, &res.peak, &res.held, &ms, &res.ok, &res.refused)
	res.elapsed = time.Duration(ms) * time.Millisecond
	return res, err
}

// runBurst is the child: it makes the images, resets its peak RSS, decodes them all at once
// (each held 100 ms, as if detected and embedded) and prints what it measured.
func runBurst(spec string) int {
	p := strings.Split(spec, ",")
	var w, h int
	if _, err := fmt.Sscanf(p[1], "%dx%d", &w, &h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n, _ := strconv.Atoi(p[2])
	q, err := resource.ParseQuantity(p[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	data := burstImage(p[0], w, h)
	var budget *DecodeBudget
	lim := ImageLimits{MaxBytes: MaxStorageImageBytes, MaxDecodeBytes: 1 << 40} // no budget: only the old limits
	if q.Value() > 0 {
		budget = NewDecodeBudget(DecodeBudgetOptions{Bytes: q.Value(), MaxWait: time.Minute})
		lim.MaxDecodeBytes = budget.DecodeBytes()
	}
	hdr, err := inspectImage(data, lim)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := procStatus("VmRSS")
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil { // VmHWM = VmRSS from here
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			var img *rgbImage
			var room *Reservation
			var err error
			if budget != nil {
				img, _, room, err = budget.decodeImage(context.Background(), &hdr, data)
			} else {
				img, _, err = hdr.decode(data)
			}
			mu.Lock()
			if err != nil {
				refused++
				if !errs.Is(err, errs.ProvisionedThroughputExceeded) {
					fmt.Fprintln(os.Stderr, err)
				}
			} else {
				ok++
			}
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			img.release()
			room.Release()
		}()
	}
	close(gate)
	wg.Wait()
	elapsed := time.Since(start)
	var held int64
	if budget != nil {
		held = budget.Peak()
	}
	fmt.Println(len(data), hdr.cost, procStatus("VmHWM")-before, held, elapsed.Milliseconds(), ok, refused)
	return 0
}

// procStatus reads a size in kB from /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(burstEnv); spec != "" {
		os.Exit(runBurst(spec))
	}
	os.Exit(m.Run())
}
