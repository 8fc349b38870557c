// Command verifypack checks installed model packs against the sha256 sums their manifests pin
// (face.VerifyPack): every file of the pack pinned, every pinned file there and matching.
// hack/install-models.sh runs it on each pack it installs or finds in its cache.
//
//	go run ./hack/verifypack DIR...
package main

import (
	"fmt"
	"os"

	"github.com/facesearch/facesearch-operator/internal/face"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: verifypack PACK_DIR...")
		os.Exit(2)
	}
	failed := false
	for _, dir := range os.Args[1:] {
		if err := face.VerifyPack(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		fmt.Fprintf(os.Stderr, "model pack %s: every file matches its manifest's sha256\n", dir)
	}
	if failed {
		os.Exit(1)
	}
}
