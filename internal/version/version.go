package version

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// Set by the linker (-ldflags -X, see the Makefile); read them through Get.
// They are strings because -X sets only strings.
var (
	// Version is the release version, the content of /VERSION, without a
	// leading "v".
	Version string
	// Revision is the full git commit hash the binary was built from.
	Revision string
	// Modified is "true" when the tree had uncommitted changes, else
	// "false".
	Modified string
)

// DevVersion is the version of a build that names none.
const DevVersion = "0.0.0-dev"

// Info describes one build.
type Info struct {
	// Version is the release version, DevVersion when unknown.
	Version string
	// Revision is the git commit hash, empty when unknown.
	Revision string
	// Modified is true when the tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH of the binary.
	Platform string
}

// String renders the build for --version output, for example
// "0.1.0 (revision 8d065d4c…, go1.26.8 linux/amd64)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (revision ")
	if i.Revision == "" {
		b.WriteString("unknown")
	} else {
		b.WriteString(i.Revision)
	}
	if i.Modified {
		b.WriteString(", modified")
	}
	b.WriteString(", ")
	b.WriteString(i.GoVersion)
	b.WriteString(" ")
	b.WriteString(i.Platform)
	b.WriteString(")")
	return b.String()
}

var get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	i := resolve(Version, Revision, Modified, bi)
	i.GoVersion = runtime.Version()
	i.Platform = runtime.GOOS + "/" + runtime.GOARCH
	return i
})

// Get returns this binary's build: the linker's values, else the toolchain's.
func Get() Info { return get() }

// String returns Get().String(), the --version output.
func String() string { return get().String() }

// resolve merges the linker's values with the build info bi (nil when the
// binary has none), field by field; the linker wins.
func resolve(version, revision, modified string, bi *debug.BuildInfo) Info {
	var i Info
	var biVersion, biRevision, biModified string
	if bi != nil {
		// "(devel)" is what a build inside the module's own tree records.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			biVersion = strings.TrimPrefix(v, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				biRevision = s.Value
			case "vcs.modified":
				biModified = s.Value
			}
		}
	}
	i.Version = firstNonEmpty(version, biVersion, DevVersion)
	i.Revision = firstNonEmpty(revision, biRevision)
	// A build that cannot say its tree was clean counts as modified.
	m, err := strconv.ParseBool(firstNonEmpty(modified, biModified, "false"))
	i.Modified = m || err != nil
	return i
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
