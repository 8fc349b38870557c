package chart

import (
	"os"
	"path/filepath"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestManagerRoleCannotListSecrets: the manager reads the Secrets and ConfigMaps that
// Collections, Users and SearchRequests name one by one (uncached, see
// controllers.ConfigureCache), so its ClusterRole must not let it list or watch every Secret
// and ConfigMap of the cluster. The chart's ClusterRole is this file (TestClusterRoleMatchesGenerated).
func TestManagerRoleCannotListSecrets(t *testing.T) {
	assertGetOnly(t, filepath.Join(repoRoot, "config", "rbac", "role.yaml"), "secrets", "configmaps")
}

// TestAPIRoleCannotListSecrets: the api reads its access keys, the storage Secret and the
// index auth Secrets by name (its cache holds none), so its role, bound in the release
// namespace, gets Secrets and never lists or watches them.
func TestAPIRoleCannotListSecrets(t *testing.T) {
	assertGetOnly(t, filepath.Join(repoRoot, "config", "rbac", "api", "role.yaml"), "secrets")
}

// assertGetOnly fails unless the ClusterRole in path gets each core resource and neither
// lists nor watches it.
func assertGetOnly(t *testing.T, path string, resources ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatal(err)
	}
	for _, resource := range resources {
		verbs := map[string]bool{}
		for _, r := range role.Rules {
			if !matches(r.APIGroups, "") || !matches(r.Resources, resource) || len(r.ResourceNames) > 0 {
				continue
			}
			for _, v := range r.Verbs {
				verbs[v] = true
			}
		}
		if !verbs["get"] {
			t.Errorf("%s: %s grants no get; the role reads the ones it is told of by name", path, resource)
		}
		for _, v := range []string{"list", "watch", "*"} {
			if verbs[v] {
				t.Errorf("%s grants %q on every %s it is bound for", path, v, resource)
			}
		}
	}
}

// matches says whether an RBAC rule's list (APIGroups, Resources) covers s.
func matches(list []string, s string) bool {
	for _, x := range list {
		if x == s || x == "*" {
			return true
		}
	}
	return false
}
