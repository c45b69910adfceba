package localkube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoBinaries is returned (wrapped) by FindBinDir when no folder with the
// control-plane binaries is known. Tests skip on it only when EnvBinDir is
// unset too.
var ErrNoBinaries = errors.New("no control-plane binaries found (set " + EnvBinDir + " to the folder printed by hack/build-k8s.sh)")

// buildModuleDir is the build module hack/build-k8s.sh builds from, relative
// to the repository root.
const buildModuleDir = "hack/k8s-build"

// FindBinDir returns the folder holding the control-plane binaries:
// $REDKUBE_K8S_BIN when set, otherwise the folder hack/build-k8s.sh builds
// into for the current hack/k8s-build/go.{mod,sum} (under $REDKUBE_CACHE, or
// .cache of the repository containing the working directory).
func FindBinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoBinaries, err)
	}
	key, err := buildKey(filepath.Join(root, buildModuleDir))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoBinaries, err)
	}
	cacheRoot := os.Getenv("REDKUBE_CACHE")
	if cacheRoot == "" {
		cacheRoot = filepath.Join(root, ".cache")
	}
	dir := filepath.Join(cacheRoot, "k8s", key, "bin")
	for _, b := range []string{binEtcd, binAPIServer, binControllerManager, binScheduler} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrNoBinaries, dir, err)
		}
	}
	return dir, nil
}

// buildKey mirrors hack/build-k8s.sh: the first 16 hex digits of the SHA-256
// of go.mod followed by go.sum.
func buildKey(mod string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			return "", fmt.Errorf("read build module: %w", err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// repoRoot walks up from the working directory to the folder holding the
// build module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, buildModuleDir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the redkube repository")
		}
		dir = parent
	}
}
