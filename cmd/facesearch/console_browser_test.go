package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	xdraw "golang.org/x/image/draw"

	"github.com/facesearch/facesearch-operator/internal/browsertest"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// updateScreenshot rewrites the README's picture of the console from TestBrowserConsole:
// go test ./cmd/facesearch/ -run TestBrowserConsole -args -update-screenshot
var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/console-search.png: TestBrowserConsole's search page after the search of its group photo")

const (
	// docsScreenshot is shown by README.md and docs/console.md.
	docsScreenshot = "../../docs/console-search.png"
	// maxDocsScreenshot keeps the repository's picture small.
	maxDocsScreenshot = 400 << 10
	// boxTolerance is how far, in CSS pixels, a face box drawn in the page may be from the
	// API's BoundingBox on the photo as rendered.
	boxTolerance = 3.0
	// viewportWidth is the README picture's width, and the width the page is first laid out at.
	viewportWidth, viewportHeight = 1200, 900
)

// The keys of the test's local stack: the environment's administrator, and one of its
// --api-credentials-file that may only read the staff collection.
const (
	browserAdminKey, browserAdminSecret   = "AKIDBROWSERADMIN01", "browser-admin-secret"
	browserNarrowKey, browserNarrowSecret = "AKIDBROWSERNARROW1", "browser-narrow-secret"
)

// TestBrowserConsole drives the local stack's console in headless Chromium as a person would:
// sign-in refused and accepted, the collections, a search of a group photo whose drawn boxes
// are measured against DetectFaces' and whose top user is SearchUsersByImage's, a click on
// another face, a key limited to one collection, and signing out. Each step leaves a
// screenshot (browsertest.ArtifactDir).
func TestBrowserConsole(t *testing.T) {
	bctx := browsertest.New(t) // first: without Chromium the test skips before the stack starts
	keysFile := filepath.Join(t.TempDir(), "keys.env")
	keys := fmt.Sprintf("%s=%s\n%[1]s.scope=read\n%[1]s.collections=staff\n", browserNarrowKey, browserNarrowSecret)
	if err := os.WriteFile(keysFile, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	env := startLocalStack(t, browserAdminKey, browserAdminSecret, "--api-credentials-file", keysFile)
	sdk := localSDK(env["API_ENDPOINT"], browserAdminKey, browserAdminSecret)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	people := photosOfPeople(t)
	staff := enrolPeople(ctx, t, sdk, "staff", people[:3], 3)
	enrolPeople(ctx, t, sdk, "archive", people[3:4], 1)

	// The group photo: a photo of each of the three, none used to enrol them, largest first.
	tiles := []groupTile{
		{person: people[0].name, photo: people[0].photos[8], side: 260, x: 20, y: 70},
		{person: people[1].name, photo: people[1].photos[8], side: 200, x: 330, y: 100},
		{person: people[2].name, photo: people[2].photos[8], side: 150, x: 590, y: 125},
	}
	const groupW, groupH = 800, 400
	group := filepath.Join(t.TempDir(), "group.jpg")
	writeGroupPhoto(t, group, groupW, groupH, tiles)
	img, err := os.ReadFile(group)
	if err != nil {
		t.Fatal(err)
	}
	detected, err := sdk.DetectFaces(ctx, &rekognition.DetectFacesInput{Image: &types.Image{Bytes: img}})
	if err != nil {
		t.Fatal(err)
	}
	if len(detected.FaceDetails) < len(tiles) {
		t.Fatalf("DetectFaces found %d faces in the group photo, want %d", len(detected.FaceDetails), len(tiles))
	}
	apiSearch, err := sdk.SearchUsersByImage(ctx, &rekognition.SearchUsersByImageInput{CollectionId: aws.String("staff"), Image: &types.Image{Bytes: img}})
	if err != nil {
		t.Fatal(err)
	}
	if len(apiSearch.UserMatches) == 0 {
		t.Fatal("SearchUsersByImage matched nobody in the group photo")
	}
	apiTop := aws.ToString(apiSearch.UserMatches[0].User.UserId)
	// whose is the person whose tile holds the centre of DetectFaces' face i.
	whose := func(i int) string {
		bb := detected.FaceDetails[i].BoundingBox
		cx := (aws.ToFloat32(bb.Left) + aws.ToFloat32(bb.Width)/2) * groupW
		for _, tl := range tiles {
			if cx >= float32(tl.x) && cx < float32(tl.x+tl.side) {
				return tl.person
			}
		}
		return ""
	}
	faceOf := func(person string) int {
		for i := range detected.FaceDetails {
			if whose(i) == person {
				return i
			}
		}
		t.Fatalf("DetectFaces found no face of %s in the group photo", person)
		return -1
	}
	largest := 0
	for i, f := range detected.FaceDetails {
		if area(f.BoundingBox) > area(detected.FaceDetails[largest].BoundingBox) {
			largest = i
		}
	}
	if whose(largest) != tiles[0].person || apiTop != tiles[0].person {
		t.Fatalf("the largest face is %s's and SearchUsersByImage's top match %s, want %s", whose(largest), apiTop, tiles[0].person)
	}

	b := &consoleTab{t: t, ctx: bctx, base: env["CONSOLE_URL"]}
	b.watchErrors()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatal(err)
	}

	// A wrong pair cannot sign in: an unknown key, then the admin key with another secret.
	for _, pair := range [][2]string{{"AKIDBROWSERNOBODY1", browserAdminSecret}, {browserAdminKey, "not-the-secret"}} {
		status := b.signIn(pair[0], pair[1])
		if status != 401 || b.path() != "/console/signin" || b.text("#signin-error") == "" || b.hasSession() {
			t.Fatalf("signing in as %s with a wrong secret: %d at %s, error %q, session cookie %v",
				pair[0], status, b.path(), b.text("#signin-error"), b.hasSession())
		}
		b.screenshot("signin-refused")
	}

	// The admin key: the collections, staff's counts, then staff's page.
	if status := b.signIn(browserAdminKey, browserAdminSecret); status != 200 || b.path() != "/console/collections" || !b.hasSession() {
		t.Fatalf("signing in as the admin: %d at %s", status, b.path())
	}
	b.screenshot("collections")
	b.fitsWidth("the collections")
	if got := b.text("#signed-in-key"); got != browserAdminKey {
		t.Errorf("signed in as %q, want %s", got, browserAdminKey)
	}
	for id, c := range map[string]enrolled{"staff": staff, "archive": {faces: 1, users: 1}} {
		row := "tr#collection-" + id
		if faces, users := b.text(row+" td.face-count"), b.text(row+" td.user-count"); faces != fmt.Sprint(c.faces) || users != fmt.Sprint(c.users) {
			t.Errorf("collection %s is listed with %q faces and %q users, want %d and %d", id, faces, users, c.faces, c.users)
		}
	}
	if status := b.navigateBy(chromedp.Click(chromedp.CSS("tr#collection-staff a.collection-link"))); status != 200 || b.path() != "/console/collections/staff" {
		t.Fatalf("opening staff: %d at %s", status, b.path())
	}
	b.screenshot("collection-staff")
	b.fitsWidth("staff's page")
	if faces, users := b.text("#face-count"), b.text("#user-count"); faces != fmt.Sprint(staff.faces) || users != fmt.Sprint(staff.users) {
		t.Errorf("staff's page says %s faces and %s users, want %d and %d", faces, users, staff.faces, staff.users)
	}
	for _, p := range people[:3] {
		if !b.present(fmt.Sprintf("table#users tr.user[data-user-id=%q]", p.name)) {
			t.Errorf("staff's page does not list user %s", p.name)
		}
	}

	// The search page: upload the group photo and search it.
	if status := b.navigateBy(chromedp.Click(chromedp.ID("search-link"))); status != 200 || b.path() != "/console/collections/staff/search" {
		t.Fatalf("opening the search page: %d at %s", status, b.path())
	}
	if err := chromedp.Do(bctx, chromedp.SetUploadFiles(chromedp.ID("image-file"), []string{group})); err != nil {
		t.Fatal(err)
	}
	b.waitFor(`!document.getElementById("preview").hidden`) // the script's preview
	b.screenshot("search-chosen")
	if status := b.navigateBy(chromedp.Click(chromedp.ID("search-submit"))); status != 200 {
		t.Fatalf("searching the group photo: %d, %q", status, b.text("#search-error"))
	}
	b.waitFor(`document.getElementById("photo").complete && document.getElementById("photo").naturalWidth > 0`)
	b.screenshot("search-result")
	b.fullScreenshot("search-result-page.png")
	if *updateScreenshot {
		b.writeDocsScreenshot(docsScreenshot)
	}
	// The boxes where the API's are, at the width first laid out and on a narrow screen,
	// where the photo is scaled down.
	check := func(step string, searched int, wantTop string) {
		t.Helper()
		for _, width := range []int64{viewportWidth, 480} {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(width, viewportHeight)); err != nil {
				t.Fatal(err)
			}
			d := b.drawn()
			b.checkBoxes(fmt.Sprintf("%s, %d px wide", step, width), d, detected.FaceDetails, searched)
			b.fitsWidth(fmt.Sprintf("%s, %d px wide", step, width))
			if width != viewportWidth {
				b.screenshot(fmt.Sprintf("%s-%dpx", strings.ReplaceAll(step, " ", "-"), width))
			}
			if d.SearchedFace != searched || d.TopUser != wantTop {
				t.Errorf("%s: the page searched face %d and shows %q first, want face %d and %s", step, d.SearchedFace, d.TopUser, searched, wantTop)
			}
		}
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
			t.Fatal(err)
		}
	}
	check("the largest face", largest, apiTop)

	// A click on another face's box searches that face (the script presses its button); the
	// last one's own "Search this face" button does the same without the script.
	second, third := faceOf(tiles[1].person), faceOf(tiles[2].person)
	if !b.present(fmt.Sprintf("rect.face-box.searchable#face-box-%d", second)) {
		t.Fatalf("face %d (%s) is not searchable", second, tiles[1].person)
	}
	if status := b.navigateBy(chromedp.Click(chromedp.ID(fmt.Sprintf("face-box-%d", second)))); status != 200 {
		t.Fatalf("searching face %d: %d, %q", second, status, b.text("#search-error"))
	}
	b.waitFor(`document.getElementById("photo").complete && document.getElementById("photo").naturalWidth > 0`)
	b.screenshot("search-clicked-face")
	check("a clicked face", second, tiles[1].person)
	if status := b.navigateBy(chromedp.Click(chromedp.CSS(fmt.Sprintf("button.search-face[value=\"%d\"]", third)))); status != 200 {
		t.Fatalf("searching face %d: %d, %q", third, status, b.text("#search-error"))
	}
	b.waitFor(`document.getElementById("photo").complete && document.getElementById("photo").naturalWidth > 0`)
	b.screenshot("search-face-button")
	check("the face of a button", third, tiles[2].person)

	// Signing out: the cookie is gone and every page sends the browser to the sign-in form.
	if status := b.navigateBy(chromedp.Click(chromedp.ID("signout"))); status != 200 || b.path() != "/console/signin" || b.hasSession() {
		t.Fatalf("signing out: %d at %s, session cookie %v", status, b.path(), b.hasSession())
	}
	if b.text("#signin-notice") == "" {
		t.Error("after signing out the sign-in page says nothing")
	}
	b.screenshot("signed-out")
	for _, page := range []string{"collections", "collections/staff", "collections/staff/search", "searchrequests"} {
		if status := b.open(page); status != 200 || b.path() != "/console/signin" {
			t.Errorf("signed out, %s: %d at %s, want the sign-in form", page, status, b.path())
		}
	}

	// The narrower key: staff only; archive is not listed and its pages are refused.
	if status := b.signIn(browserNarrowKey, browserNarrowSecret); status != 200 || b.path() != "/console/collections" {
		t.Fatalf("signing in with the narrower key: %d at %s", status, b.path())
	}
	b.screenshot("collections-narrow-key")
	b.fitsWidth("the narrower key's collections")
	if !b.present("tr#collection-staff") || b.present("tr#collection-archive") {
		t.Errorf("the narrower key's collections: staff listed %v, archive listed %v; want staff only",
			b.present("tr#collection-staff"), b.present("tr#collection-archive"))
	}
	for _, page := range []string{"collections/archive", "collections/archive/search", "collections/archive/faces"} {
		status := b.open(page)
		if status != 403 || b.text("#error-message") == "" {
			t.Errorf("the narrower key, %s: %d, %q; want 403 and the refusal", page, status, b.text("#error-message"))
		}
	}
	b.screenshot("archive-refused")
	if status := b.open("collections/staff"); status != 200 || b.text("#user-count") != fmt.Sprint(staff.users) {
		t.Errorf("the narrower key, staff's page: %d, %q users", status, b.text("#user-count"))
	}
	if status := b.navigateBy(chromedp.Click(chromedp.ID("signout"))); status != 200 || b.hasSession() {
		t.Errorf("signing out the narrower key: %d, session cookie %v", status, b.hasSession())
	}

	for _, e := range b.pageErrors() {
		t.Errorf("the browser reported: %s", e)
	}
}

// consoleTab is the console in one browser tab, with the test's checks of it.
type consoleTab struct {
	t    *testing.T
	ctx  context.Context
	base string // …/console/
	shot int

	mu     sync.Mutex
	errors []string
}

// watchErrors keeps what the pages' scripts threw and what the browser logged as errors
// (a CSP violation is one); answers with an error status are the tests' to judge.
func (b *consoleTab) watchErrors() {
	err := chromedp.Listen(b.ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level != log.EntryLevelError || ev.Entry.Source == log.EntrySourceNetwork {
				return
			}
			msg = fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		default:
			return
		}
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *consoleTab) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *consoleTab) screenshot(name string) {
	b.t.Helper()
	b.shot++
	browsertest.Screenshot(b.ctx, b.t, fmt.Sprintf("%02d-%s.png", b.shot, name))
}

// fullScreenshot keeps the whole page, beyond the viewport, in the artifact directory.
func (b *consoleTab) fullScreenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(browsertest.ArtifactDir(b.t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// writeDocsScreenshot writes the page as the README shows it: the viewport's width, the
// whole page's height.
func (b *consoleTab) writeDocsScreenshot(path string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(png) > maxDocsScreenshot {
		b.t.Fatalf("the screenshot for %s is %d KB, more than %d KB", path, len(png)>>10, maxDocsScreenshot>>10)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s (%d KB)", path, len(png)>>10)
}

// fitsWidth checks that the page needs no sideways scrolling: every part of it, the header's
// sign-out button included, is within the viewport's width.
func (b *consoleTab) fitsWidth(step string) {
	b.t.Helper()
	if w := evalIn[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		b.t.Errorf("%s: the page is %d px wide in a viewport of %d", step, w[0], w[1])
	}
}

// navigateBy runs an action that loads a page (a link, a form's button, a face's box) and
// returns the HTTP status of the page it ends on, after any redirect.
func (b *consoleTab) navigateBy(action chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, action)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp == nil {
		b.t.Fatal("the action loaded no page")
	}
	return resp.Status
}

// open loads a page under the console's base URL.
func (b *consoleTab) open(page string) int64 {
	b.t.Helper()
	return b.navigateBy(chromedp.Navigate(b.base + page))
}

func (b *consoleTab) signIn(keyID, secret string) int64 {
	b.t.Helper()
	if status := b.open("signin"); status != 200 {
		b.t.Fatalf("the sign-in page: %d", status)
	}
	if err := chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.ID("access-key-id"), keyID),
		chromedp.SendKeys(chromedp.ID("secret-access-key"), secret)); err != nil {
		b.t.Fatal(err)
	}
	return b.navigateBy(chromedp.Click(chromedp.ID("signin-submit")))
}

func (b *consoleTab) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

// evalIn runs a JavaScript expression in the page and decodes its value.
func evalIn[T any](b *consoleTab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// text is the text of the first element the CSS selector matches, "" without one.
func (b *consoleTab) text(selector string) string {
	b.t.Helper()
	return evalIn[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText.trim()`, jsString(selector)))
}

func (b *consoleTab) present(selector string) bool {
	b.t.Helper()
	return evalIn[bool](b, fmt.Sprintf(`document.querySelector(%s) !== null`, jsString(selector)))
}

// waitFor waits until a JavaScript expression is true in the page.
func (b *consoleTab) waitFor(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		b.t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// hasSession reports whether the browser holds the console's session cookie (HttpOnly: the
// page's script cannot see it).
func (b *consoleTab) hasSession() bool {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "facesearch_console" && c.Value != "" {
			return true
		}
	}
	return false
}

// clientRect is an element's getBoundingClientRect(), in CSS pixels.
type clientRect struct {
	Left   float64 `json:"left"`
	Top    float64 `json:"top"`
	Right  float64 `json:"right"`
	Bottom float64 `json:"bottom"`
}

// drawnPage is what the search page shows, as laid out on the screen.
type drawnPage struct {
	Photo clientRect `json:"photo"`
	Boxes []struct {
		Index      int        `json:"index"`
		Searched   bool       `json:"searched"`
		Searchable bool       `json:"searchable"`
		Rect       clientRect `json:"rect"`
	} `json:"boxes"`
	SearchedFace int    `json:"searchedFace"`
	TopUser      string `json:"topUser"`
}

const drawnScript = `(() => {
  const rect = e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const searched = document.getElementById("searched-face");
  const top = document.querySelector("#user-matches li.user-match");
  return {
    photo: rect(document.getElementById("photo")),
    boxes: Array.from(document.querySelectorAll("rect.face-box"), e => ({
      index: Number(e.dataset.faceIndex), searched: e.classList.contains("searched"),
      searchable: e.classList.contains("searchable"), rect: rect(e)})),
    searchedFace: searched ? Number(searched.dataset.faceIndex) : -1,
    topUser: top ? top.dataset.userId : "",
  };
})()`

func (b *consoleTab) drawn() drawnPage {
	b.t.Helper()
	return evalIn[drawnPage](b, drawnScript)
}

// checkBoxes compares every box drawn with DetectFaces' BoundingBox on the photo as
// rendered, edge by edge, and the marks: only the searched face is .searched, every other
// one .searchable.
func (b *consoleTab) checkBoxes(step string, d drawnPage, faces []types.FaceDetail, searched int) {
	b.t.Helper()
	if len(d.Boxes) != len(faces) {
		b.t.Fatalf("%s: %d boxes drawn, DetectFaces found %d faces", step, len(d.Boxes), len(faces))
	}
	w, h := d.Photo.Right-d.Photo.Left, d.Photo.Bottom-d.Photo.Top
	worst := 0.0
	var diffs []string
	for i, box := range d.Boxes {
		if box.Index != i {
			b.t.Fatalf("%s: box %d has data-face-index %d: not in DetectFaces' order", step, i, box.Index)
		}
		bb := faces[i].BoundingBox
		left, top := d.Photo.Left+float64(aws.ToFloat32(bb.Left))*w, d.Photo.Top+float64(aws.ToFloat32(bb.Top))*h
		want := clientRect{Left: left, Top: top,
			Right: left + float64(aws.ToFloat32(bb.Width))*w, Bottom: top + float64(aws.ToFloat32(bb.Height))*h}
		edges := [4]float64{box.Rect.Left - want.Left, box.Rect.Top - want.Top, box.Rect.Right - want.Right, box.Rect.Bottom - want.Bottom}
		for _, e := range edges {
			worst = math.Max(worst, math.Abs(e))
		}
		diffs = append(diffs, fmt.Sprintf("face %d %+.2f %+.2f %+.2f %+.2f", i, hundredths(edges[0]), hundredths(edges[1]), hundredths(edges[2]), hundredths(edges[3])))
		if math.Abs(edges[0]) > boxTolerance || math.Abs(edges[1]) > boxTolerance || math.Abs(edges[2]) > boxTolerance || math.Abs(edges[3]) > boxTolerance {
			b.t.Errorf("%s: face %d is drawn at %+v, DetectFaces' box is at %+v on the photo at %+v", step, i, box.Rect, want, d.Photo)
		}
		if box.Searched != (i == searched) || box.Searchable == (i == searched) {
			b.t.Errorf("%s: face %d searched %v, searchable %v; face %d was searched", step, i, box.Searched, box.Searchable, searched)
		}
	}
	b.t.Logf("%s: photo %.0fx%.0f px; box edges minus DetectFaces' (left top right bottom, px): %s; worst %.2f px",
		step, w, h, strings.Join(diffs, "; "), worst)
}

// hundredths rounds for the log, without a negative zero.
func hundredths(v float64) float64 { return math.Round(v*100)/100 + 0 }

// area is a box's share of the photo.
func area(bb *types.BoundingBox) float32 { return aws.ToFloat32(bb.Width) * aws.ToFloat32(bb.Height) }

// personPhotos are one person's test photos, sorted.
type personPhotos struct {
	name   string
	photos []string
}

// photosOfPeople lists the people of the test faces with at least 11 photos each, by name.
func photosOfPeople(t *testing.T) []personPhotos {
	t.Helper()
	dir := filepath.Join(testenv.TestFaces(t), "johns")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []personPhotos
	for _, e := range entries {
		files, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.jpg"))
		if !e.IsDir() || len(files) < 11 {
			continue
		}
		sort.Strings(files)
		out = append(out, personPhotos{name: e.Name(), photos: files})
	}
	if len(out) < 4 {
		t.Fatalf("%s has %d people with 11 photos, want 4", dir, len(out))
	}
	return out
}

// enrolled counts what enrolPeople put in a collection.
type enrolled struct{ faces, users int }

// enrolPeople creates the collection and, through the endpoint, a user per person with their
// first n photos' faces.
func enrolPeople(ctx context.Context, t *testing.T, sdk *rekognition.Client, collection string, people []personPhotos, n int) enrolled {
	t.Helper()
	if _, err := sdk.CreateCollection(ctx, &rekognition.CreateCollectionInput{CollectionId: aws.String(collection)}); err != nil {
		t.Fatal(err)
	}
	var e enrolled
	for _, p := range people {
		var ids []string
		for _, f := range p.photos[:n] {
			img, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := sdk.IndexFaces(ctx, &rekognition.IndexFacesInput{CollectionId: aws.String(collection), Image: &types.Image{Bytes: img},
				ExternalImageId: aws.String(filepath.Base(f)), MaxFaces: aws.Int32(1)})
			if err != nil || len(out.FaceRecords) != 1 {
				t.Fatalf("IndexFaces %s: %v", f, err)
			}
			ids = append(ids, aws.ToString(out.FaceRecords[0].Face.FaceId))
		}
		if _, err := sdk.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: aws.String(collection), UserId: aws.String(p.name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sdk.AssociateFaces(ctx, &rekognition.AssociateFacesInput{CollectionId: aws.String(collection), UserId: aws.String(p.name), FaceIds: ids}); err != nil {
			t.Fatal(err)
		}
		e.faces += len(ids)
		e.users++
	}
	return e
}

// groupTile is one person's photo in the group photo: scaled to side pixels, at x, y.
type groupTile struct {
	person, photo string
	side, x, y    int
}

// writeGroupPhoto composes the tiles side by side on a grey canvas, as a JPEG file.
func writeGroupPhoto(t *testing.T, path string, w, h int, tiles []groupTile) {
	t.Helper()
	canvas := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.Draw(canvas, canvas.Bounds(), &image.Uniform{C: color.RGBA{R: 128, G: 128, B: 128, A: 255}}, image.Point{}, xdraw.Src)
	for _, tl := range tiles {
		data, err := os.ReadFile(tl.photo)
		if err != nil {
			t.Fatal(err)
		}
		src, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		xdraw.CatmullRom.Scale(canvas, image.Rect(tl.x, tl.y, tl.x+tl.side, tl.y+tl.side), src, src.Bounds(), xdraw.Src, nil)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, canvas, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
