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
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatal(err)
	}
	for _, resource := range []string{"secrets", "configmaps"} {
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
			t.Errorf("%s: no get; the manager reads the ones that objects name", resource)
		}
		for _, v := range []string{"list", "watch", "*"} {
			if verbs[v] {
				t.Errorf("%s: the manager's ClusterRole grants %q on every %s of the cluster", resource, v, resource)
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
