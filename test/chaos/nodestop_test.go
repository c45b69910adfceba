package chaos

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/test/writeload"
)

// TestNodeStoppedDuringScaleOut stops a Kubernetes node (its pods killed,
// their network gone) while slots move onto a fourth shard under a writer,
// then starts it again: the shards that lost a master are served again by
// Redis's election (three of four masters remain), the resharding carries
// on from what Redis reports, and the cluster ends Ready with four shards
// and every write acknowledged more than a second before the stop.
func TestNodeStoppedDuringScaleOut(t *testing.T) {
	long(t)
	e := startEnv(t)
	const name = "chaos-scale-stop"
	e.create(t, name, 3)
	const prefix = "scalestop"
	w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
	mark := e.change(t, name, func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Masters = 4 })
	deadline := time.Now().Add(3 * time.Minute)
	var rc *redisv1alpha1.RedisCluster
	for {
		var err error
		if rc, err = e.RedisCluster(t.Context(), ns, name); err != nil {
			t.Fatal(err)
		}
		if rs := rc.Status.Resharding; rs != nil && rs.SlotsMoved > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot moved within 3 minutes: %+v", rc.Status.Resharding)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The node of shard 0's master: it is a migration source.
	pod := &corev1.Pod{}
	if err := e.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: rc.Status.Shards[0].MasterPod}, pod); err != nil {
		t.Fatal(err)
	}
	node := pod.Spec.NodeName
	safe, _ := w.Progress()
	time.Sleep(time.Second)
	stopped := time.Now()
	if err := e.Cluster.StopNode(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = e.Cluster.StartNode(t.Context(), node)
		}
	}()
	time.Sleep(20 * time.Second)
	restarted = true
	if err := e.Cluster.StartNode(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if _, err := e.WaitReady(t.Context(), ns, name, mark, 6*time.Minute); err != nil {
		t.Fatalf("not Ready with 4 shards after %s was stopped mid-resharding and started again: %v", node, err)
	}
	ready := time.Since(back)
	res := w.Stop()
	lost, err := writeload.Lost(t.Context(), e.addrs(t, name), prefix, res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	before, window := splitLost(lost, res.Acked, safe)
	final, err := e.RedisCluster(t.Context(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("matrix: %s stopped 20 s while slots moved onto a 4th shard | worst gap %v, %d write errors | acknowledged writes lost: %d in the last second before the stop or after, %d earlier | Ready with %d shards %v after the node came back (%v after the stop)",
		node, res.WorstGap.Round(time.Millisecond), res.Errors, window, before, len(final.Status.Shards), ready.Round(100*time.Millisecond), time.Since(stopped).Round(100*time.Millisecond))
	if before > 0 {
		t.Errorf("%d writes acknowledged more than a second before the stop were lost", before)
	}
	if len(final.Status.Shards) != 4 {
		t.Errorf("%d shards after the scale-out, want 4", len(final.Status.Shards))
	}
}
