package localkube

import (
	"maps"
	"path/filepath"
)

// The project's own images and the binaries `make build` writes for them,
// which the node agent runs in their place (ProjectImages).
const (
	// OperatorImage is the repository base name of the operator's image,
	// ghcr.io/redkube/redkube-operator with any tag or digest.
	OperatorImage = "redkube-operator"
	// ManagerBinary is what the operator image runs without a command.
	ManagerBinary = "manager"
	// ExporterCommand is the command of the Redis metrics exporter, a
	// sidecar that runs the operator image with this command.
	ExporterCommand = "/redkube-exporter"
	// ExporterBinary is the binary ExporterCommand runs.
	ExporterBinary = "redkube-exporter"
	// RcctlCommand is the command of the backup and restore Jobs, which
	// run the operator image with it.
	RcctlCommand = "/rcctl"
	// RcctlBinary is the binary RcctlCommand runs.
	RcctlBinary = "rcctl"
)

// ProjectImages returns the node agent's image and command maps that run
// the project's images from the binaries in dir: the operator image runs
// dir/manager, the command /redkube-exporter (by its base name, so
// "redkube-exporter" too) runs dir/redkube-exporter, the command /rcctl
// runs dir/rcctl. The binaries need not
// exist yet: a container whose binary is missing waits with
// ImageNotMapped or RunContainerError naming the path, and starts once it
// is built.
func ProjectImages(dir string) (images, commands map[string]string) {
	return map[string]string{OperatorImage: filepath.Join(dir, ManagerBinary)},
		map[string]string{
			filepath.Base(ExporterCommand): filepath.Join(dir, ExporterBinary),
			filepath.Base(RcctlCommand):    filepath.Join(dir, RcctlBinary),
		}
}

// mergeMissing returns base with the entries of extra whose keys base does
// not have; base's own entries win. base is not modified.
func mergeMissing(base, extra map[string]string) map[string]string {
	if len(extra) == 0 {
		return base
	}
	out := maps.Clone(extra)
	maps.Copy(out, base)
	return out
}
