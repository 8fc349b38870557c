// Command golangci-lint is golangci-lint with the Kube API Linter (sigs.k8s.io/kube-api-linter)
// compiled in as the module plugin "kubeapilinter". It is what `golangci-lint custom` would
// build from a .custom-gcl.yml, but `golangci-lint custom` clones golangci-lint's source with
// git from its forge, which this project's machines cannot reach; this module builds the same
// binary from the Go module proxy alone (hack/install-golangci-lint.sh).
//
// main and buildInfo follow golangci-lint's own cmd/golangci-lint/main.go.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/golangci/golangci-lint/v2/pkg/commands"
	"github.com/golangci/golangci-lint/v2/pkg/exitcodes"

	// Registers the module plugin "kubeapilinter" (linters.settings.custom in .golangci.yml).
	_ "sigs.k8s.io/kube-api-linter"
)

func main() {
	if err := commands.Execute(buildInfo()); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "The command is terminated due to an error: %v\n", err)
		os.Exit(exitcodes.Failure)
	}
}

// buildInfo reports the versions of golangci-lint and kube-api-linter this binary was built
// from, as read from the module build information.
func buildInfo() commands.BuildInfo {
	info := commands.BuildInfo{Version: "unknown", Commit: "?", GoVersion: "unknown", Date: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.GoVersion = bi.GoVersion
	var kal string
	for _, dep := range bi.Deps {
		switch dep.Path {
		case "github.com/golangci/golangci-lint/v2":
			info.Version = strings.TrimPrefix(dep.Version, "v")
		case "sigs.k8s.io/kube-api-linter":
			kal = dep.Version
		}
	}
	info.Commit = "(facesearch build with kube-api-linter " + kal + ")"
	return info
}
