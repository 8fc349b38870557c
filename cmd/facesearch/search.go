package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg" // the photos the endpoint takes: JPEG, PNG and WebP
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	_ "golang.org/x/image/webp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"

	"github.com/facesearch/facesearch-operator/internal/annotate"
	"github.com/facesearch/facesearch-operator/internal/progress"
)

// runSearch is `facesearch search`: who is in a photo, as a table and as the photo with
// every face framed and labelled.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	collection := fs.String("collection", "", "the collection to search (required)")
	maxUsers := fs.Int("max-users", 5, "MaxUsers: how many users to list at most (1-500)")
	threshold := fs.Float64("threshold", 80, "UserMatchThreshold: the least similarity of a match (0-100)")
	out := fs.String("out", "", "the annotated PNG to write (default: <photo>.annotated.png beside the photo, or in a temporary directory where that cannot be written)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to keep retrying while the collection's index loads (ThrottlingException)")
	var cf clientFlags
	cf.bind(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facesearch search --collection ID [flags] PHOTO")
		fs.PrintDefaults()
	}
	photos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *collection == "" || len(photos) != 1 {
		fs.Usage()
		return errors.New("want --collection and one photo")
	}
	photo := photos[0]
	data, err := os.ReadFile(photo)
	if err != nil {
		return err
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: not a JPEG, PNG or WebP photo: %w", photo, err)
	}
	if format != "jpeg" && format != "png" && format != "webp" {
		return fmt.Errorf("%s is a %s image; the endpoint takes JPEG, PNG and WebP", photo, format)
	}
	client, err := cf.client()
	if err != nil {
		return err
	}

	mode := progress.Auto
	if cf.quiet {
		mode = progress.Quiet
	}
	spin := progress.New(stderr, progress.Options{Mode: mode, Label: "detecting faces"})
	defer spin.Done()
	detected, err := client.DetectFaces(ctx, &rekognition.DetectFacesInput{Image: &types.Image{Bytes: data}})
	if err != nil {
		return apiError("DetectFaces", err)
	}
	spin.SetLabel("searching " + *collection)
	res, err := searchUsersByImage(ctx, client, spin, *wait, &rekognition.SearchUsersByImageInput{
		CollectionId: collection, Image: &types.Image{Bytes: data},
		MaxUsers: aws.Int32(int32(*maxUsers)), UserMatchThreshold: aws.Float32(float32(*threshold)),
	})
	spin.Done()
	if err != nil {
		return apiError("SearchUsersByImage", err)
	}

	faces := searchFaces(detected.FaceDetails, res)
	upright := annotate.Upright(img, rotation(detected.OrientationCorrection))
	size := upright.Bounds().Size()
	printSearch(stdout, res, faces, *threshold, size)
	path, err := writeAnnotated(annotate.Draw(upright, faces.marks()), photo, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nAnnotated photo: %s\n", path)
	return nil
}

// searchUsersByImage retries while the collection's index loads, which the endpoint answers
// with ThrottlingException; the SDK's own retries give up after three tries, sooner than an
// index of a large collection loads.
func searchUsersByImage(ctx context.Context, client *rekognition.Client, spin *progress.Bar, wait time.Duration,
	in *rekognition.SearchUsersByImageInput) (*rekognition.SearchUsersByImageOutput, error) {
	deadline := time.Now().Add(wait)
	for {
		res, err := client.SearchUsersByImage(ctx, in)
		if err == nil || errorCode(err) != "ThrottlingException" || time.Now().After(deadline) {
			return res, err
		}
		// The same type also says the key is over its request rate; the message tells which.
		var ae smithy.APIError
		if errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "index") {
			spin.SetLabel("waiting for the index of " + aws.ToString(in.CollectionId) + " to load")
		} else {
			spin.SetLabel("throttled; retrying")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// rotation is the clockwise turn that an OrientationCorrection names. The mirrored EXIF
// orientations (2, 4, 5 and 7) are reported as their turn alone, so their boxes are drawn
// mirrored; cameras do not write them.
func rotation(oc types.OrientationCorrection) int {
	switch oc {
	case types.OrientationCorrectionRotate90:
		return 90
	case types.OrientationCorrectionRotate180:
		return 180
	case types.OrientationCorrectionRotate270:
		return 270
	}
	return 0
}

// foundFace is a face of the photo as the command reports and draws it.
type foundFace struct {
	box      *types.BoundingBox
	searched bool
	reasons  []string // why it was not searched
}

// photoFaces are the photo's faces: the searched one (if any) first.
type photoFaces struct {
	faces []foundFace
	label string // the searched face's: the top user and the similarity, or "no match"
}

// searchFaces merges DetectFaces' faces with the search's: each detected face is the
// searched one or an unsearched one (with its reasons) where their boxes overlap, and a face
// that only DetectFaces found is "not searched". A face of the search that DetectFaces did
// not find is kept too: the search's answer is what is reported.
func searchFaces(detected []types.FaceDetail, res *rekognition.SearchUsersByImageOutput) photoFaces {
	var pf photoFaces
	pf.label = "no match"
	if len(res.UserMatches) > 0 && res.UserMatches[0].User != nil {
		m := res.UserMatches[0]
		pf.label = fmt.Sprintf("%s %.1f%%", aws.ToString(m.User.UserId), aws.ToFloat32(m.Similarity))
	}
	if res.SearchedFace != nil && res.SearchedFace.FaceDetail != nil && res.SearchedFace.FaceDetail.BoundingBox != nil {
		pf.faces = append(pf.faces, foundFace{box: res.SearchedFace.FaceDetail.BoundingBox, searched: true})
	}
	for _, u := range res.UnsearchedFaces {
		if u.FaceDetails == nil || u.FaceDetails.BoundingBox == nil {
			continue
		}
		f := foundFace{box: u.FaceDetails.BoundingBox}
		for _, r := range u.Reasons {
			f.reasons = append(f.reasons, string(r))
		}
		pf.faces = append(pf.faces, f)
	}
	for _, d := range detected {
		if d.BoundingBox == nil {
			continue
		}
		known := false
		for _, f := range pf.faces {
			known = known || iou(f.box, d.BoundingBox) >= 0.5
		}
		if !known {
			pf.faces = append(pf.faces, foundFace{box: d.BoundingBox, reasons: []string{"not searched"}})
		}
	}
	return pf
}

// marks draws the others first, so that the searched face's frame is on top where they meet.
func (pf photoFaces) marks() []annotate.Mark {
	var marks []annotate.Mark
	var searched *annotate.Mark
	for _, f := range pf.faces {
		m := annotate.Mark{Box: ratioBox(f.box), Color: annotate.Other, Label: strings.Join(f.reasons, ",")}
		if f.searched {
			m.Color, m.Label = annotate.Searched, pf.label
			searched = &m
			continue
		}
		marks = append(marks, m)
	}
	if searched != nil {
		marks = append(marks, *searched)
	}
	return marks
}

func ratioBox(b *types.BoundingBox) annotate.Box {
	return annotate.Box{Left: float64(aws.ToFloat32(b.Left)), Top: float64(aws.ToFloat32(b.Top)),
		Width: float64(aws.ToFloat32(b.Width)), Height: float64(aws.ToFloat32(b.Height))}
}

// iou is the overlap of two boxes: their intersection over their union.
func iou(a, b *types.BoundingBox) float64 {
	ra, rb := ratioBox(a), ratioBox(b)
	w := min(ra.Left+ra.Width, rb.Left+rb.Width) - max(ra.Left, rb.Left)
	h := min(ra.Top+ra.Height, rb.Top+rb.Height) - max(ra.Top, rb.Top)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	return inter / (ra.Width*ra.Height + rb.Width*rb.Height - inter)
}

// printSearch writes the answer as tables: the searched face, the users it matches, and the
// faces that were not searched, each with its box in ratios (Rekognition's) and in pixels.
func printSearch(w io.Writer, res *rekognition.SearchUsersByImageOutput, pf photoFaces, threshold float64, size image.Point) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(pf.faces) == 0 || !pf.faces[0].searched {
		fmt.Fprintln(w, "No face was searched.")
	} else {
		fmt.Fprintf(w, "Searched face: %s, confidence %.1f\n\n", boxText(pf.faces[0].box, size),
			aws.ToFloat32(res.SearchedFace.FaceDetail.Confidence))
	}
	if len(res.UserMatches) == 0 {
		fmt.Fprintf(w, "No user matches with a similarity of %g or more.\n", threshold)
	} else {
		fmt.Fprintln(tw, "RANK\tUSERID\tSIMILARITY")
		for i, m := range res.UserMatches {
			id := ""
			if m.User != nil {
				id = aws.ToString(m.User.UserId)
			}
			fmt.Fprintf(tw, "%d\t%s\t%.2f\n", i+1, id, aws.ToFloat32(m.Similarity))
		}
		tw.Flush()
	}
	n := 0
	for _, f := range pf.faces {
		if f.searched {
			continue
		}
		if n == 0 {
			fmt.Fprintln(w, "\nOther faces")
			fmt.Fprintln(tw, "FACE\tBOX\tREASONS")
		}
		n++
		fmt.Fprintf(tw, "%d\t%s\t%s\n", n, boxText(f.box, size), strings.Join(f.reasons, ", "))
	}
	tw.Flush()
}

// boxText is a box in Rekognition's ratios and in the photo's pixels.
func boxText(b *types.BoundingBox, size image.Point) string {
	r := ratioBox(b)
	px, _ := annotate.PixelRect(r, size)
	return fmt.Sprintf("left %.3f top %.3f width %.3f height %.3f (%d,%d %dx%d px)",
		r.Left, r.Top, r.Width, r.Height, px.Min.X, px.Min.Y, px.Dx(), px.Dy())
}

// writeAnnotated writes the PNG to out, or by default beside the photo as
// <name>.annotated.png; where the photo's directory cannot be written (a read-only mount),
// into a new temporary directory. It returns the path written.
func writeAnnotated(img image.Image, photo, out string) (string, error) {
	if out != "" {
		return out, writePNG(out, img)
	}
	name := strings.TrimSuffix(filepath.Base(photo), filepath.Ext(photo)) + ".annotated.png"
	path := filepath.Join(filepath.Dir(photo), name)
	err := writePNG(path, img)
	if err == nil {
		return path, nil
	}
	dir, terr := os.MkdirTemp("", "facesearch-search-")
	if terr != nil {
		return "", fmt.Errorf("%w (and no temporary directory: %w)", err, terr)
	}
	path = filepath.Join(dir, name)
	return path, writePNG(path, img)
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
