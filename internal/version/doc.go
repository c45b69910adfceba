// Package version reports which redkube build is running: the release
// version, the git revision it was built from and whether that tree had
// uncommitted changes.
//
// The one version source is the file /VERSION at the repository root. The
// Makefile passes it, `git rev-parse HEAD` and the tree's state to the
// linker:
//
//	-X github.com/redkube/redkube/internal/version.Version=0.1.0
//	-X github.com/redkube/redkube/internal/version.Revision=<commit>
//	-X github.com/redkube/redkube/internal/version.Modified=false
//
// A binary built without those flags (go build, go install, go test) falls
// back, field by field, to what the Go toolchain recorded in the binary
// (runtime/debug.ReadBuildInfo: the module version and the vcs.revision and
// vcs.modified settings), and to "0.0.0-dev" for the version when nothing
// names one. The package has no errors: a field nobody recorded is empty.
package version
