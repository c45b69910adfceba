package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/test/harness"
)

// startHarness starts the shared test environment (test/harness) for t:
// it skips t when the control-plane binaries are missing and
// REDKUBE_K8S_BIN is unset or when not run as root, fails it when a
// command the tests need is missing, logs the launcher's messages to t,
// and stops everything in t's cleanup, after printing the last lines of
// every component log when t failed.
func startHarness(t *testing.T, opts harness.Options, commands ...string) *harness.Env {
	t.Helper()
	opts.BinDir = localkubetest.SkipIfNoBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, the pod bridge and nftables")
	}
	for _, cmd := range commands {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("the e2e tests need %s: %v", cmd, err)
		}
	}
	opts.Logger = localkubetest.Logger(t)
	began := time.Now()
	e, err := harness.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start the test environment: %v", err)
	}
	t.Logf("timing: local cluster start (control plane, nodes, agent) %v; the whole environment %v", e.Cluster.StartDuration, time.Since(began))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.LogTails(30))
		}
		if err := e.Stop(); err != nil {
			t.Errorf("stop the test environment: %v", err)
		}
	})
	return e
}

// kubectlT runs the cluster's kubectl with args and returns its output,
// failing t on an error. Not t.Context(): kubectl also runs in cleanups,
// after it is cancelled.
func kubectlT(t *testing.T, e *harness.Env, args ...string) string {
	t.Helper()
	out, err := e.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitT polls try every interval until it returns nil, failing t with its
// last error when d has gone by.
func waitT(t *testing.T, d, interval time.Duration, what string, try func(ctx context.Context) error) {
	t.Helper()
	if err := harness.Wait(t.Context(), d, interval, what, try); err != nil {
		t.Fatal(err)
	}
}

// cordon cordons (or uncordons) every node, failing t on an error.
func cordon(t *testing.T, e *harness.Env, on bool) {
	t.Helper()
	if err := e.Cordon(context.Background(), on); err != nil {
		t.Fatal(err)
	}
}
