package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// installCommand copies the running rcctl binary to a path: the operator
// image has no shell, so an init container runs `/rcctl install
// /tools/rcctl` to give a container of another image (the Redis image,
// which has the redis-server a restore's scratch servers need) this rcctl.
func (a *app) installCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "install PATH",
		Short:  "Copy this rcctl binary to PATH (for init containers: the operator image has no shell)",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return installSelf(args[0])
		},
	}
}

// installSelf copies the executable to dst (mode 0755) through a temp file
// renamed into place, so dst is whole or absent.
func installSelf(dst string) (err error) {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: find this binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() { _ = src.Close() }() // read-only
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".rcctl-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name()) // best effort; the error says what failed
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: copy to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
