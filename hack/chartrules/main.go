// Command chartrules writes the operator's RBAC rules for the Helm chart,
// split by the scope of the resources they grant: the rules on namespaced
// resources (a Role in each watched namespace when the operator watches a
// list of namespaces, part of its ClusterRole when it watches the whole
// cluster) and the rules on cluster-scoped resources (always a
// ClusterRole).
//
// Its input is the ClusterRole controller-gen generates from the
// +kubebuilder:rbac markers in internal/controller (config/rbac/role.yaml),
// so the markers stay the one source of the operator's permissions.
// hack/generate.sh runs it; hack/verify-generated.sh diffs its output.
//
// Usage:
//
//	go run ./hack/chartrules -role config/rbac/role.yaml -crds config/crd/bases \
//	    -out charts/redkube/files/manager-rules.yaml
//
// A resource's scope comes from the CRDs in -crds for the project's own
// groups and from a table of Kubernetes' cluster-scoped resources for its
// built-in groups (see scope.go). A resource of any other group, a wildcard
// or a non-resource URL is an error, so a new marker never lands in the
// wrong role unnoticed; test/chart checks the written rules against a real
// API server's discovery.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	role := flag.String("role", "config/rbac/role.yaml", "the ClusterRole controller-gen generated from the +kubebuilder:rbac markers")
	crds := flag.String("crds", "config/crd/bases", "folder of the project's CustomResourceDefinitions")
	out := flag.String("out", "charts/redkube/files/manager-rules.yaml", "file to write the split rules to")
	flag.Parse()
	if err := run(*role, *crds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chartrules:", err)
		os.Exit(1)
	}
}

func run(rolePath, crdDir, outPath string) error {
	rules, err := readRole(rolePath)
	if err != nil {
		return err
	}
	scopes, err := readCRDScopes(crdDir)
	if err != nil {
		return err
	}
	split, err := Split(rules, scopes)
	if err != nil {
		return fmt.Errorf("split the rules of %s: %w", rolePath, err)
	}
	b, err := split.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(outPath, b, 0o644); err != nil {
		return fmt.Errorf("write the split rules: %w", err)
	}
	return nil
}
