package chaos

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// partitionFor is how long a pod stays cut off: more than twice the
// default cluster-node-timeout (5 s), so the majority fails it and, for a
// master, elects its replica.
const partitionFor = 12 * time.Second

// TestPartitionedPodsHealWithoutLosingWritesMadeBefore cuts a master's pod
// off the network for longer than cluster-node-timeout under a writer,
// then joins it again; then does the same to a replica. The majority
// promotes the master's replica; the old master comes back as a replica
// of it. Writes acknowledged in the last second before the cut may be lost
// (Redis replicates asynchronously: the known window); none acknowledged
// earlier may be.
func TestPartitionedPodsHealWithoutLosingWritesMadeBefore(t *testing.T) {
	e := startEnv(t)
	const name = "chaos-net"
	e.create(t, name, 3)
	for _, role := range []string{"master", "replica"} {
		t.Run(role, func(t *testing.T) {
			rc, err := e.RedisCluster(t.Context(), ns, name)
			if err != nil {
				t.Fatal(err)
			}
			victim := rc.Status.Shards[0].MasterPod
			if role == "replica" {
				victim = rc.Status.Shards[1].Replicas[0].Pod
			}
			pod := &corev1.Pod{}
			if err := e.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: victim}, pod); err != nil {
				t.Fatal(err)
			}
			prefix := "part-" + role
			w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
			time.Sleep(2 * time.Second)
			safe, _ := w.Progress() // acknowledged more than a second before the cut
			time.Sleep(time.Second)
			if err := e.Partition(pod, true); err != nil {
				t.Fatal(err)
			}
			healed := false
			heal := func() {
				if !healed {
					healed = true
					if err := e.Partition(pod, false); err != nil {
						t.Error(err)
					}
				}
			}
			defer heal()
			time.Sleep(partitionFor)
			heal()
			joined := time.Now()
			if _, err := e.WaitReady(t.Context(), ns, name, joined, 3*time.Minute); err != nil {
				t.Fatalf("not Ready after the %s's partition healed: %v", role, err)
			}
			ready := time.Since(joined)
			res := w.Stop()
			lost, err := writeload.Lost(t.Context(), e.addrs(t, name), prefix, res.Acked)
			if err != nil {
				t.Fatal(err)
			}
			before, window := splitLost(lost, res.Acked, safe)
			t.Logf("matrix: %s %s partitioned %v then healed | worst gap %v | %d write errors | acknowledged writes lost: %d in the last second before the cut or during it, %d acknowledged earlier | Ready %v after the heal",
				role, victim, partitionFor, res.WorstGap.Round(time.Millisecond), res.Errors, window, before, ready.Round(100*time.Millisecond))
			if before > 0 {
				t.Errorf("%d writes acknowledged more than a second before the partition were lost", before)
			}
			for _, a := range e.addrs(t, name) {
				if err := harness.ClusterCheck(t.Context(), a); err != nil {
					t.Error(err)
					break
				}
			}
			if role == "master" {
				now, err := e.RedisCluster(t.Context(), ns, name)
				if err != nil {
					t.Fatal(err)
				}
				if now.Status.Shards[0].MasterPod == victim {
					t.Logf("the partitioned master %s is master again after the heal (its replica was not promoted within %v)", victim, partitionFor)
				}
			}
		})
	}
}

// splitLost counts the lost writes among the first safe acknowledged ones
// (written well before the cut) and among the rest.
func splitLost(lost []writeload.Loss, acked []int, safe int) (before, after int) {
	if safe > len(acked) {
		safe = len(acked)
	}
	last := -1
	if safe > 0 {
		last = acked[safe-1]
	}
	for _, l := range lost {
		if l.N <= last {
			before++
		} else {
			after++
		}
	}
	return before, after
}

