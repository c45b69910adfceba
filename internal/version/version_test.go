package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// semver is the regular expression published with Semantic Versioning 2.0.0
// (https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

func TestVersionFileIsOneSemverLine(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "VERSION"))
	if err != nil {
		t.Fatalf("read VERSION: %v", err)
	}
	s := string(raw)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("VERSION = %q, want one line ending in a newline", s)
	}
	if v := strings.TrimSuffix(s, "\n"); !semver.MatchString(v) {
		t.Fatalf("VERSION = %q, want a semantic version without a leading v (such as 0.1.0)", v)
	}
}

func TestSemverPattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"0.1.0", true},
		{"1.2.3-rc.1", true},
		{"1.2.3+build.5", true},
		{"v0.1.0", false},
		{"0.1", false},
		{"01.1.0", false},
		{"0.1.0 ", false},
	} {
		if got := semver.MatchString(tc.in); got != tc.want {
			t.Errorf("semver.MatchString(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func buildInfo(version string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/redkube/redkube", Version: version}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		version, revision, modified string
		bi                          *debug.BuildInfo
		want                        Info
	}{
		{
			name:    "takes every field from the linker when the Makefile set them",
			version: "0.1.0", revision: "abc", modified: "false",
			bi:   buildInfo("(devel)", "vcs.revision", "def", "vcs.modified", "true"),
			want: Info{Version: "0.1.0", Revision: "abc"},
		},
		{
			name: "falls back to the toolchain's vcs settings without linker flags",
			bi:   buildInfo("(devel)", "vcs.revision", "def", "vcs.modified", "true"),
			want: Info{Version: DevVersion, Revision: "def", Modified: true},
		},
		{
			name: "uses the module version of a go install build without its v",
			bi:   buildInfo("v0.2.0"),
			want: Info{Version: "0.2.0"},
		},
		{
			name: "reports the dev version and no revision when nothing was recorded",
			bi:   nil,
			want: Info{Version: DevVersion},
		},
		{
			name:    "takes the revision from the toolchain when only the version was linked",
			version: "0.1.0",
			bi:      buildInfo("(devel)", "vcs.revision", "def", "vcs.modified", "false"),
			want:    Info{Version: "0.1.0", Revision: "def"},
		},
		{
			name:     "counts an unparsable modified value as modified",
			version:  "0.1.0",
			modified: "dirty",
			want:     Info{Version: "0.1.0", Modified: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.version, tc.revision, tc.modified, tc.bi); got != tc.want {
				t.Fatalf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		want string
	}{
		{
			name: "names version, revision, toolchain and platform",
			in:   Info{Version: "0.1.0", Revision: "abc", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			want: "0.1.0 (revision abc, go1.26.8 linux/arm64)",
		},
		{
			name: "says modified for a dirty tree",
			in:   Info{Version: "0.1.0", Revision: "abc", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: "0.1.0 (revision abc, modified, go1.26.8 linux/amd64)",
		},
		{
			name: "says unknown for a missing revision",
			in:   Info{Version: DevVersion, GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: "0.0.0-dev (revision unknown, go1.26.8 linux/amd64)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLinkerFlagsReachTheVariables builds a small program with the same -X
// flags as the Makefile and runs it: a renamed variable would leave the
// linker's values unused without any error.
func TestLinkerFlagsReachTheVariables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	const pkg = "github.com/redkube/redkube/internal/version"
	bin := filepath.Join(t.TempDir(), "printversion")
	ldflags := "-X " + pkg + ".Version=9.8.7 -X " + pkg + ".Revision=0123abcd -X " + pkg + ".Modified=true"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./testdata/printversion")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("run printversion: %v", err)
	}
	want := "9.8.7 (revision 0123abcd, modified, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Fatalf("printversion printed %q, want %q", out, want)
	}
}
