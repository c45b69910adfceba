package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

const ns = "default"

// env is a local cluster with the manager binary running against it as a
// process the scenarios may kill.
type env struct {
	*harness.Env
	manager string // the binary
	op      *harness.Operator
	starts  int
}

// startEnv starts the local cluster (no Services: the operator and the
// writer reach pods through the bridge, and runs need not wait for the
// machine's kube-proxy) and the manager.
func startEnv(t testing.TB) *env {
	t.Helper()
	bin := localkubetest.SkipIfNoBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, the pod bridge and nftables")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./cmd/manager")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as test/e2e builds it: one build cache entry
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	h, err := harness.Start(t.Context(), harness.Options{
		Name: "chaos", BinDir: bin, CRDDir: "../../config/crd/bases",
		Network: harness.Network("rkc", 245), Logger: localkubetest.Logger(t),
	})
	if err != nil {
		t.Fatalf("start the test environment: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.LogTails(30))
		}
		if err := h.Stop(); err != nil {
			t.Errorf("stop the test environment: %v", err)
		}
	})
	e := &env{Env: h, manager: dir + "/manager"}
	e.startManager(t)
	return e
}

// startManager starts a manager process; each keeps its own log.
func (e *env) startManager(t testing.TB) {
	t.Helper()
	e.starts++
	op, err := e.StartOperator(t.Context(), harness.OperatorOptions{Binary: e.manager, LogPath: fmt.Sprintf("%s/manager-%d.log", e.Work, e.starts)})
	if err != nil {
		t.Fatalf("start the manager: %v", err)
	}
	e.op = op
}

// killManager SIGKILLs the manager: no deferred work, no lease released.
func (e *env) killManager(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(e.op.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill the manager: %v", err)
	}
	_ = e.op.Stop() // reaps it
}

// create applies a RedisCluster and waits until it is Ready.
func (e *env) create(t testing.TB, name string, masters int) {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: %s
kind: RedisCluster
metadata:
  name: %s
  namespace: %s
spec:
  masters: %d
  replicasPerMaster: 1
  storage:
    size: 64Mi
`, redisv1alpha1.GroupVersion.String(), name, ns, masters)
	since := time.Now()
	if err := e.ApplyYAML(t.Context(), name+".yaml", doc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitReady(t.Context(), ns, name, since, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// change patches the RedisCluster and returns when the patch was sent.
func (e *env) change(t testing.TB, name string, edit func(*redisv1alpha1.RedisCluster)) time.Time {
	t.Helper()
	rc, err := e.RedisCluster(t.Context(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(rc.DeepCopy())
	edit(rc)
	at := time.Now()
	if err := e.Client.Patch(t.Context(), rc, patch); err != nil {
		t.Fatalf("patch %s: %v", name, err)
	}
	return at
}

// addrs returns the Redis addresses of the cluster's running pods.
func (e *env) addrs(t testing.TB, name string) []string {
	t.Helper()
	pods, err := e.LivePods(t.Context(), ns, resources.LabelInstance+"="+name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range pods {
		if a := harness.RedisAddr(&pods[i]); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// verify stops the writer, fails t naming the seed when an acknowledged
// write is lost, checks every node agrees (redis-cli --cluster check) and
// returns the writer's result.
func (e *env) verify(t testing.TB, name string, w *writeload.Writer, prefix string, seed uint64) writeload.Result {
	t.Helper()
	res := w.Stop()
	addrs := e.addrs(t, name)
	lost, err := writeload.Lost(t.Context(), addrs, prefix, res.Acked)
	if err != nil {
		t.Fatalf("read the acknowledged writes back: %v", err)
	}
	if len(lost) > 0 {
		t.Errorf("seed %d: %d of %d acknowledged writes lost (first: %+v); rerun with REDKUBE_CHAOS_SEEDS=%d", seed, len(lost), len(res.Acked), lost[0], seed)
	}
	// Ready says every slot is served; the nodes' views of each other's
	// epochs may still be converging by gossip a moment after a heal, so
	// the referee is asked again for a while before its answer counts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = nil
		for _, a := range addrs {
			if err = harness.ClusterCheck(t.Context(), a); err != nil {
				break
			}
		}
		if err == nil || time.Now().After(deadline) || t.Context().Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("seed %d: after 30 s: %v", seed, err)
	}
	return res
}

// seeds returns REDKUBE_CHAOS_SEEDS (comma-separated), else
// REDKUBE_CHAOS_RUNS (default 1) random seeds.
func seeds(t testing.TB) []uint64 {
	t.Helper()
	if s := os.Getenv("REDKUBE_CHAOS_SEEDS"); s != "" {
		var out []uint64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("REDKUBE_CHAOS_SEEDS: %v", err)
			}
			out = append(out, n)
		}
		return out
	}
	out := make([]uint64, positiveEnv(t, "REDKUBE_CHAOS_RUNS", 1))
	for i := range out {
		out[i] = rand.Uint64() % 1_000_000
	}
	return out
}

// positiveEnv is the environment variable name as a positive number, def
// when unset; anything else fails t.
func positiveEnv(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// long skips t unless REDKUBE_CHAOS_RUNS is set (make chaos).
func long(t testing.TB) {
	t.Helper()
	if os.Getenv("REDKUBE_CHAOS_RUNS") == "" && os.Getenv("REDKUBE_CHAOS_SEEDS") == "" {
		t.Skip("long scenario: run by make chaos (REDKUBE_CHAOS_RUNS)")
	}
}

// ready reports whether the RedisCluster is Ready for its generation and
// became so after since.
func (e *env) ready(ctx context.Context, name string, since time.Time) bool {
	_, err := e.Ready(ctx, ns, name, since)
	return err == nil
}
