package chart

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/facesearch/facesearch-operator/internal/assets"
)

// repoRoot is the checkout's root; go test runs in the package directory.
const repoRoot = "../.."

var (
	chartDir = filepath.Join(repoRoot, "charts", "facesearch")
	// helmAsset is the helm binary that hack/install-helm.sh builds into the cache.
	helmAsset = assets.Asset{Env: "FACESEARCH_HELM", Glob: "helm/*/helm", Install: "hack/install-helm.sh"}
)

const (
	releaseName      = "fs"
	releaseNamespace = "facesearch-system"
)

// valuesVariant is one way of installing the chart that the tests render.
type valuesVariant struct {
	name string
	// file is a values file relative to the chart, or "" for the chart's defaults.
	file string
}

var variants = []valuesVariant{
	{name: "defaults"},
	// Model packs fetched by an init container, API TLS, ServiceMonitors, two index
	// namespaces, storage Secret created by the chart, selectors instead of open egress.
	{name: "production", file: "ci/production-values.yaml"},
}

func helmBinary(t *testing.T) string {
	t.Helper()
	p, err := helmAsset.Path()
	if err != nil {
		t.Fatalf("helm not found: %v\ninstall it with: bash hack/install-helm.sh (or set FACESEARCH_HELM)", err)
	}
	return p
}

func runHelm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// helmOutput runs helm and returns its combined output and error, for the runs that must fail.
func helmOutput(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
	return string(out), err
}

func (v valuesVariant) valuesArgs() []string {
	if v.file == "" {
		return nil
	}
	return []string{"--values", filepath.Join(chartDir, v.file)}
}

// render runs helm template for the variant and returns its objects (CRDs excluded).
func render(t *testing.T, v valuesVariant) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, v.valuesArgs()...)
	objs, err := decodeObjects(runHelm(t, args...))
	if err != nil {
		t.Fatalf("while parsing the rendered manifests of %s: %v", v.name, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s rendered no objects", v.name)
	}
	return objs
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// findIn is find for a namespaced object rendered in more than one namespace.
func findIn(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}
