package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// restartKeys is the size of the data set written before the writer
// starts, read back after the restart ("keys lost").
const restartKeys = 5000

// TestWholeClusterRestartedOnItsState stops the whole local Kubernetes
// (every pod's processes killed at once, then the node agent, etcd, the
// API server, the controller manager and the scheduler) under a writer and
// starts it again on the same state and volumes. The manager is killed
// before and started after (it is a host process whose API server goes
// away). Every pod comes back at a new IP with the node ID of its
// nodes.conf, the operator introduces the nodes at their new addresses,
// the cluster is Ready again, and no acknowledged write and no key of the
// data set is lost. Writes during the outage fail: their errors and the
// worst gap are reported.
func TestWholeClusterRestartedOnItsState(t *testing.T) {
	e := startEnv(t)
	const name = "chaos-restart"
	e.create(t, name, 3)

	before := e.nodeIDs(t, name)
	if len(before) != 6 {
		t.Fatalf("%d pods with a node ID, want 6", len(before))
	}
	dataset := make([]int, restartKeys)
	for i := range dataset {
		dataset[i] = i
	}
	if err := writeDataset(t.Context(), e.addrs(t, name), "restart-data", restartKeys); err != nil {
		t.Fatal(err)
	}

	// The writer reaches the pods through a dialer that follows each old
	// address to its pod's current one: every seed and every address the
	// client learnt changes with the restart.
	dial := e.podDialer(before)
	const prefix = "restart"
	w := writeload.StartDialing(t.Context(), e.addrs(t, name), prefix, dial.dial)
	time.Sleep(3 * time.Second)
	e.killManager(t)
	stopped := time.Now()
	if err := e.RestartCluster(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	e.startManager(t)
	t.Logf("local cluster stopped and started again in %v", back.Sub(stopped).Round(100*time.Millisecond))

	// Ready again: every pod at a new address with its old node ID, every
	// node agreeing (redis-cli --cluster check), and the RedisCluster Ready.
	var after map[string]podNode
	err := harness.Wait(t.Context(), 5*time.Minute, 200*time.Millisecond, "the cluster back at new addresses and Ready", func(ctx context.Context) error {
		got, err := e.nodeIDsErr(ctx, name)
		if err != nil {
			return err
		}
		for pod, b := range before {
			a, ok := got[pod]
			if !ok || a.ip == b.ip {
				return fmt.Errorf("pod %s not back at a new address yet", pod)
			}
		}
		for _, a := range got {
			if err := harness.ClusterCheck(ctx, net.JoinHostPort(a.ip, harness.RedisPort)); err != nil {
				return err
			}
		}
		if _, err := e.Ready(ctx, ns, name, time.Time{}); err != nil {
			return err
		}
		after = got
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Since(back)
	for pod, b := range before {
		a := after[pod]
		if a.id != b.id {
			t.Errorf("pod %s has node ID %s after the restart, had %s", pod, a.id, b.id)
		}
		t.Logf("pod %s: node %s, %s -> %s", pod, a.id[:8], b.ip, a.ip)
	}
	// Some writes must go through after the restart, through new addresses.
	progress, _ := w.Progress()
	if err := harness.Wait(t.Context(), time.Minute, 100*time.Millisecond, "writes acknowledged after the restart", func(context.Context) error {
		if n, _ := w.Progress(); n < progress+100 {
			return errors.New("the writer makes no progress")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	res := w.Stop()
	lostAcked, err := writeload.Lost(t.Context(), e.addrs(t, name), prefix, res.Acked)
	if err != nil {
		t.Fatalf("read the acknowledged writes back: %v", err)
	}
	if len(lostAcked) > 0 {
		t.Errorf("%d of %d acknowledged writes lost (first: %+v)", len(lostAcked), len(res.Acked), lostAcked[0])
	}
	lostKeys, err := writeload.Lost(t.Context(), e.addrs(t, name), "restart-data", dataset)
	if err != nil {
		t.Fatalf("read the data set back: %v", err)
	}
	if len(lostKeys) > 0 {
		t.Errorf("%d of %d keys of the data set lost (first: %+v)", len(lostKeys), restartKeys, lostKeys[0])
	}
	rc, err := e.RedisCluster(t.Context(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	flipped := "Ready stayed True in the status throughout"
	if c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionReady)); c != nil && c.LastTransitionTime.After(stopped) {
		flipped = "Ready went False and back"
	}
	t.Logf("matrix: whole local Kubernetes (etcd, API server, controllers, scheduler, node agent, all 6 pods SIGKILLed) stopped and started on its state, 3x1 | worst gap %v, %d write errors in %d writes | acknowledged writes lost: %d | keys lost: %d of %d | restart took %v; Ready %v after the cluster was back (%s)",
		res.WorstGap.Round(time.Millisecond), res.Errors, len(res.Acked)+res.Errors, len(lostAcked), len(lostKeys), restartKeys,
		back.Sub(stopped).Round(100*time.Millisecond), ready.Round(100*time.Millisecond), flipped)
}

// podNode is a pod's address and its Redis node ID.
type podNode struct{ ip, id string }

// nodeIDs returns, per pod of the cluster, its IP and CLUSTER MYID.
func (e *env) nodeIDs(t testing.TB, name string) map[string]podNode {
	t.Helper()
	m, err := e.nodeIDsErr(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) nodeIDsErr(ctx context.Context, name string) (map[string]podNode, error) {
	pods, err := e.LivePods(ctx, ns, resources.LabelInstance+"="+name)
	if err != nil {
		return nil, err
	}
	out := map[string]podNode{}
	for i := range pods {
		addr := harness.RedisAddr(&pods[i])
		if addr == "" || !harness.PodReady(&pods[i]) {
			return nil, fmt.Errorf("pod %s not Ready", pods[i].Name)
		}
		rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
		id, err := rdb.ClusterMyID(ctx).Result()
		_ = rdb.Close()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER MYID on %s (%s): %w", pods[i].Name, addr, err)
		}
		out[pods[i].Name] = podNode{ip: pods[i].Status.PodIP, id: id}
	}
	return out, nil
}

// writeDataset writes keys <prefix>:0 … <prefix>:n-1 through a cluster
// client, in pipelines.
func writeDataset(ctx context.Context, addrs []string, prefix string, n int) error {
	cc := writeload.NewClient(addrs, nil)
	defer func() { _ = cc.Close() }()
	for start := 0; start < n; start += 500 {
		pipe := cc.Pipeline()
		for i := start; i < min(start+500, n); i++ {
			pipe.Set(ctx, writeload.Key(prefix, i), strconv.Itoa(i), 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("write the data set: %w", err)
		}
	}
	return nil
}

// podDialer dials the current address of the pod that had an old address,
// and any other address as it is.
type podDialer struct {
	e     *env
	byOld map[string]string // old IP -> pod name
	mu    sync.Mutex
}

func (e *env) podDialer(before map[string]podNode) *podDialer {
	d := &podDialer{e: e, byOld: map[string]string{}}
	for pod, n := range before {
		d.byOld[n.ip] = pod
	}
	return d
}

func (d *podDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	d.mu.Lock()
	pod, ok := d.byOld[host]
	d.mu.Unlock()
	if ok {
		p, err := d.e.Clientset.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("dial %s: find pod %s: %w", addr, pod, err)
		}
		if p.Status.PodIP != "" {
			addr = net.JoinHostPort(p.Status.PodIP, port)
		}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}
