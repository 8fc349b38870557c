// Command apidocs writes docs/api-reference.md from the Go source of api/v1alpha1: the doc
// comments, JSON names and kubebuilder markers of every type, so the reference says what the
// CRD schema enforces and never drifts from it (internal/chart's tests compare its output
// with the committed file).
//
//	go run ./hack/apidocs > docs/api-reference.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	dir := flag.String("dir", "api/v1alpha1", "the API package's directory")
	out := flag.String("out", "", "file to write (default: standard output)")
	flag.Parse()
	pkg, err := Load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apidocs:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := pkg.Write(w); err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}
