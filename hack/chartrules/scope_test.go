package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func rule(groups, resources, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
}

func list(s ...string) []string { return s }

var testCRDs = map[schema.GroupResource]Scope{
	{Group: "redis.redkube.io", Resource: "redisclusters"}: Namespaced,
	{Group: "example.io", Resource: "widgets"}:             ClusterScoped,
	{Group: "example.io", Resource: "nodes"}:               Namespaced,
}

func TestSplit(t *testing.T) {
	get := list("get", "list", "watch")
	for _, tc := range []struct {
		name    string
		in      []rbacv1.PolicyRule
		want    Rules
		wantErr string
	}{
		{
			name: "keeps a rule on namespaced resources whole",
			in:   []rbacv1.PolicyRule{rule(list(""), list("pods", "configmaps"), get)},
			want: Rules{Namespaced: []rbacv1.PolicyRule{rule(list(""), list("pods", "configmaps"), get)}, Cluster: []rbacv1.PolicyRule{}},
		},
		{
			name: "puts nodes and storage classes in the cluster rules",
			in:   []rbacv1.PolicyRule{rule(list(""), list("nodes"), get), rule(list("storage.k8s.io"), list("storageclasses"), get)},
			want: Rules{Namespaced: []rbacv1.PolicyRule{}, Cluster: []rbacv1.PolicyRule{rule(list(""), list("nodes"), get), rule(list("storage.k8s.io"), list("storageclasses"), get)}},
		},
		{
			name: "cuts a rule naming both scopes in two, each with the rule's groups, verbs and names",
			in: []rbacv1.PolicyRule{{
				APIGroups: list(""), Resources: list("pods", "nodes", "secrets", "persistentvolumes"),
				Verbs: list("get"), ResourceNames: list("a"),
			}},
			want: Rules{
				Namespaced: []rbacv1.PolicyRule{{APIGroups: list(""), Resources: list("pods", "secrets"), Verbs: list("get"), ResourceNames: list("a")}},
				Cluster:    []rbacv1.PolicyRule{{APIGroups: list(""), Resources: list("nodes", "persistentvolumes"), Verbs: list("get"), ResourceNames: list("a")}},
			},
		},
		{
			name: "gives a subresource its parent's scope",
			in:   []rbacv1.PolicyRule{rule(list("redis.redkube.io"), list("redisclusters/status"), get), rule(list(""), list("nodes/proxy"), get)},
			want: Rules{
				Namespaced: []rbacv1.PolicyRule{rule(list("redis.redkube.io"), list("redisclusters/status"), get)},
				Cluster:    []rbacv1.PolicyRule{rule(list(""), list("nodes/proxy"), get)},
			},
		},
		{
			name: "takes a custom resource's scope from its CRD",
			in:   []rbacv1.PolicyRule{rule(list("example.io"), list("widgets"), get)},
			want: Rules{Namespaced: []rbacv1.PolicyRule{}, Cluster: []rbacv1.PolicyRule{rule(list("example.io"), list("widgets"), get)}},
		},
		{
			name: "keeps events of the core and events.k8s.io groups in one namespaced rule",
			in:   []rbacv1.PolicyRule{rule(list("", "events.k8s.io"), list("events"), list("create", "patch"))},
			want: Rules{Namespaced: []rbacv1.PolicyRule{rule(list("", "events.k8s.io"), list("events"), list("create", "patch"))}, Cluster: []rbacv1.PolicyRule{}},
		},
		{
			name:    "refuses a wildcard resource",
			in:      []rbacv1.PolicyRule{rule(list(""), list("*"), get)},
			wantErr: `wildcard "*"`,
		},
		{
			name:    "refuses a wildcard group",
			in:      []rbacv1.PolicyRule{rule(list("*"), list("pods"), get)},
			wantErr: `wildcard "pods" in group "*"`,
		},
		{
			name:    "refuses a group that is neither built in nor defined by a CRD",
			in:      []rbacv1.PolicyRule{rule(list("monitoring.coreos.com"), list("servicemonitors"), get)},
			wantErr: `group "monitoring.coreos.com": not a built-in group and no CRD found`,
		},
		{
			name:    "refuses non-resource URLs",
			in:      []rbacv1.PolicyRule{{NonResourceURLs: list("/metrics"), Verbs: list("get")}},
			wantErr: "non-resource URLs [/metrics]",
		},
		{
			name:    "refuses a resource whose scope differs between the rule's groups",
			in:      []rbacv1.PolicyRule{rule(list("", "example.io"), list("nodes"), get)},
			wantErr: `resource "nodes" is cluster-scoped in group "" but namespaced in group "example.io"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.in, testCRDs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Split: error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Split:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// The rules written from the repository's generated role grant exactly
// what the role grants, with the cluster-scoped reads apart.
func TestRunSplitsTheGeneratedRole(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rules.yaml")
	if err := run("../../config/rbac/role.yaml", "../../config/crd/bases", out); err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# Code generated by hack/generate.sh") {
		t.Errorf("the file does not start with the generated-code header:\n%s", b)
	}
	var got Rules
	if err := yaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	role, err := readRole("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := grants(role), grants(append(append([]rbacv1.PolicyRule{}, got.Namespaced...), got.Cluster...)); !reflect.DeepEqual(a, b) {
		t.Errorf("the split rules grant %v, the role %v", b, a)
	}
	for _, r := range got.Cluster {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if !clusterScoped[schema.GroupResource{Group: g, Resource: res}] {
					t.Errorf("cluster rules grant %q of group %q, which is namespaced", res, g)
				}
			}
		}
	}
	if len(got.Namespaced) == 0 || len(got.Cluster) == 0 {
		t.Errorf("want namespaced and cluster rules, got %d and %d", len(got.Namespaced), len(got.Cluster))
	}
}

// grants flattens rules into "group/resource verb" entries.
func grants(rules []rbacv1.PolicyRule) map[string]bool {
	m := map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					m[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	return m
}
