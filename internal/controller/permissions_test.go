package controller

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// grants expands RBAC rules into "group resource verb" strings.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+" "+res+" "+v)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func tableGrants(rules []PermissionRule) []string {
	var out []string
	for _, r := range rules {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				out = append(out, r.Group+" "+res+" "+v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The table the manager checks and the ClusterRole generated from the
// +kubebuilder:rbac markers grant the same: neither can change alone.
func TestControllerPermissionsAreTheGeneratedRole(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if role.Kind != "ClusterRole" || role.Name != "redkube-manager-role" {
		t.Fatalf("config/rbac/role.yaml holds %s %q, want the ClusterRole redkube-manager-role", role.Kind, role.Name)
	}
	fromRole, fromTable := grants(role.Rules), tableGrants(ControllerPermissions)
	for _, g := range fromRole {
		if !slices.Contains(fromTable, g) {
			t.Errorf("role.yaml grants %q, ControllerPermissions lacks it", g)
		}
	}
	for _, g := range fromTable {
		if !slices.Contains(fromRole, g) {
			t.Errorf("ControllerPermissions needs %q, role.yaml does not grant it (a marker is missing, or run make generate)", g)
		}
	}
}

func TestRequiredPermissions(t *testing.T) {
	rules := []PermissionRule{
		{Group: "", Resources: []string{"pods"}, Verbs: []string{"get", "list"}, Namespaced: true},
		{Group: "redis.redkube.io", Resources: []string{"redisclusters/status"}, Verbs: []string{"update"}, Namespaced: true},
		{Group: "", Resources: []string{"nodes"}, Verbs: []string{"list"}},
	}
	cases := []struct {
		name       string
		namespaces []string
		want       []string
	}{
		{"the whole cluster: namespaced rules in all namespaces, cluster rules once", nil, []string{
			"get pods in all namespaces", "list pods in all namespaces",
			"update redisclusters.redis.redkube.io/status in all namespaces",
			"list nodes cluster-wide",
		}},
		{"watched namespaces: namespaced rules in each, cluster rules once", []string{"a", "b"}, []string{
			`get pods in namespace "a"`, `list pods in namespace "a"`, `update redisclusters.redis.redkube.io/status in namespace "a"`,
			`get pods in namespace "b"`, `list pods in namespace "b"`, `update redisclusters.redis.redkube.io/status in namespace "b"`,
			"list nodes cluster-wide",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, p := range RequiredPermissions(rules, c.namespaces) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestMissingPermissionsErrorSaysWhoLacksWhatAndWhere(t *testing.T) {
	required := RequiredPermissions(ControllerPermissions, []string{"a", "b"})
	inB := func(p Permission) bool { return p.Namespace == "b" }
	only := func(keep func(Permission) bool) []Permission {
		var out []Permission
		for _, p := range required {
			if keep(p) {
				out = append(out, p)
			}
		}
		return out
	}
	nb := len(only(inB))
	cases := []struct {
		name    string
		user    string
		missing []Permission
		want    string
	}{
		{"a namespace with nothing granted is one phrase", "system:serviceaccount:redkube-system:redkube-controller-manager", only(inB),
			"service account redkube-system/redkube-controller-manager lacks " + strconv.Itoa(nb) + ` RBAC permissions: all ` + strconv.Itoa(nb) + ` it needs in namespace "b"`},
		{"single verbs are grouped by resource and scope", "alice", only(func(p Permission) bool {
			return p.Namespace == "b" && p.Resource == "pods" && (p.Verb == "list" || p.Verb == "watch") || p.Resource == "nodes" && p.Verb == "get"
		}), `user alice lacks 3 RBAC permissions: list, watch pods in namespace "b"; get nodes cluster-wide`},
		{"one missing permission", "system:serviceaccount:op:mgr", only(func(p Permission) bool {
			return p.Namespace == "a" && p.Resource == "redisclusters" && p.Subresource == "status" && p.Verb == "update"
		}), `service account op/mgr lacks 1 RBAC permission: update redisclusters.redis.redkube.io/status in namespace "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := &MissingPermissionsError{User: c.user, Missing: c.missing, Required: required}
			if got := err.Error(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}
