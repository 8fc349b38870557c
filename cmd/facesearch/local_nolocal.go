//go:build nolocal

package main

import (
	"context"
	"errors"
)

// runLocal is left out of this build (make build BUILD_TAGS=nolocal, as the image is built):
// the local stack embeds envtest, whose package init writes to /tmp, and the image's pods
// run with read-only root file systems, the injected sidecar without any /tmp at all.
func runLocal(context.Context, []string) error {
	return errors.New("this build has no local role (built with -tags nolocal, as the image is): use a source build, make run-local")
}
