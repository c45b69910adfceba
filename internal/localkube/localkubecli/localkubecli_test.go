package localkubecli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/redkube/redkube/internal/localkube/localkubecli"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := localkubecli.Main(t.Context(), args, &out, &errOut)
	return out.String() + errOut.String(), code
}

// up in the foreground, status and node stop/start through its socket, and
// a cancelled up (as on Ctrl-C) that stops everything and removes its state.
func TestUpStatusNodeAndStop(t *testing.T) {
	binDir := localkubetest.SkipIfNoBinaries(t)
	state := filepath.Join(t.TempDir(), "lk")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var upOut syncBuffer
	upDone := make(chan int, 1)
	go func() {
		upDone <- localkubecli.Main(ctx, []string{"--state-dir", state, "up", "--bin-dir", binDir, "--agent", "heartbeat", "--services=false", "--nodes", "2"}, &upOut, &upOut)
	}()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		select {
		case code := <-upDone:
			return false, fmt.Errorf("up exited with %d", code)
		default:
		}
		return strings.Contains(upOut.String(), "Press Ctrl-C"), nil
	})
	if err != nil {
		t.Fatalf("up did not come up: %v\n%s", err, upOut.String())
	}
	for _, want := range []string{
		"export KUBECONFIG=" + filepath.Join(state, "admin.kubeconfig"),
		// Without the pod agent there is no node network: the nodes
		// keep the gateway's address.
		"node addresses (InternalIP, pods' hostIP): node-1=10.244.0.1 node-2=10.244.0.1",
		"load-balancer pool 10.243.1.0/24",
	} {
		if !strings.Contains(upOut.String(), want) {
			t.Errorf("up output lacks %q:\n%s", want, upOut.String())
		}
	}

	// The socket appears right after the usage text.
	var out string
	var code int
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		out, code = run(t, "--state-dir", state, "status")
		return code == 0, nil
	})
	if code != 0 || !strings.Contains(out, "kube-apiserver") || !strings.Contains(out, "node-2") {
		t.Fatalf("status (exit %d):\n%s", code, out)
	}
	if out, code := run(t, "--state-dir", state, "node", "stop", "node-2"); code != 0 {
		t.Fatalf("node stop (exit %d): %s", code, out)
	}
	if out, _ := run(t, "--state-dir", state, "status"); !strings.Contains(out, "stopped") {
		t.Errorf("status does not show node-2 stopped:\n%s", out)
	}
	if out, code := run(t, "--state-dir", state, "node", "stop", "node-7"); code != 1 || !strings.Contains(out, "unknown node") {
		t.Errorf("node stop of an unknown node: exit %d: %s", code, out)
	}
	if out, code := run(t, "--state-dir", state, "node", "start", "node-2"); code != 0 {
		t.Fatalf("node start (exit %d): %s", code, out)
	}

	cancel() // Ctrl-C
	select {
	case code := <-upDone:
		if code != 0 {
			t.Errorf("up exited with %d:\n%s", code, upOut.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("up did not stop")
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state folder still there after up stopped (stat: %v)", err)
	}
	if out, code := run(t, "--state-dir", state, "status"); code != 1 || !strings.Contains(out, "no running localkube") {
		t.Errorf("status of a stopped cluster: exit %d: %s", code, out)
	}
}

func TestUpRefusesAMalformedImageOrCommandMapping(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the pod agent's flags are read only as root")
	}
	for _, c := range []struct{ name, flag, value, want string }{
		{"an image without a binary", "--image", "redkube-operator", `--image "redkube-operator": want NAME=PATH`},
		{"a command without a name", "--command", "=/bin/true", `--command "=/bin/true": want NAME=PATH`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(t, "--state-dir", filepath.Join(t.TempDir(), "lk"), "up", "--agent", "pods", c.flag, c.value)
			if code != 1 || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, output %q; want 1 and %q", code, out, c.want)
			}
		})
	}
}
