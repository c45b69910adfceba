package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// opEnv is a local cluster with the node agent, the cluster DNS and
// kube-proxy, and the operator installed with its Helm chart
// (charts/redkube: two manager pods, one leader; test/harness).
type opEnv struct {
	*localkube.Cluster
	h  *harness.Env
	op *harness.Operator
	cl client.Client
}

// startOperatorEnv starts a three-node cluster on a pod network private to
// this test process, builds the manager and the exporter (the node agent
// runs the operator image as them) and installs the operator with its chart, as a user does
// (the CRD comes from the chart's crds/).
func startOperatorEnv(t *testing.T) *opEnv {
	t.Helper()
	return startOperatorEnvOn(t, "e2e-operator", harness.Network("rko", 246))
}

// startOperatorEnvOn is startOperatorEnv with a run name and a pod network
// of the test's choice.
func startOperatorEnvOn(t *testing.T, run string, network podnet.Config) *opEnv {
	t.Helper()
	if os.Getenv("REDKUBE_TOOLS_BIN") == "" {
		t.Skip("installs the operator with helm: set REDKUBE_TOOLS_BIN (hack/build-tools.sh's last line; make test sets it)")
	}
	bin := buildBinaries(t, "./cmd/manager", "./cmd/redkube-exporter", "./cmd/rcctl")
	h := startHarness(t, harness.Options{
		Name: run, Services: true, Binaries: bin,
		// Other local clusters on the machine (other tests) never share it.
		Network: network,
	}, "redis-server", "redis-cli")
	chart, err := filepath.Abs("../../charts/redkube")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	op, err := h.InstallOperator(t.Context(), harness.ChartOptions{Chart: chart})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: helm install -> operator Deployment available and a leader: %v", time.Since(began))
	// Registered after the harness's cleanup, so it runs before the
	// operator is stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- operator log (last lines)\n%s", op.LogTail(80))
		}
	})
	return &opEnv{Cluster: h.Cluster, h: h, op: op, cl: h.Client}
}

// logMark returns the operator log's current end, for logActions.
func (e *opEnv) logMark() harness.LogMark { return e.op.LogMark() }

// logActions logs the topology actions and probes the operator logged
// since mark: what it did about a disruption.
func (e *opEnv) logActions(t *testing.T, mark harness.LogMark, at *time.Time) {
	t.Helper()
	text, err := e.op.LogSince(mark)
	if err != nil {
		t.Logf("operator actions after the disruption: %v", err)
		return
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if line, ok := actionLine(l); ok {
			lines = append(lines, line)
		}
	}
	t.Logf("operator actions after the disruption at %s:\n%s", at.UTC().Format("15:04:05.000"), strings.Join(lines, "\n"))
}

// actionLine shortens a manager log line (JSON from a manager pod, slog
// text from one in this process) about a topology action or a probe.
func actionLine(l string) (string, bool) {
	var rec map[string]any
	if json.Unmarshal([]byte(l), &rec) == nil {
		msg, _ := rec["msg"].(string)
		if msg != "topology action" && msg != "probed silent master" {
			return "", false
		}
		at, _ := rec["time"].(string)
		delete(rec, "time")
		delete(rec, "level")
		rest, _ := json.Marshal(rec)
		return at + " " + string(rest), true
	}
	if i := strings.Index(l, `msg="topology action"`); i >= 0 {
		if j := strings.Index(l, "action="); j >= 0 && len(l) > len("time=")+23 {
			return l[len("time="):len("time=")+23] + " " + l[j:], true
		}
	}
	if strings.Contains(l, `msg="probed silent master"`) {
		return l, true
	}
	return "", false
}

// waitMastersSpread waits (2 minutes at most) until the RedisCluster name
// is Ready with one master per node, as the operator's master-spread rule
// leaves it after failovers, and returns it and its pods.
func (e *opEnv) waitMastersSpread(t *testing.T, name string) (*redisv1alpha1.RedisCluster, map[string]corev1.Pod) {
	t.Helper()
	var rc *redisv1alpha1.RedisCluster
	var pods map[string]corev1.Pod
	opWait(t, 2*time.Minute, "one master per node", func(ctx context.Context) error {
		var err error
		if rc, err = e.get(ctx, name); err != nil {
			return err
		}
		if pods, err = e.pods(ctx, name); err != nil {
			return err
		}
		hosts := map[string]string{}
		for _, sh := range rc.Status.Shards {
			h := pods[sh.MasterPod].Spec.NodeName
			if other, dup := hosts[h]; dup || h == "" {
				return fmt.Errorf("masters %s and %s share node %q", other, sh.MasterPod, h)
			}
			hosts[h] = sh.MasterPod
		}
		if !meta.IsStatusConditionTrue(rc.Status.Conditions, string(redisv1alpha1.ConditionReady)) {
			return errors.New("not Ready")
		}
		return nil
	})
	return rc, pods
}

// kubectl runs the cluster's kubectl.
func (e *opEnv) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return kubectlT(t, e.h, args...)
}

// opWait retries try every 100 ms until it returns nil or d has gone by.
func opWait(t *testing.T, d time.Duration, what string, try func(ctx context.Context) error) {
	t.Helper()
	waitT(t, d, 100*time.Millisecond, what, try)
}

// get reads the RedisCluster.
func (e *opEnv) get(ctx context.Context, name string) (*redisv1alpha1.RedisCluster, error) {
	return e.h.RedisCluster(ctx, opNS, name)
}

// create creates rc and deletes it and its claims when the test ends; it
// returns the moment just before the create, for waitReady.
func (e *opEnv) create(ctx context.Context, t *testing.T, rc *redisv1alpha1.RedisCluster) time.Time {
	t.Helper()
	applied := time.Now()
	if err := e.cl.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.kubectl(t, "delete", "rediscluster", rc.Name, "--ignore-not-found", "--wait=false")
		e.kubectl(t, "delete", "pvc", "-l", resources.LabelInstance+"="+rc.Name, "--wait=false")
	})
	return applied
}

// waitReady waits, like `kubectl wait --for=condition=Ready`, until the
// RedisCluster's Ready condition is True for its current generation and
// became True at or after since (so a Ready left over from before a
// disruption does not count). It returns the cluster.
func (e *opEnv) waitReady(t *testing.T, name string, since time.Time, d time.Duration) *redisv1alpha1.RedisCluster {
	t.Helper()
	rc, err := e.h.WaitReady(t.Context(), opNS, name, since, d)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// pods returns the RedisCluster's pods that are not being deleted, by name.
func (e *opEnv) pods(ctx context.Context, name string) (map[string]corev1.Pod, error) {
	list, err := e.h.LivePods(ctx, opNS, resources.LabelInstance+"="+name)
	if err != nil {
		return nil, err
	}
	out := map[string]corev1.Pod{}
	for _, p := range list {
		out[p.Name] = p
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
		if a := harness.RedisAddr(&p); a != "" {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// referee runs `redis-cli --cluster check` against addr as an outside
// referee: every slot covered, no error, no warning.
func referee(t *testing.T, addr string) {
	t.Helper()
	opWait(t, 30*time.Second, "redis-cli --cluster check "+addr, func(ctx context.Context) error {
		return harness.ClusterCheck(ctx, addr)
	})
}

// slotOwners returns, from addr's CLUSTER NODES, each master's slots.
func slotOwners(ctx context.Context, addr string) (map[topology.NodeID]string, error) {
	v, err := harness.ClusterView(ctx, addr)
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
func clusterClient(addrs []string) *redis.ClusterClient { return writeload.NewClient(addrs, nil) }

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
	v, err := harness.ClusterView(t.Context(), addr)
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

// testReplicaCounts changes spec.replicasPerMaster 1 → 2 → 0 → 1 under a
// writer: each step is Ready with every shard holding that many replicas in
// sync, every node knowing exactly the pods that exist, no master beyond
// the new count; and no acknowledged write is lost.
func testReplicaCounts(t *testing.T, e *opEnv, name string) {
	setReplicas := func(n int32) time.Time {
		t.Helper()
		cur, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.ReplicasPerMaster = n
		at := time.Now()
		if err := e.cl.Patch(t.Context(), cur, patch); err != nil {
			t.Fatalf("set spec.replicasPerMaster to %d: %v", n, err)
		}
		return at
	}
	var mark time.Time
	defer e.logActions(t, e.logMark(), &mark)
	w := startWriter(e.addrs(t, name), "replicas")
	time.Sleep(time.Second)
	for _, n := range []int32{2, 0, 1} {
		before, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		var beyond []string
		for _, sh := range before.Status.Shards {
			if _, ord, ok := resources.ParsePodName(before, sh.MasterPod); ok && int32(ord) > n {
				beyond = append(beyond, sh.MasterPod)
			}
		}
		if n == 0 && len(beyond) == 0 {
			// The spec changes right after: the operator's next pass sees
			// the new count and a master beyond it together (it would
			// otherwise move the role back to spread masters over nodes).
			beyond = []string{promoteLastOrdinal(t, e, name, before)}
		}
		mark = setReplicas(n)
		out := e.waitReady(t, name, mark, 4*time.Minute)
		t.Logf("timing: replicasPerMaster -> %d -> Ready: %v (masters beyond the new count before: %v)", n, time.Since(mark), beyond)
		want := 3 * (1 + int(n))
		addrs := e.addrs(t, name)
		if len(addrs) != want {
			t.Fatalf("replicasPerMaster %d: %d pods answer, want %d", n, len(addrs), want)
		}
		for _, a := range addrs {
			if k := len(clusterView(t, a).Nodes); k != want {
				t.Errorf("replicasPerMaster %d: %s knows %d nodes, want %d:\n%s", n, a, k, want, clusterView(t, a))
			}
		}
		for _, sh := range out.Status.Shards {
			if _, ord, ok := resources.ParsePodName(out, sh.MasterPod); !ok || int32(ord) > n {
				t.Errorf("replicasPerMaster %d: shard %d's master is %q", n, sh.Index, sh.MasterPod)
			}
			if len(sh.Replicas) != int(n) {
				t.Errorf("replicasPerMaster %d: shard %d has replicas %+v", n, sh.Index, sh.Replicas)
			}
			for _, r := range sh.Replicas {
				if !r.InSync {
					t.Errorf("replicasPerMaster %d: Ready with replica %s not in sync", n, r.Pod)
				}
			}
		}
		for _, m := range beyond {
			wantEvent(t, e, name, heal.Failover.EventReason(), "pod "+m+" is beyond spec.replicasPerMaster")
		}
		// The claims of removed replicas go with them (whenScaled: Delete).
		opWait(t, time.Minute, fmt.Sprintf("%d claims", want), func(ctx context.Context) error {
			claims := &corev1.PersistentVolumeClaimList{}
			if err := e.cl.List(ctx, claims, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
				return err
			}
			if n := len(claims.Items); n != want {
				return fmt.Errorf("%d claims", n)
			}
			return nil
		})
		referee(t, addrs[0])
	}
	time.Sleep(500 * time.Millisecond)
	res := w.finish()
	lost := lostWrites(t, e.addrs(t, name), "replicas", res.acked)
	t.Logf("measured: replicasPerMaster 1 -> 2 -> 0 -> 1 under a writer: %d writes acknowledged, %d write errors (first: %v), worst gap %v, %d acknowledged writes lost",
		len(res.acked), res.errs, res.firstErr, res.worstGap, lost)
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost while changing the replica count", lost)
	}
}

// keyInSlot returns a key that hashes to slot.
func keyInSlot(slot int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("slotkey:%d", i); topology.KeySlot(k) == slot {
			return k
		}
	}
}

// promoteLastOrdinal makes shard 0's highest pod its master (CLUSTER
// FAILOVER on it) and returns its name once the node reports itself
// master.
func promoteLastOrdinal(t *testing.T, e *opEnv, name string, rc *redisv1alpha1.RedisCluster) string {
	t.Helper()
	last := resources.PodName(rc, 0, int(rc.Spec.ReplicasPerMaster))
	pods, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pods[last]
	if !ok {
		t.Fatalf("pod %s not found", last)
	}
	addr := harness.RedisAddr(&p)
	redisDo(t, addr, "CLUSTER", "FAILOVER")
	opWait(t, time.Minute, last+" reports itself master", func(ctx context.Context) error {
		if self := clusterView(t, addr).Myself(); !self.IsMaster() {
			return fmt.Errorf("%s is %s", last, self.Flags)
		}
		return nil
	})
	return last
}
