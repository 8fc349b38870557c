package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

// facesearchBinary builds cmd/facesearch once per test run as the image builds it (-tags
// nolocal), so that the arguments the chart and the operator pass to each role are checked
// against the flags the image's binary defines.
func facesearchBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = osMkdirTemp()
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "facesearch")
		cmd := exec.Command("go", "build", "-tags", "nolocal", "-o", binaryPath, "./cmd/facesearch")
		cmd.Dir = repoRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binaryErr = err
			binaryPath = out.String()
		}
	})
	if binaryErr != nil {
		t.Fatalf("go build ./cmd/facesearch: %v\n%s", binaryErr, binaryPath)
	}
	return binaryPath
}

var flagLineRE = regexp.MustCompile(`(?m)^\s+-([a-z0-9][a-z0-9-]*)`)

// roleFlags lists the flags a role defines, from its -h output.
func roleFlags(t *testing.T, role string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(facesearchBinary(t), role, "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range flagLineRE.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("facesearch %s -h listed no flags:\n%s", role, out)
	}
	return flags
}

// assertFlagsDefined fails for every --flag in args that the role does not define.
func assertFlagsDefined(t *testing.T, role string, args []string) {
	t.Helper()
	defined := roleFlags(t, role)
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue // a value of the previous flag
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !defined[name] {
			t.Errorf("%s role has no flag %q (used as %q)", role, name, a)
		}
	}
}

// TestImageBinaryNeedsNoWritableTmp: the image's binary starts where /tmp cannot be written,
// as in the injected sidecar (read-only root file system, no volume at /tmp). A binary that
// links envtest (the local role) panics in a package init there; the image's leaves it out.
func TestImageBinaryNeedsNoWritableTmp(t *testing.T) {
	// A directory under a regular file: no mkdir there succeeds, not even as root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(file, "tmp")
	for _, role := range []string{"sidecar", "manager", "api", "index", "bulk-enrol"} {
		cmd := exec.Command(facesearchBinary(t), role, "-h")
		// No writable cache or temporary directory at all (envtest tries the cache first).
		cmd.Env = append(os.Environ(), "TMPDIR="+readOnly, "HOME="+readOnly, "XDG_CACHE_HOME="+readOnly)
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), "panic: ") || !strings.Contains(string(out), "Usage of "+role) {
			t.Errorf("facesearch %s -h with no writable TMPDIR:\n%s", role, out)
		}
	}
	if out, _ := exec.Command(facesearchBinary(t), "local").CombinedOutput(); !strings.Contains(string(out), "no local role") {
		t.Errorf("the image's binary runs the local role:\n%s", out)
	}
}
