package manifests

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const configDir = "../../config"

// TestManifestsApply builds each kustomization under config/ with the
// kubectl from REDKUBE_K8S_BIN and creates every object with a server-side
// dry run against a kube-apiserver that has the CRD installed.
func TestManifestsApply(t *testing.T) {
	bin := os.Getenv("REDKUBE_K8S_BIN")
	if bin == "" {
		t.Skip("REDKUBE_K8S_BIN is unset: no API server to check the manifests against (`make test` sets it)")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(configDir, "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: bin,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start leaves etcd and kube-apiserver running when installing the
		// CRD fails; stop them.
		if stopErr := env.Stop(); stopErr != nil {
			t.Errorf("stop envtest: %v", stopErr)
		}
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Namespaced objects can only be dry-run into a namespace that exists:
	// create the operator's namespace for real, from its manifest.
	nsYAML, err := os.ReadFile(filepath.Join(configDir, "manager", "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ns := &unstructured.Unstructured{}
	if err := utilyaml.Unmarshal(nsYAML, &ns.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	for _, dir := range []string{"crd", "rbac", "manager", "samples", "default"} {
		t.Run(dir, func(t *testing.T) {
			if dir == "rbac" || dir == "default" {
				if _, err := os.Stat(filepath.Join(configDir, "rbac", "role.yaml")); err != nil {
					t.Skip("config/rbac/role.yaml is not generated yet (no +kubebuilder:rbac markers in internal/controller)")
				}
			}
			out, err := exec.Command(filepath.Join(bin, "kubectl"), "kustomize", filepath.Join(configDir, dir)).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("kubectl kustomize config/%s: %v\n%s", dir, err, ee.Stderr)
				}
				t.Fatalf("kubectl kustomize config/%s: %v", dir, err)
			}
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
			n := 0
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					t.Fatalf("decode config/%s: %v", dir, err)
				}
				if len(u.Object) == 0 {
					continue
				}
				if u.GetNamespace() == "" && u.GetKind() == "RedisCluster" {
					u.SetNamespace("default")
				}
				n++
				if err := c.Create(ctx, u, client.DryRunAll); err != nil {
					if apierrors.IsAlreadyExists(err) && (u.GetKind() == "Namespace" || u.GetKind() == "CustomResourceDefinition") {
						continue // created by envtest or above
					}
					t.Errorf("config/%s: %s %s rejected: %v", dir, u.GetKind(), u.GetName(), err)
				}
			}
			if n == 0 {
				t.Errorf("config/%s built no objects", dir)
			}
		})
	}
}
