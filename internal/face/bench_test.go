package face

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/face/facetest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// benchImages are JPEGs made from the example photos: 640x480 from a 3-face PASCAL photo,
// 1920x1080 from the 24-face group photo (cropped to 16:9), both quality 90. They are made
// once per process (about a second of decoding and resizing).
func benchImages(b *testing.B) map[string][]byte {
	b.Helper()
	benchImagesCache.Lock()
	defer benchImagesCache.Unlock()
	if benchImagesCache.m == nil {
		benchImagesCache.m = makeBenchImages(b)
	}
	return benchImagesCache.m
}

var benchImagesCache struct {
	sync.Mutex
	m map[string][]byte
}

func makeBenchImages(b *testing.B) map[string][]byte {
	b.Helper()
	small := loadRGBA(b, photoPath(b, "2008_002506.jpg"))
	group := loadRGBA(b, photoPath(b, "bald_guys.jpg"))
	w := group.Rect.Dx()
	h := w * 9 / 16
	top := (group.Rect.Dy() - h) / 2
	crop := facetest.ToRGBA(group.SubImage(image.Rect(0, top, w, top+h)))
	return map[string][]byte{
		"640x480":   facetest.JPEG(facetest.Resize(small, 640, 480), 90),
		"1920x1080": facetest.JPEG(facetest.Resize(crop, 1920, 1080), 90),
	}
}

// benchSizes are the images each benchmark runs on: both, or with -short (make bench-smoke,
// part of make test) only 640x480, since that run only proves that the benchmarks work.
func benchSizes() []string {
	if testing.Short() {
		return []string{"640x480"}
	}
	return []string{"640x480", "1920x1080"}
}

func benchEngineOf(b *testing.B, pack string, concurrent int) *Engine {
	b.Helper()
	e, err := NewEngine(EngineOptions{ModelPackDir: pack, ONNXRuntimeLibrary: testenv.ONNXRuntimeLibrary(b), MaxConcurrent: concurrent, IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// benchPacks runs fn once per model pack, as a sub-benchmark named by its FaceModelVersion,
// so that both packs are measured in the same run.
func benchPacks(b *testing.B, concurrent int, fn func(b *testing.B, e *Engine)) {
	for _, pack := range []string{testenv.ModelPack(b), testenv.DlibBlazeFacePack(b)} {
		e := benchEngineOf(b, pack, concurrent)
		b.Run(e.FaceModelVersion(), func(b *testing.B) { fn(b, e) })
	}
}

func ms(d time.Duration, n int) float64 { return float64(d) / float64(n) / 1e6 }

// BenchmarkStages runs IndexImage (every face detected and embedded) one image at a time
// with one ONNX thread and reports each stage's milliseconds per image, the ONNX Runtime
// inference time inside them, and end-to-end time over inference time measured in the same
// run (the overhead the engine adds around the networks).
func BenchmarkStages(b *testing.B) { benchPacks(b, 1, benchStages) }

func benchStages(b *testing.B, e *Engine) {
	imgs := benchImages(b)
	for _, name := range benchSizes() {
		data := imgs[name]
		b.Run(name, func(b *testing.B) {
			var st stageStats
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := e.indexImage(ctx, data, IndexOptions{QualityFilter: QualityNone}, &st); err != nil {
					b.Fatal(err)
				}
			}
			total := time.Since(start)
			b.StopTimer()
			n := b.N
			b.ReportMetric(float64(st.faces)/float64(n), "faces/img")
			b.ReportMetric(float64(st.detectRuns)/float64(n), "detector-passes/img")
			b.ReportMetric(ms(st.decode, n), "decode-ms")
			b.ReportMetric(ms(st.detect, n), "detect-ms")
			b.ReportMetric(ms(st.detectInfer, n), "detect-onnx-ms")
			b.ReportMetric(ms(st.landmarks, n), "landmarks-ms")
			b.ReportMetric(ms(st.landmarksInfer, n), "landmarks-onnx-ms")
			b.ReportMetric(ms(st.align, n), "align+quality-ms")
			b.ReportMetric(ms(st.embed, n), "embed-ms")
			b.ReportMetric(ms(st.embedInfer, n), "embed-onnx-ms")
			b.ReportMetric(ms(st.inference(), n), "onnx-total-ms")
			b.ReportMetric(float64(total)/float64(st.inference()), "e2e/onnx")
			b.ReportMetric(float64(total-st.decode)/float64(st.inference()), "e2e-without-decode/onnx")
		})
	}
}

// BenchmarkSearchImage is the search path: the largest face embedded, the others only
// detected and landmarked.
func BenchmarkSearchImage(b *testing.B) { benchPacks(b, 1, benchSearchImage) }

func benchSearchImage(b *testing.B, e *Engine) {
	imgs := benchImages(b)
	for _, name := range benchSizes() {
		data := imgs[name]
		b.Run(name, func(b *testing.B) {
			var st stageStats
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := e.searchImage(context.Background(), data, SearchOptions{}, &st); err != nil {
					b.Fatal(err)
				}
			}
			total := time.Since(start)
			b.ReportMetric(float64(total)/float64(st.inference()), "e2e/onnx")
		})
	}
}

// BenchmarkThroughput processes images from many goroutines with MaxConcurrent 2 and one
// ONNX thread each (two images in flight on a 2-core machine) and reports images/s.
func BenchmarkThroughput(b *testing.B) { benchPacks(b, 2, benchThroughput) }

func benchThroughput(b *testing.B, e *Engine) {
	imgs := benchImages(b)
	for _, name := range benchSizes() {
		data := imgs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(2) // a few requests queued per core, as behind an HTTP server
			var mu sync.Mutex
			var st stageStats
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			b.RunParallel(func(pb *testing.PB) {
				var local stageStats
				for pb.Next() {
					if _, err := e.indexImage(context.Background(), data, IndexOptions{QualityFilter: QualityNone}, &local); err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				st.faces += local.faces
				mu.Unlock()
			})
			el, cpu := time.Since(start), processCPU()-cpu0
			b.ReportMetric(float64(b.N)/el.Seconds(), "img/s")
			b.ReportMetric(float64(st.faces)/el.Seconds(), "faces/s")
			if cpu > 0 {
				// On a shared machine wall-clock img/s says more about the neighbours than
				// the engine; CPU time per image gives what 2 dedicated cores would do.
				b.ReportMetric(ms(cpu, b.N), "cpu-ms/img")
				b.ReportMetric(2*float64(b.N)/cpu.Seconds(), "img/s-on-2-dedicated-cores")
			}
		})
	}
}

// BenchmarkDecode is the decode stage alone (JPEG to upright RGB), for the allocation count.
func BenchmarkDecode(b *testing.B) {
	imgs := benchImages(b)
	for _, name := range benchSizes() {
		data := imgs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				img, _, err := decodeImage(data, ImageLimits{})
				if err != nil {
					b.Fatal(err)
				}
				img.release()
			}
		})
	}
}
