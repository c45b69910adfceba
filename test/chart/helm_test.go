package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	// chartDir is the chart under test.
	chartDir = "../../charts/redkube"
	// envToolsBin names the folder of helm (hack/build-tools.sh's last
	// line), as make test exports it.
	envToolsBin = "REDKUBE_TOOLS_BIN"
	// envK8sBin names the folder of etcd, kube-apiserver and kubectl.
	envK8sBin = "REDKUBE_K8S_BIN"
)

// helm runs the pinned helm binary with its cache, configuration and data
// in a folder of the test.
type helm struct {
	bin string
	env []string
}

// newHelm returns the helm of $REDKUBE_TOOLS_BIN, skipping t under -short
// or when the variable is unset, and failing it when the variable names a
// folder without helm.
func newHelm(t *testing.T) *helm {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the chart tests in -short mode")
	}
	dir := os.Getenv(envToolsBin)
	if dir == "" {
		t.Skipf("%s is unset: no helm (run hack/build-tools.sh and export %s=<folder it prints>; make test sets it)", envToolsBin, envToolsBin)
	}
	bin := filepath.Join(dir, "helm")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s=%s holds no executable helm (stat: %v)", envToolsBin, dir, err)
	}
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	return &helm{bin: bin, env: env}
}

// run runs helm with args (within a minute) and returns its standard
// output; the error carries its standard error.
func (h *helm) run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// release is what to render: a release name and namespace, the chart
// folder (chartDir when empty) and --set values.
type release struct {
	name, namespace, chart string
	set                    []string
}

// args returns the release's arguments of helm template or install.
func (r release) args() []string {
	chart := r.chart
	if chart == "" {
		chart = chartDir
	}
	args := []string{r.name, chart, "--namespace", r.namespace}
	for _, s := range r.set {
		args = append(args, "--set", s)
	}
	return args
}

// defaultRelease is the release make release renders and the e2e harness
// installs: "redkube" in redkube-system.
func defaultRelease(set ...string) release {
	return release{name: "redkube", namespace: "redkube-system", set: set}
}

// namespacesRelease watches team-a and team-b only.
func namespacesRelease(set ...string) release {
	return defaultRelease(append([]string{"watch.mode=namespaces", "watch.namespaces={team-a,team-b}"}, set...)...)
}

// templateYAML renders r with its CRDs and returns helm's output.
func (h *helm) templateYAML(t *testing.T, r release) []byte {
	t.Helper()
	out, err := h.run(t.Context(), append([]string{"template", "--include-crds"}, r.args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// template renders r with its CRDs into objects.
func (h *helm) template(t *testing.T, r release) objects {
	t.Helper()
	objs, err := decode(h.templateYAML(t, r))
	if err != nil {
		t.Fatalf("decode the rendered chart: %v", err)
	}
	return objs
}

// objects are rendered manifests, in order.
type objects []*unstructured.Unstructured

// decode reads every object of a YAML stream.
func decode(b []byte) (objects, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs objects
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode YAML: %w", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// ofKind returns the objects of kind.
func (o objects) ofKind(kind string) objects {
	var out objects
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// get returns the object of kind named name in namespace, or nil.
func (o objects) get(kind, namespace, name string) *unstructured.Unstructured {
	for _, u := range o {
		if u.GetKind() == kind && u.GetNamespace() == namespace && u.GetName() == name {
			return u
		}
	}
	return nil
}

// one converts the one object of kind in o into out, failing t when there
// is not exactly one.
func (o objects) one(t *testing.T, kind string, out any) {
	t.Helper()
	l := o.ofKind(kind)
	if len(l) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(l), kind)
	}
	convert(t, l[0], out)
}

// convert turns u into the typed object out.
func convert(t *testing.T, u *unstructured.Unstructured, out any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s/%s does not convert to %T: %v", u.GetKind(), u.GetNamespace(), u.GetName(), out, err)
	}
}

// readVersion returns the content of /VERSION.
func readVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
