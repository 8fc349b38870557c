package facetest

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
)

// LabelledImage is one photo of a dlib imglab dataset file (the faces' training.xml and
// testing.xml that hack/ fetches) with its labelled face boxes, in pixels.
type LabelledImage struct {
	File  string
	Boxes []LabelledBox
}

// LabelledBox is one labelled face; Ignore marks a face the labeller left out of scoring.
type LabelledBox struct {
	Left, Top, Width, Height float64
	Ignore                   bool
}

// ReadLabels reads a dlib imglab dataset file.
func ReadLabels(path string) ([]LabelledImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var doc struct {
		Images []struct {
			File  string `xml:"file,attr"`
			Boxes []struct {
				Top    float64 `xml:"top,attr"`
				Left   float64 `xml:"left,attr"`
				Width  float64 `xml:"width,attr"`
				Height float64 `xml:"height,attr"`
				Ignore int     `xml:"ignore,attr"`
			} `xml:"box"`
		} `xml:"images>image"`
	}
	dec := xml.NewDecoder(f)
	// The files declare ISO-8859-1; their content is ASCII.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]LabelledImage, 0, len(doc.Images))
	for _, im := range doc.Images {
		li := LabelledImage{File: im.File}
		for _, b := range im.Boxes {
			li.Boxes = append(li.Boxes, LabelledBox{Left: b.Left, Top: b.Top, Width: b.Width, Height: b.Height, Ignore: b.Ignore != 0})
		}
		out = append(out, li)
	}
	return out, nil
}
