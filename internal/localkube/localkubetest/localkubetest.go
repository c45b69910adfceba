// Package localkubetest starts a local cluster (internal/localkube) for a
// test: it skips the test when no control-plane binaries exist and
// REDKUBE_K8S_BIN is unset, stops the cluster in the test's cleanup, and
// prints the components' last log lines when the test failed.
package localkubetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/proc"
)

// SkipIfNoBinaries skips tb when the control-plane binaries cannot be found
// and REDKUBE_K8S_BIN is unset (CI always sets it, so CI never skips), and
// returns the binary folder otherwise.
func SkipIfNoBinaries(tb testing.TB) string {
	tb.Helper()
	dir, err := localkube.FindBinDir()
	if err != nil {
		if errors.Is(err, localkube.ErrNoBinaries) && os.Getenv(localkube.EnvBinDir) == "" {
			tb.Skipf("skipping: %v; run hack/build-k8s.sh and export %s=<folder it prints>", err, localkube.EnvBinDir)
		}
		tb.Fatalf("find control-plane binaries: %v", err)
	}
	return dir
}

// Start starts a cluster with opts for tb and stops it in tb.Cleanup. The
// launcher logs to tb.Log unless opts.Logger is set. When the test fails,
// the last lines of each component log are printed before the state folder
// is removed.
func Start(tb testing.TB, opts localkube.Options) *localkube.Cluster {
	tb.Helper()
	if opts.BinDir == "" {
		opts.BinDir = SkipIfNoBinaries(tb)
	}
	if opts.Logger == nil {
		opts.Logger = Logger(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localkube.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("start local cluster: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			DumpLogs(tb, c, 30)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			tb.Errorf("stop local cluster: %v", err)
		}
	})
	return c
}

// DumpLogs prints the last n lines of every component log of c.
func DumpLogs(tb testing.TB, c *localkube.Cluster, n int) {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(c.LogDir(), "*.log"))
	sort.Strings(files)
	for _, f := range files {
		tb.Logf("--- last lines of %s ---\n%s", filepath.Base(f), proc.Tail(f, n))
	}
}

// Logger returns a logger that writes its records (level Info and up) to
// tb.Log, for a launcher started on behalf of the test.
func Logger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.end)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// tbWriter sends slog output to tb.Log, one call per record, until tb's
// cleanups ran; a record written later (by a goroutine that outlived the
// environment) goes to stderr naming the test, since testing panics on a
// Log after its test completed and would end the whole test binary.
type tbWriter struct {
	tb    testing.TB
	mu    sync.Mutex
	ended bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		fmt.Fprintf(os.Stderr, "log after %s ended: %s\n", w.tb.Name(), trimNewline(p))
		return len(p), nil
	}
	w.tb.Helper()
	w.tb.Log(string(trimNewline(p)))
	return len(p), nil
}

func (w *tbWriter) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
}

func trimNewline(p []byte) []byte {
	if len(p) > 0 && p[len(p)-1] == '\n' {
		return p[:len(p)-1]
	}
	return p
}
