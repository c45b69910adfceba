package chart

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// splitRules are the rules hack/generate.sh wrote for the chart.
type splitRules struct {
	Namespaced []rbacv1.PolicyRule `json:"namespaced"`
	Cluster    []rbacv1.PolicyRule `json:"cluster"`
}

func readSplitRules(t *testing.T) splitRules {
	t.Helper()
	b, err := os.ReadFile(chartDir + "/files/manager-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var r splitRules
	if err := yaml.UnmarshalStrict(b, &r); err != nil {
		t.Fatalf("files/manager-rules.yaml: %v", err)
	}
	if len(r.Namespaced) == 0 || len(r.Cluster) == 0 {
		t.Fatalf("files/manager-rules.yaml has %d namespaced and %d cluster rules, want both", len(r.Namespaced), len(r.Cluster))
	}
	return r
}

// generatedRole reads the rules controller-gen generated from the
// +kubebuilder:rbac markers.
func generatedRole(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var r rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &r); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	return r.Rules
}

// grants flattens rules into sorted "group resource verb [name]" and
// "url verb" entries, so that two rule lists compare by what they allow.
func grants(rules ...[]rbacv1.PolicyRule) []string {
	set := map[string]bool{}
	for _, rs := range rules {
		for _, r := range rs {
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, v := range r.Verbs {
				for _, u := range r.NonResourceURLs {
					set[u+" "+v] = true
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						for _, n := range names {
							set[g+" "+res+" "+v+" "+n] = true
						}
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// sameGrants fails t when got allows something else than want.
func sameGrants(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	if g, w := grants(got), grants(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s grants\n%v\nwant\n%v", what, g, w)
	}
}

// noWildcards fails t for a "*" among the groups, resources, verbs or
// non-resource URLs of rules.
func noWildcards(t *testing.T, what string, rules []rbacv1.PolicyRule) {
	t.Helper()
	for i, r := range rules {
		for _, l := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs} {
			for _, s := range l {
				if s == "*" || slices.Contains([]rune(s), '*') {
					t.Errorf("%s rule %d has a wildcard %q: %+v", what, i, s, r)
				}
			}
		}
	}
}

// bindsTo fails t unless subjects are exactly the ServiceAccount ns/name.
func bindsTo(t *testing.T, what string, subjects []rbacv1.Subject, ns, name string) {
	t.Helper()
	want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("%s binds %+v, want %+v", what, subjects, want)
	}
}
