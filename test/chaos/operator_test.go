package chaos

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/writeload"
)

// Scenario 1 of issue 13: the manager is SIGKILLed at random moments
// while it scales out 3 → 5, rolls a config change and scales in 5 → 3,
// under a writer. Each kill lands wherever it lands — mid-migration,
// between a failover and the pod's deletion, between a StatefulSet's
// write and its status — and the next manager must carry on from what it
// observes.
func TestManagerKilledAtRandomMomentsDuringTopologyChanges(t *testing.T) {
	e := startEnv(t)
	const name = "chaos"
	e.create(t, name, 3)
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			prefix := fmt.Sprintf("kill%d", seed)
			w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
			steps := []struct {
				what string
				edit func(*redisv1alpha1.RedisCluster)
			}{
				{"scale out 3 -> 5", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Masters = 5 }},
				{"rolling update (config)", func(rc *redisv1alpha1.RedisCluster) {
					if rc.Spec.Config == nil {
						rc.Spec.Config = redisv1alpha1.RedisConfig{}
					}
					policy := redisv1alpha1.ConfigValue("allkeys-lru")
					if rc.Spec.Config["maxmemory-policy"] == policy {
						policy = "noeviction"
					}
					rc.Spec.Config["maxmemory-policy"] = policy
				}},
				{"scale in 5 -> 3", func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Masters = 3 }},
			}
			for _, s := range steps {
				mark := e.change(t, name, s.edit)
				kills := e.killUntilReady(t, name, mark, rng, seed)
				t.Logf("seed %d, %s: manager killed at %v after the change; Ready after %v", seed, s.what, kills, time.Since(mark).Round(time.Millisecond))
			}
			res := e.verify(t, name, w, prefix, seed)
			t.Logf("measured: seed %d: %d writes acknowledged, %d write errors (first: %v), worst gap %v",
				seed, len(res.Acked), res.Errors, res.FirstErr, res.WorstGap)
		})
	}
}

// killUntilReady kills the manager at random moments, 0.2–3 s apart and
// at most four times, restarting it each time, until the change made at
// since is Ready; then waits for Ready. It returns when each kill came.
func (e *env) killUntilReady(t *testing.T, name string, since time.Time, rng *rand.Rand, seed uint64) []time.Duration {
	t.Helper()
	var kills []time.Duration
	for len(kills) < 4 {
		time.Sleep(time.Duration(200+rng.IntN(2800)) * time.Millisecond)
		if e.ready(t.Context(), name, since) {
			break
		}
		e.killManager(t)
		kills = append(kills, time.Since(since).Round(time.Millisecond))
		e.startManager(t)
	}
	if _, err := e.WaitReady(t.Context(), ns, name, since, 5*time.Minute); err != nil {
		t.Fatalf("seed %d: not Ready after the manager was killed at %v: %v; rerun with REDKUBE_CHAOS_SEEDS=%d", seed, kills, err, seed)
	}
	return kills
}

// Scenario 7 of issue 13: every pod is deleted while slots move onto a new
// shard; the pods come back with new IPs and the same node IDs, the
// resharding finishes, nothing acknowledged is lost.
func TestAllPodsDeletedWhileSlotsMove(t *testing.T) {
	long(t)
	e := startEnv(t)
	const name = "chaos-wipe"
	e.create(t, name, 3)
	const prefix = "wipe"
	w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
	mark := e.change(t, name, func(rc *redisv1alpha1.RedisCluster) { rc.Spec.Masters = 4 })
	deadline := time.Now().Add(3 * time.Minute)
	for {
		rc, err := e.RedisCluster(t.Context(), ns, name)
		if err != nil {
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
	pods, err := e.LivePods(t.Context(), ns, resources.LabelInstance+"="+name)
	if err != nil {
		t.Fatal(err)
	}
	wiped := time.Now()
	for _, p := range pods {
		if err := e.DeletePod(t.Context(), ns, p.Name, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.WaitReady(t.Context(), ns, name, mark, 5*time.Minute); err != nil {
		t.Fatalf("not Ready after every pod was deleted mid-resharding: %v", err)
	}
	t.Logf("timing: %d pods deleted mid-resharding -> Ready with 4 shards: %v", len(pods), time.Since(wiped).Round(time.Millisecond))
	res := e.verify(t, name, w, prefix, 0)
	t.Logf("measured: all pods deleted while slots move: %d writes acknowledged, %d write errors (first: %v), worst gap %v",
		len(res.Acked), res.Errors, res.FirstErr, res.WorstGap)
}
