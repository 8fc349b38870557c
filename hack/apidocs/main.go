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
	"os"
)

func main() {
	dir := flag.String("dir", "api/v1alpha1", "the API package's directory")
	out := flag.String("out", "", "file to write (default: standard output)")
	flag.Parse()
	pkg, err := Load(*dir)
	if err == nil {
		err = write(pkg, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}

// write writes the reference to the file out, or to standard output when out is empty. A
// failed Close of the file is a failed write, and reported as one.
func write(pkg *Package, out string) error {
	if out == "" {
		return pkg.Write(os.Stdout)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := pkg.Write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
