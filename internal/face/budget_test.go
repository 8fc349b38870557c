package face

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestDecodeCostCoversAllocation checks the cost model against what Go's decoders really
// allocate (runtime.MemStats.TotalAlloc around one decode, the least of three tries so that
// another goroutine's allocations cannot count): never less, and no more than the fixed
// allowance plus 10%, or the budget would admit fewer images than it could.
func TestDecodeCostCoversAllocation(t *testing.T) {
	noise := image.NewRGBA(image.Rect(0, 0, 1001, 999))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i*7 + i/4013)
	}
	photo := facetest.JPEG(noise, 90) // baseline 4:2:0, as cameras write
	trns := zeroPNG(1001, 999, 0, 8, false)
	trns = append(pngChunk(trns[:33:33], "tRNS", []byte{0, 0}), trns[33:]...) // grey with a colour key: NRGBA
	tests := []struct {
		name string
		data []byte
	}{
		{"baseline jpeg 4:2:0", photo},
		{"baseline jpeg 4:2:0 turned", facetest.WithEXIFOrientation(photo, 6)},
		{"progressive grey", progressiveJPEG(1001, 999, grey, -1)},
		{"progressive 4:2:0", progressiveJPEG(1001, 999, yuv420, -1)},
		{"progressive 4:2:0 turned", facetest.WithEXIFOrientation(progressiveJPEG(1001, 999, yuv420, -1), 8)},
		{"progressive 4:4:4", progressiveJPEG(1001, 999, yuv444, -1)},
		{"progressive 4:4:4 stored as RGB", progressiveJPEG(1001, 999, yuv444, 0)},
		{"progressive 4:1:0", progressiveJPEG(1001, 999, []jpegComp{{4, 2}, {1, 1}, {1, 1}}, -1)},
		{"progressive cmyk", progressiveJPEG(1001, 999, cmyk, 0)},
		{"progressive ycck 2x2", progressiveJPEG(1001, 999, []jpegComp{{2, 2}, {1, 1}, {1, 1}, {2, 2}}, 2)},
		{"png rgba 16-bit", zeroPNG(1001, 999, 6, 16, false)},
		{"png rgba 16-bit interlaced", zeroPNG(1001, 999, 6, 16, true)},
		{"png rgb 8-bit interlaced", zeroPNG(1001, 999, 2, 8, true)},
		{"png grey 8-bit", zeroPNG(1001, 999, 0, 8, false)},
		{"png grey 8-bit with tRNS", trns},
		{"png grey 16-bit", zeroPNG(1001, 999, 0, 16, false)},
		{"png palette 1-bit", zeroPNG(1001, 999, 3, 1, false)},
		{"png smallest", zeroPNG(80, 80, 6, 8, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDecodeCost(t, tt.data, false) })
	}
	// WebP images cwebp makes of the noise; lossless ones (and lossless alpha) are costed
	// at the most Huffman tables the decoder builds, far over what these take.
	translucent, opaque := image.NewNRGBA(noise.Rect), image.NewRGBA(noise.Rect)
	copy(translucent.Pix, noise.Pix)
	copy(opaque.Pix, noise.Pix)
	for i := 3; i < len(opaque.Pix); i += 4 {
		opaque.Pix[i] = 255
	}
	for _, tt := range []struct {
		name    string
		src     image.Image
		options []string
		worst   bool
	}{
		{"webp lossy", opaque, []string{"-q", "80"}, false},
		{"webp lossy with raw alpha", translucent, []string{"-q", "80", "-alpha_method", "0"}, false},
		{"webp lossy with lossless alpha", translucent, []string{"-q", "80"}, true},
		{"webp lossless", opaque, []string{"-lossless", "-z", "0"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDecodeCost(t, webpOf(t, tt.src, tt.options...), tt.worst) })
	}
	// Every Huffman table the VP8L decoder allows, in a 300 KB file: what the cost of a
	// lossless WebP is for.
	t.Run("webp lossless, every huffman table", func(t *testing.T) { checkDecodeCost(t, vp8lTablesBomb(204, 204), false) })
}

// checkDecodeCost decodes data and checks its cost against the bytes the decode allocated:
// never under, and at most 10% + decodeOverhead over unless costed at a worst case.
func checkDecodeCost(t *testing.T, data []byte, worstCase bool) {
	t.Helper()
	hdr, err := inspectImage(data, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	alloc := int64(-1)
	for try := 0; try < 3; try++ {
		pixPool = sync.Pool{} // a pooled buffer would hide the RGB copy
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, _, err := hdr.decode(data)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		img.release()
		if a := int64(after.TotalAlloc - before.TotalAlloc); alloc < 0 || a < alloc {
			alloc = a
		}
	}
	t.Logf("%s: %dx%d, %d bytes, cost %d, allocated %d (%.2f bytes a pixel)", hdr.kind, hdr.w, hdr.h, len(data), hdr.cost, alloc, float64(alloc)/float64(hdr.w*hdr.h))
	if hdr.cost < alloc {
		t.Errorf("cost %d under the %d bytes the decode allocated", hdr.cost, alloc)
	}
	if !worstCase && hdr.cost > alloc+alloc/10+decodeOverhead {
		t.Errorf("cost %d far over the %d bytes the decode allocated", hdr.cost, alloc)
	}
}

// burstImages are worst-case images of each kind at about 1 Mpx, costing 8-27 MB each.
func burstImages() [][]byte {
	return [][]byte{
		progressiveJPEG(1000, 1000, cmyk, 0),
		zeroPNG(1000, 1000, 6, 16, true),
		progressiveJPEG(1000, 1000, yuv444, -1),
		zeroPNG(1000, 1000, 6, 16, false),
		facetest.WithEXIFOrientation(progressiveJPEG(1000, 1000, yuv420, -1), 6),
	}
}

// TestDecodeBudgetBoundsConcurrentDecodes runs many decodes of worst-case images at once
// through a small budget: the room held, counted by the test itself while each decoded
// image is alive, never exceeds the decode share, every decode finishes, and the budget
// ends empty.
func TestDecodeBudgetBoundsConcurrentDecodes(t *testing.T) {
	b := newDecodeBudget(64<<20, 16<<20, time.Minute) // 48 MiB to decode: 2-5 of these at once
	imgs := burstImages()
	hdrs := make([]imageHeader, len(imgs))
	for i, data := range imgs {
		var err error
		if hdrs[i], err = inspectImage(data, ImageLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	var live, most atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 3; r++ {
				k := (g + r) % len(imgs)
				img, _, room, err := b.decodeImage(context.Background(), &hdrs[k], imgs[k])
				if err != nil {
					errc <- err
					return
				}
				now := live.Add(hdrs[k].cost)
				for m := most.Load(); now > m; m = most.Load() {
					if most.CompareAndSwap(m, now) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond) // as if detecting
				live.Add(-hdrs[k].cost)
				img.release()
				room.Release()
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("decode failed: %v", err)
	}
	t.Logf("most decode room in use: %d of %d (budget's own count %d)", most.Load(), b.DecodeBytes(), b.Peak())
	if most.Load() > b.DecodeBytes() || b.Peak() > b.Bytes() {
		t.Errorf("in flight %d (budget's count %d), over the decode share %d", most.Load(), b.Peak(), b.DecodeBytes())
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still held after every request finished", b.InFlight())
	}
}

// TestDecodeBudgetThrottles fills the budget and checks that waiting requests fail with
// ProvisionedThroughputExceeded after MaxWait (retryable), or with their context's error
// when that ends first, and succeed once the room is given back.
func TestDecodeBudgetThrottles(t *testing.T) {
	b := newDecodeBudget(64<<20, 16<<20, 20*time.Millisecond)
	data := progressiveJPEG(1000, 1000, cmyk, 0)
	hdr, err := inspectImage(data, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	hold, err := b.take(context.Background(), &b.decode, b.DecodeBytes()-hdr.cost+1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, _, room, err := b.decodeImage(context.Background(), &hdr, data)
			if err == nil {
				img.release()
				room.Release()
			}
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if !errs.Is(err, errs.ProvisionedThroughputExceeded) || !errs.IsRetryable(err) {
			t.Errorf("got %v, want a retryable ProvisionedThroughputExceeded", err)
		}
	}
	if b.Throttled() != 8 {
		t.Errorf("Throttled() = %d, want 8", b.Throttled())
	}
	patient := newDecodeBudget(64<<20, 16<<20, time.Minute)
	full, err := patient.take(context.Background(), &patient.decode, patient.DecodeBytes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, _, err := patient.decodeImage(ctx, &hdr, data); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a waiter whose context ends first got %v, want its context's error", err)
	}
	full.Release()
	hold.Release()
	img, _, room, err := b.decodeImage(context.Background(), &hdr, data)
	if err != nil {
		t.Fatalf("with the room given back: %v", err)
	}
	img.release()
	room.Release()
	if b.InFlight() != 0 || b.Peak() > b.Bytes() {
		t.Errorf("in flight %d, peak %d of %d", b.InFlight(), b.Peak(), b.Bytes())
	}
}

func TestDecodeBudgetRefusesWhatCannotFit(t *testing.T) {
	b := newDecodeBudget(64<<20, 16<<20, time.Minute)
	data := progressiveJPEG(2000, 1500, cmyk, 0) // 81 MB
	hdr, err := inspectImage(data, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.decodeImage(context.Background(), &hdr, data); !errs.Is(err, errs.ImageTooLarge) {
		t.Fatalf("got %v, want ImageTooLarge", err)
	}
	if _, err := b.ReserveRead(context.Background(), b.ReadBytes()+1); !errs.Is(err, errs.ImageTooLarge) {
		t.Fatalf("read over the read share: %v, want ImageTooLarge", err)
	}
	if b.InFlight() != 0 || b.Peak() != 0 {
		t.Errorf("refused requests took room: %d, peak %d", b.InFlight(), b.Peak())
	}
}

func TestDecodeBudgetReads(t *testing.T) {
	b := newDecodeBudget(64<<20, 16<<20, 10*time.Millisecond)
	r, err := b.ReserveRead(context.Background(), MaxStorageImageBytes+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReserveRead(context.Background(), MaxStorageImageBytes+1); !errs.Is(err, errs.ProvisionedThroughputExceeded) {
		t.Fatalf("a second full read: %v, want ProvisionedThroughputExceeded", err)
	}
	r.Shrink(3 << 20) // what was read
	r2, err := b.ReserveRead(context.Background(), 12<<20)
	if err != nil {
		t.Fatalf("after the first read shrank: %v", err)
	}
	if got := b.InFlight(); got != 15<<20 {
		t.Errorf("in flight %d, want %d", got, 15<<20)
	}
	r.Release()
	r.Release() // twice is harmless
	r2.Release()
	if b.InFlight() != 0 {
		t.Errorf("in flight %d after release", b.InFlight())
	}
}

func TestNewDecodeBudgetShares(t *testing.T) {
	for _, tt := range []struct{ bytes, total, read int64 }{
		{512 << 20, 512 << 20, 64 << 20},
		{1 << 30, 1 << 30, 128 << 20},
		{64 << 20, 64 << 20, MaxStorageImageBytes + 1},
		{1 << 20, MinDecodeBudgetBytes, MaxStorageImageBytes + 1},
	} {
		b := NewDecodeBudget(DecodeBudgetOptions{Bytes: tt.bytes})
		if b.Bytes() != tt.total || b.ReadBytes() != tt.read || b.DecodeBytes() != tt.total-tt.read {
			t.Errorf("%d: total %d read %d decode %d, want %d %d", tt.bytes, b.Bytes(), b.ReadBytes(), b.DecodeBytes(), tt.total, tt.read)
		}
	}
	if d := NewDecodeBudget(DecodeBudgetOptions{}); d.Bytes() != DefaultDecodeBudgetSize() {
		t.Errorf("default budget %d, want %d", d.Bytes(), DefaultDecodeBudgetSize())
	}
}

func TestMemoryLimitFromCgroup(t *testing.T) {
	write := func(t *testing.T, root, file, content string) {
		p := filepath.Join(root, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, file, content string
		limit, budget       int64
	}{
		{"v2 limit", "memory.max", "2147483648\n", 2 << 30, 512 << 20},
		{"v2 no limit", "memory.max", "max\n", 0, DefaultDecodeBudgetBytes},
		{"v2 small limit", "memory.max", "134217728\n", 128 << 20, MinDecodeBudgetBytes},
		{"v1 limit", "memory/memory.limit_in_bytes", "8589934592\n", 8 << 30, 2 << 30},
		{"v1 no limit", "memory/memory.limit_in_bytes", "9223372036854771712\n", 0, DefaultDecodeBudgetBytes},
		{"garbage", "memory.max", "lots\n", 0, DefaultDecodeBudgetBytes},
		{"no cgroup files", "", "", 0, DefaultDecodeBudgetBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.file != "" {
				write(t, root, tt.file, tt.content)
			}
			got := memoryLimit(root)
			if got != tt.limit || budgetForLimit(got) != tt.budget {
				t.Errorf("limit %d budget %d, want %d %d", got, budgetForLimit(got), tt.limit, tt.budget)
			}
		})
	}
}

// TestDecodeBudgetSharedAcrossEngines makes one engine of each model pack on one budget:
// while the budget is full, both packs' requests are throttled, and both run once it is
// given back. Engines made without a budget share the process's.
func TestDecodeBudgetSharedAcrossEngines(t *testing.T) {
	lib := testenv.ONNXRuntimeLibrary(t)
	b := newDecodeBudget(64<<20, 16<<20, 50*time.Millisecond)
	var engines []*Engine
	for _, pack := range []string{testenv.ModelPack(t), testenv.DlibBlazeFacePack(t)} {
		e, err := NewEngine(EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: lib, MaxConcurrent: 1, DecodeBudget: b})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		engines = append(engines, e)
	}
	photo := facetest.JPEG(facetest.Solid(640, 480, color.RGBA{90, 90, 90, 255}), 90)
	hold, err := b.take(context.Background(), &b.decode, b.DecodeBytes()-1<<20) // leaves 1 MiB: less than the photo needs
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		if _, err := e.SearchImage(context.Background(), photo, SearchOptions{}); !errs.Is(err, errs.ProvisionedThroughputExceeded) {
			t.Errorf("%s with the shared budget full: %v, want ProvisionedThroughputExceeded", e.FaceModelVersion(), err)
		}
	}
	hold.Release()
	for _, e := range engines {
		if _, err := e.SearchImage(context.Background(), photo, SearchOptions{}); err != nil {
			t.Errorf("%s: %v", e.FaceModelVersion(), err)
		}
	}
	// An image costlier than the whole decode share is refused before it takes a worker.
	if _, err := engines[0].IndexImage(context.Background(), progressiveJPEG(2000, 1500, cmyk, 0), IndexOptions{}); !errs.Is(err, errs.ImageTooLarge) {
		t.Errorf("an image over the decode share: %v, want ImageTooLarge", err)
	}
	if b.InFlight() != 0 || b.Peak() > b.Bytes() {
		t.Errorf("in flight %d, peak %d of %d", b.InFlight(), b.Peak(), b.Bytes())
	}
	a, d := testEngine(t), dlibEngine(t)
	if a.DecodeBudget() != DefaultDecodeBudget() || d.DecodeBudget() != DefaultDecodeBudget() {
		t.Errorf("engines made without a budget do not share the process's")
	}
}
