package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/writeload"
)

// opEnv is a local cluster with the node agent and the operator running
// in this test process (it reaches the pod IPs through the bridge, as the
// manager does when run from the host).
type opEnv struct {
	*localkube.Cluster
	cl      client.Client
	logFile string
}

// startOperatorEnv starts a three-node cluster, installs the CRD and runs
// the operator's manager until the test ends.
func startOperatorEnv(t *testing.T) *opEnv {
	t.Helper()
	for _, cmd := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("the operator e2e tests need %s: %v", cmd, err)
		}
	}
	began := time.Now()
	c := localkubetest.Start(t, localkube.Options{
		Nodes: 3,
		NodeAgent: func(ctx context.Context, e localkube.AgentEnv) (localkube.NodeAgent, error) {
			return nodeagent.New(nodeagent.Config{
				Nodes: e.Nodes, NodeConfigs: e.NodeConfigs, Admin: e.Admin, StateDir: e.StateDir,
				Network: operatorNetwork(), DeleteBridgeOnExit: true, Logger: e.Logger,
			})
		},
	})
	t.Logf("timing: local cluster start %v", time.Since(began))
	e := &opEnv{Cluster: c}
	// The operator and the test poll the API server often; client-go's
	// default of 5 requests/s would throttle both.
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 200, 400
	redis.SetLogger(quietRedisLog{})

	crd, err := filepath.Abs("../../config/crd/bases")
	if err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "apply", "--server-side", "-f", crd)
	e.kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/redisclusters.redis.redkube.io")

	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	e.cl, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// The operator logs to a file, printed when the test fails.
	e.logFile = filepath.Join(t.TempDir(), "operator.log")
	f, err := os.Create(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	h := slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})
	ctrl.SetLogger(logr.FromSlogHandler(h))
	mgr, err := controller.NewManager(cfg, controller.ManagerOptions{
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", Logger: slog.New(h),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			if _, werr := fmt.Fprintf(f, "manager stopped: %v\n", err); werr != nil {
				t.Errorf("manager stopped: %v (writing it to %s: %v)", err, e.logFile, werr)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(e.logFile)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			t.Logf("--- operator log (last lines)\n%s", strings.Join(lines, "\n"))
		}
	})
	return e
}

// operatorNetwork is a pod bridge and /24 private to this test process, so
// that other local clusters on the machine (other tests) never share it.
func operatorNetwork() podnet.Config {
	return podnet.Config{
		Bridge:   fmt.Sprintf("rko%d", os.Getpid()%100000),
		CIDR:     netip.MustParsePrefix(fmt.Sprintf("10.246.%d.0/24", os.Getpid()%200+20)),
		NetnsDir: podnet.DefaultNetnsDir,
	}
}

// quietRedisLog drops go-redis's own dial-retry logs (the writer counts errors).
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// logMark returns the operator log's current size, for logActions.
func (e *opEnv) logMark() int64 {
	fi, err := os.Stat(e.logFile)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logActions logs the topology actions and probes the operator logged
// since mark: what it did about a disruption.
func (e *opEnv) logActions(t *testing.T, mark int64, at *time.Time) {
	t.Helper()
	b, err := os.ReadFile(e.logFile)
	if err != nil || int64(len(b)) < mark {
		return
	}
	var lines []string
	for _, l := range strings.Split(string(b[mark:]), "\n") {
		if i := strings.Index(l, `msg="topology action"`); i >= 0 {
			if j := strings.Index(l, "action="); j >= 0 {
				lines = append(lines, l[len("time="):len("time=")+23]+" "+l[j:])
			}
		} else if strings.Contains(l, `msg="probed silent master"`) {
			lines = append(lines, l)
		}
	}
	t.Logf("operator actions after the disruption at %s:\n%s", at.UTC().Format("15:04:05.000"), strings.Join(lines, "\n"))
}

// kubectl runs the cluster's kubectl.
func (e *opEnv) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig", e.Kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// opWait retries try every 100 ms until it returns nil or d has gone by.
func opWait(t *testing.T, d time.Duration, what string, try func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		err := try(actx)
		acancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v: %v", what, d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get reads the RedisCluster.
func (e *opEnv) get(ctx context.Context, name string) (*redisv1alpha1.RedisCluster, error) {
	rc := &redisv1alpha1.RedisCluster{}
	err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: name}, rc)
	return rc, err
}

// waitReady waits, like `kubectl wait --for=condition=Ready`, until the
// RedisCluster's Ready condition is True for its current generation and
// became True at or after since (so a Ready left over from before a
// disruption does not count). It returns the cluster.
func (e *opEnv) waitReady(t *testing.T, name string, since time.Time, d time.Duration) *redisv1alpha1.RedisCluster {
	t.Helper()
	var rc *redisv1alpha1.RedisCluster
	opWait(t, d, "RedisCluster "+name+" Ready", func(ctx context.Context) error {
		var err error
		rc, err = e.get(ctx, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionReady))
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rc.Generation {
			return fmt.Errorf("Ready is %+v", c)
		}
		if c.LastTransitionTime.Time.Before(since.Truncate(time.Second)) {
			return fmt.Errorf("Ready since %v, before the disruption at %v", c.LastTransitionTime, since)
		}
		return nil
	})
	return rc
}

// pods returns the RedisCluster's pods that are not being deleted, by name.
func (e *opEnv) pods(ctx context.Context, name string) (map[string]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := e.cl.List(ctx, list, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
		return nil, err
	}
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out, nil
}

// addrs returns the Redis addresses of the RedisCluster's running pods.
func (e *opEnv) addrs(t *testing.T, name string) []string {
	t.Helper()
	pods, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods {
		if p.Status.PodIP != "" {
			out = append(out, net.JoinHostPort(p.Status.PodIP, "6379"))
		}
	}
	sort.Strings(out)
	return out
}

// referee runs `redis-cli --cluster check` against addr as an outside
// referee: every slot covered, no error, no warning.
func referee(t *testing.T, addr string) {
	t.Helper()
	var out []byte
	opWait(t, 30*time.Second, "redis-cli --cluster check "+addr, func(ctx context.Context) error {
		var err error
		out, err = exec.CommandContext(ctx, "redis-cli", "--cluster", "check", addr).CombinedOutput()
		s := string(out)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, s)
		}
		if !strings.Contains(s, "[OK] All 16384 slots covered") || strings.Contains(s, "[ERR]") || strings.Contains(s, "[WARNING]") {
			return fmt.Errorf("the check found problems:\n%s", s)
		}
		return nil
	})
}

// slotOwners returns, from addr's CLUSTER NODES, each master's slots.
func slotOwners(ctx context.Context, addr string) (map[topology.NodeID]string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer func() { _ = c.Close() }()
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		return nil, err
	}
	out := map[topology.NodeID]string{}
	for _, n := range v.Nodes {
		if n.IsMaster() && !n.Slots.IsEmpty() {
			out[n.ID] = n.Slots.String()
		}
	}
	return out, nil
}

// clusterClient returns a go-redis ClusterClient seeded with addrs, with
// the writers' settings.
func clusterClient(addrs []string) *redis.ClusterClient { return writeload.NewClient(addrs) }

// writer is a writeload.Writer writing keys <prefix>:<n> = n one after the
// other, as fast as the cluster acknowledges them.
type writer struct{ w *writeload.Writer }

// writeResult is what a writer saw (writeload.Result under the names the
// tests use).
type writeResult struct {
	acked    []int         // the n of every acknowledged write, in order
	errs     int           // writes that failed
	firstErr error         // the first failure, nil when none
	worstGap time.Duration // longest time between two acknowledgements
	gapAt    time.Time     // when that gap began
}

// startWriter starts a writer on a client seeded with addrs.
func startWriter(addrs []string, prefix string) *writer {
	return &writer{w: writeload.Start(context.Background(), addrs, prefix)}
}

// finish stops the writer and returns what it saw.
func (w *writer) finish() writeResult {
	r := w.w.Stop()
	return writeResult{acked: r.Acked, errs: r.Errors, firstErr: r.FirstErr, worstGap: r.WorstGap, gapAt: r.GapStart}
}

// lostWrites reads every acknowledged key back and returns how many are
// missing or wrong, naming the first five as test errors.
func lostWrites(t *testing.T, addrs []string, prefix string, acked []int) int {
	t.Helper()
	lost, err := writeload.Lost(t.Context(), addrs, prefix, acked)
	if err != nil {
		t.Fatalf("read back the acknowledged writes: %v", err)
	}
	for _, l := range lost[:min(5, len(lost))] {
		t.Errorf("acknowledged write %s reads back %q, want %d", writeload.Key(prefix, l.N), l.Found, l.N)
	}
	return len(lost)
}

// clusterView returns addr's CLUSTER NODES, parsed.
func clusterView(t *testing.T, addr string) *topology.View {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	text, err := c.ClusterNodes(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// redisDo sends one command to the node at addr.
func redisDo(t *testing.T, addr string, args ...any) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	if err := c.Do(t.Context(), args...).Err(); err != nil {
		t.Fatalf("%v on %s: %v", args, addr, err)
	}
}

// shardsByID maps every node ID of v to the slot ranges of its shard (its
// own slots for a master, its master's for a replica).
func shardsByID(v *topology.View) map[topology.NodeID]string {
	out := map[topology.NodeID]string{}
	for _, n := range v.Nodes {
		m := n
		if n.IsReplica() {
			if m = v.Node(n.MasterID); m == nil {
				continue
			}
		}
		out[n.ID] = m.Slots.String()
	}
	return out
}

// dumpRedis logs every pod's CLUSTER NODES and replication state when the
// test failed, to tell what the cluster looked like.
func (e *opEnv) dumpRedis(t *testing.T, name string) {
	t.Helper()
	if !t.Failed() {
		return
	}
	for _, addr := range e.addrs(t, name) {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
		nodes, err1 := c.ClusterNodes(context.Background()).Result()
		repl, err2 := c.Info(context.Background(), "replication").Result()
		_ = c.Close()
		var keep []string
		for _, l := range strings.Split(repl, "\n") {
			if strings.HasPrefix(l, "role") || strings.HasPrefix(l, "master_") || strings.HasPrefix(l, "slave_repl_offset") {
				keep = append(keep, strings.TrimSpace(l))
			}
		}
		t.Logf("--- %s (%v %v)\n%s%s", addr, err1, err2, nodes, strings.Join(keep, " "))
	}
}
