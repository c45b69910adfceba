package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Scope is where a resource lives.
type Scope int

// The two scopes of a Kubernetes resource.
const (
	Namespaced Scope = iota
	ClusterScoped
)

func (s Scope) String() string {
	if s == ClusterScoped {
		return "cluster-scoped"
	}
	return "namespaced"
}

// builtinGroups are the API groups Kubernetes itself serves (v1.37, with
// the alpha internal.apiserver.k8s.io). Every resource of these groups is
// namespaced unless clusterScoped lists it.
var builtinGroups = []string{
	"", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
	"apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
	"certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
	"flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io",
	"node.k8s.io", "policy", "rbac.authorization.k8s.io", "resource.k8s.io",
	"scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
}

// clusterScoped are the cluster-scoped resources of builtinGroups: those
// the API server of v1.37 serves by default (TestTableMatchesDiscovery
// compares them with a real one's discovery) and storageversions of the
// alpha group internal.apiserver.k8s.io.
var clusterScoped = map[schema.GroupResource]bool{
	{Group: "", Resource: "componentstatuses"}:                                             true,
	{Group: "", Resource: "namespaces"}:                                                    true,
	{Group: "", Resource: "nodes"}:                                                         true,
	{Group: "", Resource: "persistentvolumes"}:                                             true,
	{Group: "admissionregistration.k8s.io", Resource: "mutatingadmissionpolicies"}:         true,
	{Group: "admissionregistration.k8s.io", Resource: "mutatingadmissionpolicybindings"}:   true,
	{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}:     true,
	{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"}:       true,
	{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicybindings"}: true,
	{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}:   true,
	{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}:                 true,
	{Group: "apiregistration.k8s.io", Resource: "apiservices"}:                             true,
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:                       true,
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:                             true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:                  true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:                   true,
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:                      true,
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}:                 true,
	{Group: "certificates.k8s.io", Resource: "clustertrustbundles"}:                        true,
	{Group: "flowcontrol.apiserver.k8s.io", Resource: "flowschemas"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Resource: "prioritylevelconfigurations"}:       true,
	{Group: "internal.apiserver.k8s.io", Resource: "storageversions"}:                      true,
	{Group: "networking.k8s.io", Resource: "ingressclasses"}:                               true,
	{Group: "networking.k8s.io", Resource: "ipaddresses"}:                                  true,
	{Group: "networking.k8s.io", Resource: "servicecidrs"}:                                 true,
	{Group: "node.k8s.io", Resource: "runtimeclasses"}:                                     true,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}:                  true,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}:                         true,
	{Group: "resource.k8s.io", Resource: "deviceclasses"}:                                  true,
	{Group: "resource.k8s.io", Resource: "devicetaintrules"}:                               true,
	{Group: "resource.k8s.io", Resource: "resourceslices"}:                                 true,
	{Group: "scheduling.k8s.io", Resource: "priorityclasses"}:                              true,
	{Group: "storage.k8s.io", Resource: "csidrivers"}:                                      true,
	{Group: "storage.k8s.io", Resource: "csinodes"}:                                        true,
	{Group: "storage.k8s.io", Resource: "storageclasses"}:                                  true,
	{Group: "storage.k8s.io", Resource: "volumeattachments"}:                               true,
	{Group: "storage.k8s.io", Resource: "volumeattributesclasses"}:                         true,
	{Group: "storagemigration.k8s.io", Resource: "storageversionmigrations"}:               true,
}

// scopeOf returns the scope of resource (a subresource such as
// "redisclusters/status" has its parent's) in group; crds holds the scopes
// of the project's own resources.
func scopeOf(group, resource string, crds map[schema.GroupResource]Scope) (Scope, error) {
	if group == rbacv1.APIGroupAll || resource == rbacv1.ResourceAll || strings.HasPrefix(resource, "*/") {
		return 0, fmt.Errorf("wildcard %q in group %q: grant named resources", resource, group)
	}
	base, _, _ := strings.Cut(resource, "/")
	gr := schema.GroupResource{Group: group, Resource: base}
	if s, ok := crds[gr]; ok {
		return s, nil
	}
	if !slices.Contains(builtinGroups, group) {
		return 0, fmt.Errorf("resource %q of group %q: not a built-in group and no CRD found for it, so its scope is unknown", resource, group)
	}
	if clusterScoped[gr] {
		return ClusterScoped, nil
	}
	return Namespaced, nil
}

// Rules are the operator's rules split by scope.
type Rules struct {
	// Namespaced grant namespaced resources only.
	Namespaced []rbacv1.PolicyRule `json:"namespaced"`
	// Cluster grant cluster-scoped resources only.
	Cluster []rbacv1.PolicyRule `json:"cluster"`
}

// Split sorts each rule into Namespaced or Cluster by the scope of its
// resources, in their order. A rule naming resources of both scopes is cut
// in two, each part keeping the rule's groups, verbs and resource names. A
// resource whose scope differs between the rule's groups, a wildcard and a
// non-resource URL are errors.
func Split(rules []rbacv1.PolicyRule, crds map[schema.GroupResource]Scope) (Rules, error) {
	out := Rules{Namespaced: []rbacv1.PolicyRule{}, Cluster: []rbacv1.PolicyRule{}}
	for i, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			return Rules{}, fmt.Errorf("rule %d grants non-resource URLs %v, which only a ClusterRole can hold: give them a ClusterRole of their own", i, r.NonResourceURLs)
		}
		if len(r.APIGroups) == 0 || len(r.Resources) == 0 {
			return Rules{}, fmt.Errorf("rule %d names no API group or no resource", i)
		}
		var byScope [2][]string
		for _, res := range r.Resources {
			s, err := resourceScope(r.APIGroups, res, crds)
			if err != nil {
				return Rules{}, fmt.Errorf("rule %d: %w", i, err)
			}
			byScope[s] = append(byScope[s], res)
		}
		for s, resources := range byScope {
			if len(resources) == 0 {
				continue
			}
			part := *r.DeepCopy()
			part.Resources = resources
			if Scope(s) == ClusterScoped {
				out.Cluster = append(out.Cluster, part)
			} else {
				out.Namespaced = append(out.Namespaced, part)
			}
		}
	}
	return out, nil
}

// resourceScope is the scope of res in every one of groups, or an error
// when they differ.
func resourceScope(groups []string, res string, crds map[schema.GroupResource]Scope) (Scope, error) {
	var first Scope
	for j, g := range groups {
		s, err := scopeOf(g, res, crds)
		if err != nil {
			return 0, err
		}
		if j == 0 {
			first = s
		} else if s != first {
			return 0, fmt.Errorf("resource %q is %v in group %q but %v in group %q: write separate markers", res, first, groups[0], s, g)
		}
	}
	return first, nil
}

// header opens the written file.
const header = `# Code generated by hack/generate.sh (hack/chartrules) from the
# +kubebuilder:rbac markers in internal/controller, through
# config/rbac/role.yaml. DO NOT EDIT.
#
# The operator's rules split by the scope of their resources. The chart
# grants "namespaced" in its ClusterRole (watch.mode cluster) or in a Role
# in each watched namespace (watch.mode namespaces), and "cluster" always
# in its ClusterRole.
`

// Marshal renders r as the YAML file the chart reads, under a header.
func (r Rules) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("marshal the split rules: %w", err)
	}
	return append([]byte(header), b...), nil
}

// readRole reads the rules of the one ClusterRole in path.
func readRole(path string) ([]rbacv1.PolicyRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the generated role: %w", err)
	}
	var roles []rbacv1.ClusterRole
	if err := decodeAll(b, func(doc []byte) error {
		var r rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(doc, &r); err != nil {
			return err
		}
		if r.Kind != "ClusterRole" {
			return fmt.Errorf("a %s, want a ClusterRole", r.Kind)
		}
		roles = append(roles, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if len(roles) != 1 {
		return nil, fmt.Errorf("%s holds %d ClusterRoles, want 1", path, len(roles))
	}
	return roles[0].Rules, nil
}

// readCRDScopes returns the scope of every resource the CRDs in dir define.
func readCRDScopes(dir string) (map[schema.GroupResource]Scope, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list the CRDs: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRD in %s", dir)
	}
	scopes := map[schema.GroupResource]Scope{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read a CRD: %w", err)
		}
		if err := decodeAll(b, func(doc []byte) error {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.Unmarshal(doc, &crd); err != nil {
				return err
			}
			s := Namespaced
			switch crd.Spec.Scope {
			case apiextensionsv1.ClusterScoped:
				s = ClusterScoped
			case apiextensionsv1.NamespaceScoped:
			default:
				return fmt.Errorf("CRD %s has scope %q", crd.Name, crd.Spec.Scope)
			}
			scopes[schema.GroupResource{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}] = s
			return nil
		}); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f, err)
		}
	}
	return scopes, nil
}

// decodeAll calls fn with each document of a YAML stream that holds an
// object (documents of only comments or blank lines are skipped).
func decodeAll(b []byte, fn func(doc []byte) error) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read a YAML document: %w", err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return err
		}
		if len(obj) == 0 {
			continue
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
}
