package console

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// HTML helpers: the tests read pages by the ids, classes and data attributes the browser
// tests will use.

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func attr(n *html.Node, name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

func byID(doc *html.Node, id string) *html.Node {
	if nodes := find(doc, func(n *html.Node) bool { return attr(n, "id") == id }); len(nodes) > 0 {
		return nodes[0]
	}
	return nil
}

func byClass(doc *html.Node, class string) []*html.Node {
	return find(doc, func(n *html.Node) bool {
		for _, c := range strings.Fields(attr(n, "class")) {
			if c == class {
				return true
			}
		}
		return false
	})
}

// inputValue is the value of the input named name within n.
func inputValue(n *html.Node, name string) string {
	in := find(n, func(c *html.Node) bool { return c.Data == "input" && attr(c, "name") == name })
	if len(in) == 0 {
		return ""
	}
	return attr(in[0], "value")
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func multipartBody(t *testing.T, fields map[string]string, image []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	// The token first, as the form sends it.
	if v, ok := fields["csrf"]; ok {
		_ = mw.WriteField("csrf", v)
	}
	for k, v := range fields {
		if k != "csrf" {
			_ = mw.WriteField(k, v)
		}
	}
	if image != nil {
		fw, err := mw.CreateFormFile("image", "photo.jpg")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(image)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}
