package browsertest

import (
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const page = `<!doctype html>
<html><head><title>browsertest</title></head>
<body style="font: 24px sans-serif">
<p id="out">before</p>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
</body></html>`

// TestSmoke drives the installed Chromium through a page served on 127.0.0.1: a click
// changes the text, the text is read back, and the screenshot is a PNG.
func TestSmoke(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	defer srv.Close()

	ctx := New(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.Click(chromedp.ID("go"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "clicked" {
		t.Fatalf("after the click the text is %q, want %q", text, "clicked")
	}

	f, err := os.Open(Screenshot(ctx, t, "smoke.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("the screenshot is %v", b)
	}
}
