package chaos

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// TestTwoOfThreeMastersNodesStopped stops, at once, the Kubernetes nodes
// of two of the three masters (their pods killed, their addresses gone):
// the one master left cannot win an election for them, so Redis alone
// leaves their slots unserved. A shard whose replica survives is served
// again by that replica (the operator's TAKEOVER, on the evidence that the
// master's address is gone); when the nodes come back every pod rejoins
// and the cluster is Ready with every key written more than a second
// before the stop. The operator acts once Kubernetes reports the nodes
// NotReady (node-monitor-grace-period, 40 s by default) and the masters'
// addresses show no process: unreachable, with the surviving replica's
// link to its master closed (repl-timeout, 60 s by default).
func TestTwoOfThreeMastersNodesStopped(t *testing.T) {
	long(t) // about 2 minutes, most of it Redis's and Kubernetes's own timeouts
	e := startEnv(t)
	const name = "chaos-majority"
	e.create(t, name, 3)
	rc, err := e.RedisCluster(t.Context(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := map[string]string{}
	var pods corev1.PodList
	if err := e.Client.List(t.Context(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		nodeOf[p.Name] = p.Spec.NodeName
	}
	// The nodes of two masters, chosen so that a replica of one of them
	// lives on the third node and survives.
	var stop []string
	var survivor topology.NodeID
	var survivorAddr string
	for _, a := range rc.Status.Shards {
		if len(a.Replicas) == 0 || stop != nil {
			continue
		}
		m, x := nodeOf[a.MasterPod], nodeOf[a.Replicas[0].Pod]
		for _, b := range rc.Status.Shards {
			if o := nodeOf[b.MasterPod]; o != m && o != x && o != "" {
				stop = []string{m, o}
				survivor = topology.NodeID(a.Replicas[0].NodeID)
				for i := range pods.Items {
					if pods.Items[i].Name == a.Replicas[0].Pod {
						survivorAddr = harness.RedisAddr(&pods.Items[i])
					}
				}
				break
			}
		}
	}
	if stop == nil || survivorAddr == "" {
		t.Fatalf("no two masters' nodes leaving a replica of one of them up: %+v", rc.Status.Shards)
	}
	const prefix = "majority"
	w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
	time.Sleep(2 * time.Second)
	safe, _ := w.Progress()
	time.Sleep(time.Second)
	stopped := time.Now()
	for _, n := range stop {
		if err := e.Cluster.StopNode(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	restarted := false
	restart := func() {
		if restarted {
			return
		}
		restarted = true
		for _, n := range stop {
			if err := e.Cluster.StartNode(t.Context(), n); err != nil {
				t.Error(err)
			}
		}
	}
	defer restart()
	var served time.Duration
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := harness.ClusterView(t.Context(), survivorAddr)
		if err == nil {
			if me := v.Myself(); me != nil && me.IsMaster() && !me.Slots.IsEmpty() {
				served = time.Since(stopped)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s (%s) does not serve its shard 2 minutes after nodes %v stopped: %v", survivor, survivorAddr, stop, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	restart()
	back := time.Now()
	if _, err := e.WaitReady(t.Context(), ns, name, back, 5*time.Minute); err != nil {
		t.Fatalf("not Ready after the nodes came back: %v", err)
	}
	ready := time.Since(back)
	res := w.Stop()
	lost, err := writeload.Lost(t.Context(), e.addrs(t, name), prefix, res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	before, window := splitLost(lost, res.Acked, safe)
	t.Logf("matrix: nodes %v (two of three masters) stopped | the surviving replica serves its shard after %v | worst gap %v, %d write errors | acknowledged writes lost: %d in the last second before the stop or after, %d acknowledged earlier | Ready %v after the nodes came back",
		stop, served.Round(100*time.Millisecond), res.WorstGap.Round(time.Millisecond), res.Errors, window, before, ready.Round(100*time.Millisecond))
	if before > 0 {
		t.Errorf("%d writes acknowledged more than a second before the stop were lost", before)
	}
	for _, a := range e.addrs(t, name) {
		if err := harness.ClusterCheck(t.Context(), a); err != nil {
			t.Error(fmt.Errorf("after the nodes came back: %w", err))
			break
		}
	}
}
