package local

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/facesearch/facesearch-operator/config/crd"
	"github.com/facesearch/facesearch-operator/internal/assets"
)

// ControlPlane is a local kube-apiserver and etcd with the project's CRDs installed: a
// cluster with no kubelet, enough for the controllers and kubectl.
type ControlPlane struct {
	env *envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for kubectl, written by WriteKubeconfig.
	Kubeconfig string
}

// StartControlPlane starts kube-apiserver and etcd from the envtest assets. Both are killed
// by the kernel when this process ends, whatever the way (see children.go).
func StartControlPlane() (*ControlPlane, error) {
	assets, err := assets.EnvtestAssets.Path()
	if err != nil {
		return nil, err
	}
	crds, err := crd.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	wrappers, err := wrapperDir(assets)
	if err != nil {
		return nil, fmt.Errorf("while preparing the local control plane: %w", err)
	}
	// Only starting runs them, so nothing is left behind whatever ends the process later.
	defer os.RemoveAll(wrappers)
	env := &envtest.Environment{CRDs: crds, BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(wrappers, "etcd")}
	env.ControlPlane.APIServer = &envtest.APIServer{Path: filepath.Join(wrappers, "kube-apiserver")}
	var cfg *rest.Config
	onSpawnThread(func() { cfg, err = env.Start() })
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("while starting the local control plane: %w", err)
	}
	return &ControlPlane{env: env, Config: cfg}, nil
}

// WriteKubeconfig writes an administrator's kubeconfig to path.
func (cp *ControlPlane) WriteKubeconfig(path string) error {
	user, err := cp.env.ControlPlane.AddUser(envtest.User{Name: "facesearch-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	cp.Kubeconfig = path
	return nil
}

// Stop stops the API server and etcd.
func (cp *ControlPlane) Stop() error { return cp.env.Stop() }
