// Package boundary holds architecture tests: rules about which packages may
// import which, checked on every `make test` (golangci-lint's depguard states
// the same rule for editors and `make lint`).
package boundary

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreNeverImportsKubernetes keeps the core engine (pkg/...) free of
// Kubernetes: rcctl and the operator share it, and the planner stays pure data.
func TestCoreNeverImportsKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/redkube/redkube/pkg/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list returned no packages")
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("core package graph imports %s; move Kubernetes code to internal/", d)
		}
	}
}
