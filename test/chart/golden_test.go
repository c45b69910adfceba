package chart

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (make golden)")

// The rendered chart in both watch modes (without the CRD, which
// hack/verify-generated.sh keeps equal to config/crd/bases), so that a
// review sees every change to the manifests users get. A VERSION change
// changes them too: make golden.
func TestChartMatchesGoldenFiles(t *testing.T) {
	h := newHelm(t)
	for _, tc := range []struct {
		file string
		r    release
	}{
		{file: "cluster.yaml", r: defaultRelease()},
		{file: "namespaces.yaml", r: namespacesRelease()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := h.run(t.Context(), append([]string{"template"}, tc.r.args()...)...)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (make golden writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the rendered chart differs from %s; after an intended change run make golden and review the diff:\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// The packaged chart (helm package, as make release builds it) renders
// what the chart folder renders: nothing it needs is left out.
func TestPackagedChartRendersLikeTheFolder(t *testing.T) {
	h := newHelm(t)
	dir := t.TempDir()
	if _, err := h.run(t.Context(), "package", chartDir, "--destination", dir); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(dir, "redkube-"+readVersion(t)+".tgz")
	for _, r := range []release{defaultRelease(monitoringOn...), namespacesRelease()} {
		packaged := r
		packaged.chart = tgz
		want, got := h.templateYAML(t, r), h.templateYAML(t, packaged)
		if !bytes.Equal(got, want) {
			t.Errorf("the packaged chart renders differently with %v:\n%s", r.set, lineDiff(string(want), string(got)))
		}
	}
}

// lineDiff lists the lines of want missing from got (-) and those of got
// missing from want (+), in order, at most 40.
func lineDiff(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	count := func(lines [][]byte) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			m[string(l)]++
		}
		return m
	}
	inW, inG := count(w), count(g)
	var b bytes.Buffer
	n := 0
	emit := func(sign string, l []byte, other map[string]int) {
		if other[string(l)] > 0 {
			other[string(l)]--
			return
		}
		if n < 40 {
			b.WriteString(sign + string(l) + "\n")
		}
		n++
	}
	for _, l := range w {
		emit("-", l, inG)
	}
	for _, l := range g {
		emit("+", l, inW)
	}
	return b.String()
}
