// Command configgen writes what is derived from the table of redis.conf
// directives spec.config may set (api/v1alpha1.ConfigDirectives):
//
//   - api/v1alpha1/zz_generated.configrules.go: the RedisConfig type with
//     the CEL rules of api/v1alpha1.ConfigRules as kubebuilder markers, from
//     which controller-gen writes the CRD's x-kubernetes-validations;
//   - docs/configuration.md: the directives with their types and ranges.
//
// hack/generate.sh runs it before controller-gen; hack/verify-generated.sh
// diffs its output.
//
// Usage:
//
//	go run ./hack/configgen -root .
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "repository root to write into")
	flag.Parse()
	rules, err := rulesFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "configgen:", err)
		os.Exit(1)
	}
	for path, content := range map[string]string{
		"api/v1alpha1/zz_generated.configrules.go": rules,
		"docs/configuration.md":                    docFile(),
	} {
		if err := os.WriteFile(filepath.Join(*root, path), []byte(content), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "configgen:", err)
			os.Exit(1)
		}
	}
}
