package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/proc"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/writeload"
)

// opNS is the namespace of the operator tests' RedisClusters.
const opNS = "default"

// TestOperator runs the operator against real redis-server pods on one
// local cluster: create → Ready, a master pod deleted under a writer, all
// pods deleted at once, a node stopped, and a missing StorageClass. The
// subtests build on each other and share the cluster.
func TestOperator(t *testing.T) {
	e := startOperatorEnv(t)
	const name = "demo"

	// The storage test is independent of the others; it runs last.
	defer t.Run("a missing StorageClass shows as a condition and an event", func(t *testing.T) {
		testOperatorMissingStorageClass(t, e)
	})

	// Independent of the others; no Redis runs in it.
	defer t.Run("spec.storage.deleteClaimsWithCluster decides whether claims go with the cluster", func(t *testing.T) {
		testClaimRetention(t, e)
	})

	// Independent of the others; runs after the password test.
	defer t.Run("pod-level failures are named on the RedisCluster", func(t *testing.T) {
		testOperatorPodFailures(t, e)
	})

	// Independent of the others; runs after the password test.
	defer t.Run("with spec.announce Hostname, clients follow redirections by DNS names through a pod's IP change", func(t *testing.T) {
		testHostnames(t, e)
	})

	// Independent of the others.
	defer t.Run("TLS turned on for a running cluster under a writer: files mounted, nodes switched live, pods rolled, nothing lost", func(t *testing.T) {
		testTLSSwitch(t, e)
	})

	// Independent of the others; compares its writer with one on this
	// cluster when it is still Ready.
	defer t.Run("a TLS cluster serves only TLS and renews its certificate under a writer with no restart", func(t *testing.T) {
		testTLS(t, e, name)
	})

	// Independent of the others too; runs before the storage test.
	defer t.Run("a cluster with a password from a Secret works end to end", func(t *testing.T) {
		testOperatorPassword(t, e)
	})

	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			// A short node timeout keeps Redis's own failure detection (and
			// this test) short; the operator does not depend on it.
			Config:  map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage: redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
		},
	}
	applied := time.Now()
	if err := e.cl.Create(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	got := e.waitReady(t, name, applied, 3*time.Minute)
	t.Logf("timing: create -> Ready: %v", time.Since(applied))

	if !t.Run("create gives a Ready cluster the outside agrees with", func(t *testing.T) {
		addrs := e.addrs(t, name)
		if len(addrs) != 6 {
			t.Fatalf("%d pods answer, want 6", len(addrs))
		}
		referee(t, addrs[0])
		if got.Status.SlotsOK != 16384 || got.Status.ReadyNodes != 6 || len(got.Status.Shards) != 3 {
			t.Errorf("status slotsOK %d readyNodes %d shards %d", got.Status.SlotsOK, got.Status.ReadyNodes, len(got.Status.Shards))
		}
		for _, ct := range []redisv1alpha1.ConditionType{redisv1alpha1.ConditionSlotsCovered, redisv1alpha1.ConditionReplicasInSync, redisv1alpha1.ConditionReplicasPlaced, redisv1alpha1.ConditionStorageBound} {
			if !meta.IsStatusConditionTrue(got.Status.Conditions, string(ct)) {
				t.Errorf("condition %s is not True: %+v", ct, meta.FindStatusCondition(got.Status.Conditions, string(ct)))
			}
		}
		for _, sh := range got.Status.Shards {
			if len(sh.Replicas) != 1 || !sh.Replicas[0].InSync {
				t.Errorf("shard %d replicas %+v", sh.Index, sh.Replicas)
			}
			if want := resources.ShardName(rc, int(sh.Index)) + "-"; !strings.HasPrefix(sh.MasterPod, want) || !strings.HasPrefix(sh.Replicas[0].Pod, want) {
				t.Errorf("shard %d: master %s, replica %s: not both of StatefulSet %s", sh.Index, sh.MasterPod, sh.Replicas[0].Pod, strings.TrimSuffix(want, "-"))
			}
		}
		cc := clusterClient(addrs)
		defer func() { _ = cc.Close() }()
		for k := range 300 {
			if err := cc.Set(t.Context(), fmt.Sprintf("seed:%d", k), k, 0).Err(); err != nil {
				t.Fatalf("SET seed:%d: %v", k, err)
			}
		}
		for k := range 300 {
			if v, err := cc.Get(t.Context(), fmt.Sprintf("seed:%d", k)).Int(); err != nil || v != k {
				t.Fatalf("GET seed:%d = %d, %v", k, v, err)
			}
		}
	}) {
		t.FailNow()
	}

	t.Run("bad specs are refused at apply naming the field and change nothing", func(t *testing.T) {
		testBadSpecsChangeNothing(t, e, name)
	})

	t.Run("ACL users are applied live, rotated without an error, and removed", func(t *testing.T) {
		testUsers(t, e, name)
	})

	if !t.Run("deleting a master pod hands over without losing acknowledged writes", func(t *testing.T) {
		before, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		victim := before.Status.Shards[0].MasterPod
		var deleted time.Time
		defer e.logActions(t, e.logMark(), &deleted)
		w := startWriter(e.addrs(t, name), "graceful")
		time.Sleep(time.Second) // let the writer reach steady state
		deleted = time.Now()
		e.kubectl(t, "delete", "pod", victim, "--wait=false")
		e.waitReady(t, name, deleted, 2*time.Minute)
		t.Logf("timing: delete master pod %s -> Ready again: %v", victim, time.Since(deleted))
		time.Sleep(500 * time.Millisecond)
		res := w.finish()
		lost := lostWrites(t, e.addrs(t, name), "graceful", res.acked)
		t.Logf("measured: graceful delete of a master: %d writes acknowledged, %d write errors (first: %v), worst gap between acknowledgements %v starting %v after the delete, %d acknowledged writes lost",
			len(res.acked), res.errs, res.firstErr, res.worstGap, res.gapAt.Sub(deleted), lost)
		if lost > 0 {
			t.Errorf("%d acknowledged writes lost", lost)
		}
		after, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("shard 0's master is now pod %s (was %s)", after.Status.Shards[0].MasterPod, victim)
		referee(t, e.addrs(t, name)[0])
	}) {
		t.FailNow()
	}

	if !t.Run("a force-deleted master pod is replaced and the cluster heals", func(t *testing.T) {
		before, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		victim := before.Status.Shards[2].MasterPod
		var deleted time.Time
		defer e.logActions(t, e.logMark(), &deleted)
		w := startWriter(e.addrs(t, name), "force")
		time.Sleep(time.Second)
		deleted = time.Now()
		e.kubectl(t, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
		e.waitReady(t, name, deleted, 2*time.Minute)
		t.Logf("timing: force-delete master pod %s -> Ready again: %v", victim, time.Since(deleted))
		time.Sleep(500 * time.Millisecond)
		res := w.finish()
		lost := lostWrites(t, e.addrs(t, name), "force", res.acked)
		evs := failoverEvents(t, e, name)
		forced, toReplica := 0, false
		replica := before.Status.Shards[2].Replicas[0].Pod
		for _, ev := range evs.Items {
			if strings.Contains(ev.Message, "forced failover") {
				forced++
				toReplica = toReplica || strings.Contains(ev.Message, "(pod "+replica+")")
			}
		}
		t.Logf("measured: force delete of a master: %d writes acknowledged, %d write errors (first: %v), worst gap %v starting %v after the delete, %d acknowledged writes lost (not asserted: the process is killed without a handover), operator forced failovers so far: %d",
			len(res.acked), res.errs, res.firstErr, res.worstGap, res.gapAt.Sub(deleted), lost, forced)
		// The pod comes back under the same name with the old node ID
		// within seconds, before Redis's own failure detection (node
		// timeout 5 s) would act: only the operator's forced failover
		// makes the replica the master. (Which pod is master at the end
		// is not asserted: the operator may hand the role back to the
		// recreated pod to keep one master per node.)
		// Not asserted: whether the operator or the pod's own return wins
		// depends on timing here (the pod is back in ~0.3 s); the
		// benchmark measures the forced path with the nodes cordoned.
		t.Logf("forced failover to the replica %s by the operator: %t", replica, forced > 0 && toReplica)
		referee(t, e.addrs(t, name)[0])
	}) {
		t.FailNow()
	}

	if !t.Run("all pods deleted at once come back with the same node IDs owning the same slots", func(t *testing.T) {
		addrs := e.addrs(t, name)
		// The operator may still be handing a master role back after the
		// force delete (one master per node): take the "before" picture
		// once every node of the view belongs to a shard with slots.
		var before map[topology.NodeID]string
		opWait(t, time.Minute, "every node in a shard with slots", func(ctx context.Context) error {
			before = shardsByID(clusterView(t, addrs[0]))
			for id, slots := range before {
				if slots == "" {
					return fmt.Errorf("node %s has no shard yet: %v", id.Short(), before)
				}
			}
			if len(before) != 6 {
				return fmt.Errorf("%d nodes in the view, want 6", len(before))
			}
			return nil
		})
		pods, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		oldIPs := map[string]string{}
		for n, p := range pods {
			oldIPs[n] = p.Status.PodIP
		}
		// Ready's lastTransitionTime has a resolution of one second: delete
		// in a later second than the one Ready last turned True in, or that
		// old Ready passes for the new one (CI saw "Ready again" 206 ms
		// after the delete with no pod back).
		if rc, err := e.get(t.Context(), name); err == nil {
			if c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionReady.String()); c != nil {
				time.Sleep(time.Until(c.LastTransitionTime.Add(time.Second)))
			}
		}
		deleted := time.Now()
		defer e.logActions(t, e.logMark(), &deleted)
		defer e.dumpRedis(t, name)
		e.kubectl(t, "delete", "pods", "-l", resources.LabelInstance+"="+name, "--wait=false")
		e.waitReady(t, name, deleted, 3*time.Minute)
		t.Logf("timing: delete all 6 pods -> Ready again: %v", time.Since(deleted))
		pods, err = e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for n, p := range pods {
			if p.Status.PodIP != oldIPs[n] {
				changed++
			}
		}
		t.Logf("%d of %d pods came back with a new IP", changed, len(pods))
		addrs = e.addrs(t, name)
		referee(t, addrs[0])
		// The same node IDs (from nodes.conf on the volumes) hold the same
		// slot ranges, each with the same members: a graceful handover
		// inside a shard (the operator hands a master being deleted to its
		// replica) may swap roles, but never moves slots between shards.
		after := shardsByID(clusterView(t, addrs[0]))
		if !maps.Equal(before, after) {
			t.Errorf("node IDs and their slots changed:\nbefore %v\nafter  %v", before, after)
		}
		cc := clusterClient(addrs)
		defer func() { _ = cc.Close() }()
		missing := 0
		for k := range 300 {
			if v, err := cc.Get(t.Context(), fmt.Sprintf("seed:%d", k)).Int(); err != nil || v != k {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%d of 300 keys written before the restart are missing", missing)
		}
	}) {
		t.FailNow()
	}

	if !t.Run("a stuck open slot is repaired", func(t *testing.T) {
		addrs := e.addrs(t, name)
		view := clusterView(t, addrs[0])
		const slot = 100
		var owner, other *topology.Node
		for _, n := range view.Masters() {
			if n.Slots.Has(slot) {
				owner = n
			} else if !n.Slots.IsEmpty() && other == nil {
				other = n
			}
		}
		if owner == nil || other == nil {
			t.Fatalf("no owner of slot %d or no other master in\n%s", slot, view)
		}
		var mark time.Time
		defer e.logActions(t, e.logMark(), &mark)
		mark = time.Now()
		redisDo(t, other.Addr, "CLUSTER", "SETSLOT", slot, "IMPORTING", string(owner.ID))
		redisDo(t, owner.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", string(other.ID))
		// Nothing in Kubernetes changes, so the operator sees the open slot
		// at its next idle pass (RequeueIdle).
		opWait(t, controller.RequeueIdle+time.Minute, "slot closed on both nodes", func(ctx context.Context) error {
			for _, addr := range []string{owner.Addr, other.Addr} {
				self := clusterView(t, addr).Myself()
				if _, open := self.Migrating[slot]; open {
					return fmt.Errorf("%s still migrating slot %d", addr, slot)
				}
				if _, open := self.Importing[slot]; open {
					return fmt.Errorf("%s still importing slot %d", addr, slot)
				}
			}
			return nil
		})
		t.Logf("timing: slot %d left MIGRATING/IMPORTING -> closed by the operator: %v", slot, time.Since(mark))
		e.waitReady(t, name, mark, time.Minute)
		referee(t, addrs[0])
	}) {
		t.FailNow()
	}

	if !t.Run("an uncovered slot is assigned again, to the shard that holds its keys", func(t *testing.T) {
		addrs := e.addrs(t, name)
		const slot = 200
		var owner *topology.Node
		for _, n := range clusterView(t, addrs[0]).Masters() {
			if n.Slots.Has(slot) {
				owner = n
			}
		}
		if owner == nil {
			t.Fatalf("no owner of slot %d", slot)
		}
		key := keyInSlot(slot)
		redisDo(t, owner.Addr, "SET", key, "kept")
		var mark time.Time
		defer e.logActions(t, e.logMark(), &mark)
		mark = time.Now()
		for _, a := range addrs {
			redisDo(t, a, "CLUSTER", "DELSLOTS", slot)
		}
		opWait(t, controller.RequeueIdle+time.Minute, "slot assigned again", func(ctx context.Context) error {
			for _, a := range addrs {
				if got := clusterView(t, a).Node(owner.ID); got == nil || !got.Slots.Has(slot) {
					return fmt.Errorf("%s does not see slot %d on %s", a, slot, owner.ID.Short())
				}
			}
			return nil
		})
		t.Logf("timing: slot %d unassigned on every node -> assigned again to its key holder by the operator: %v", slot, time.Since(mark))
		e.waitReady(t, name, mark, time.Minute)
		cc := clusterClient(addrs)
		defer func() { _ = cc.Close() }()
		if v, err := cc.Get(t.Context(), key).Result(); err != nil || v != "kept" {
			t.Errorf("GET %s = %q, %v after the repair", key, v, err)
		}
		referee(t, addrs[0])
	}) {
		t.FailNow()
	}

	if !t.Run("scaling out to 4 shards (the leader killed on the way) and back to 3 moves the slots under a writer and loses nothing", func(t *testing.T) {
		setMasters := func(n int32) time.Time {
			t.Helper()
			cur, err := e.get(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			patch := client.MergeFrom(cur.DeepCopy())
			cur.Spec.Masters = n
			at := time.Now()
			if err := e.cl.Patch(t.Context(), cur, patch); err != nil {
				t.Fatalf("set spec.masters to %d: %v", n, err)
			}
			return at
		}
		var mark time.Time
		defer e.logActions(t, e.logMark(), &mark)
		w := startWriter(e.addrs(t, name), "scale")
		time.Sleep(time.Second)

		mark = setMasters(4)
		// Two managers, one leader: the leader is killed while the slots
		// move, and the other one finishes the reshard.
		killLeaderDuringReshard(t, e, name)
		out := e.waitReady(t, name, mark, 3*time.Minute)
		t.Logf("timing: spec.masters 3 -> 4 applied (leader killed on the way) -> Ready: %v", time.Since(mark))
		if len(out.Status.Shards) != 4 || out.Status.SlotsOK != 16384 || out.Status.Resharding != nil {
			t.Fatalf("after scale out: %d shards, %d slots ok, resharding %+v", len(out.Status.Shards), out.Status.SlotsOK, out.Status.Resharding)
		}
		for _, sh := range out.Status.Shards {
			if sh.Slots == "" || len(sh.Replicas) != 1 || !sh.Replicas[0].InSync {
				t.Errorf("after scale out, shard %d: slots %q, replicas %+v", sh.Index, sh.Slots, sh.Replicas)
			}
		}
		addrs := e.addrs(t, name)
		if len(addrs) != 8 {
			t.Fatalf("%d pods answer after scale out, want 8", len(addrs))
		}
		referee(t, addrs[0])
		wantEvent(t, e, name, heal.Attach.EventReason(), resources.PodName(rc, 3, 1)+" (of shard 3's master "+resources.PodName(rc, 3, 0))
		wantEvent(t, e, name, heal.Reshard.EventReason(), "spreading the slots over 4 shards", "shard 3 +")

		// Scale in paused: the shard to remove keeps its slots and the
		// cluster serves them; resumed at a paced rate, it drains.
		setResharding := func(rs *redisv1alpha1.ReshardingSpec, masters int32) time.Time {
			t.Helper()
			cur, err := e.get(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			patch := client.MergeFrom(cur.DeepCopy())
			cur.Spec.Resharding, cur.Spec.Masters = rs, masters
			at := time.Now()
			if err := e.cl.Patch(t.Context(), cur, patch); err != nil {
				t.Fatalf("set spec.resharding to %+v: %v", rs, err)
			}
			return at
		}
		mark = setResharding(&redisv1alpha1.ReshardingSpec{Paused: true}, 3)
		opWait(t, time.Minute, "Ready False with ReshardingPaused", func(ctx context.Context) error {
			cur, err := e.get(ctx, name)
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, redisv1alpha1.ConditionReady.String())
			if c == nil || c.Reason != redisv1alpha1.ReasonReshardingPaused.String() || cur.Status.Resharding == nil || !cur.Status.Resharding.Paused {
				return fmt.Errorf("Ready %+v, resharding %+v", c, cur.Status.Resharding)
			}
			return nil
		})
		paused, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if rs := paused.Status.Resharding; rs.SlotsRemaining == 0 || paused.Status.SlotsOK != 16384 {
			t.Fatalf("paused scale in: %d slots left, %d slots ok; want shard 3 still owning slots and every slot served", rs.SlotsRemaining, paused.Status.SlotsOK)
		}
		if n := len(e.addrs(t, name)); n != 8 {
			t.Fatalf("%d pods answer during the paused scale in, want 8 (shard 3 kept)", n)
		}
		t.Logf("timing: spec.masters 4 -> 3 paused -> ReshardingPaused: %v (%d slots moved, %d left)", time.Since(mark), paused.Status.Resharding.SlotsMoved, paused.Status.Resharding.SlotsRemaining)

		mark = setResharding(&redisv1alpha1.ReshardingSpec{MaxKeysPerSecond: ptr.To[int32](20000), Parallelism: ptr.To[int32](2)}, 3)
		in := e.waitReady(t, name, mark, 3*time.Minute)
		t.Logf("timing: resumed at 20000 keys/s, 2 transfers -> Ready: %v", time.Since(mark))
		if len(in.Status.Shards) != 3 || in.Status.SlotsOK != 16384 || in.Status.Resharding != nil {
			t.Fatalf("after scale in: %d shards, %d slots ok, resharding %+v", len(in.Status.Shards), in.Status.SlotsOK, in.Status.Resharding)
		}
		addrs = e.addrs(t, name)
		if len(addrs) != 6 {
			t.Fatalf("%d pods answer after scale in, want 6", len(addrs))
		}
		for _, a := range addrs {
			if n := len(clusterView(t, a).Nodes); n != 6 {
				t.Errorf("%s knows %d nodes after scale in, want 6:\n%s", a, n, clusterView(t, a))
			}
		}
		claims := &corev1.PersistentVolumeClaimList{}
		if err := e.cl.List(t.Context(), claims, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
			t.Fatal(err)
		}
		for _, c := range claims.Items {
			if shard, _, ok := resources.ParseClaimName(rc, c.Name); ok && shard >= 3 {
				t.Errorf("claim %s of the removed shard is left", c.Name)
			}
		}
		referee(t, addrs[0])
		wantEvent(t, e, name, heal.Reshard.EventReason(), "spreading the slots over 3 shards")
		wantEvent(t, e, name, heal.RemoveShards.EventReason(), "removing drained shards 3 ")

		time.Sleep(500 * time.Millisecond)
		res := w.finish()
		lost := lostWrites(t, addrs, "scale", res.acked)
		t.Logf("measured: scale 3 -> 4 -> 3 under a writer: %d writes acknowledged, %d write errors (first: %v), worst gap %v, %d acknowledged writes lost",
			len(res.acked), res.errs, res.firstErr, res.worstGap, lost)
		if lost > 0 {
			t.Errorf("%d acknowledged writes lost while resharding", lost)
		}
		cc := clusterClient(addrs)
		defer func() { _ = cc.Close() }()
		for k := range 300 {
			if v, err := cc.Get(t.Context(), fmt.Sprintf("seed:%d", k)).Int(); err != nil || v != k {
				t.Errorf("GET seed:%d = %d, %v after resharding", k, v, err)
				break
			}
		}
	}) {
		t.FailNow()
	}

	if !t.Run("replicasPerMaster 1 -> 2 -> 0 -> 1 under a writer: replicas join in sync, masters never leave, removed nodes are forgotten", func(t *testing.T) {
		testReplicaCounts(t, e, name)
	}) {
		t.FailNow()
	}

	if !t.Run("helm upgrade of the operator restarts no Redis pod, takes no action, and the writer sees no error", func(t *testing.T) {
		testOperatorUpgrade(t, e, name)
	}) {
		t.FailNow()
	}

	if !t.Run("changing redis.conf rolls the pods, replicas first, without losing writes", func(t *testing.T) {
		cur, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		var mark time.Time
		defer e.logActions(t, e.logMark(), &mark)
		w := startWriter(e.addrs(t, name), "rollout")
		time.Sleep(time.Second)
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.Config = maps.Clone(cur.Spec.Config)
		cur.Spec.Config["slowlog-log-slower-than"] = "20000"
		mark = time.Now()
		if err := e.cl.Patch(t.Context(), cur, patch); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, name, mark, 5*time.Minute)
		t.Logf("timing: spec.config changed -> every pod replaced and Ready: %v", time.Since(mark))
		time.Sleep(500 * time.Millisecond)
		res := w.finish()
		addrs := e.addrs(t, name)
		lost := lostWrites(t, addrs, "rollout", res.acked)
		t.Logf("measured: rolling update of 6 pods under a writer: %d writes acknowledged, %d write errors (first: %v), worst gap %v, %d acknowledged writes lost",
			len(res.acked), res.errs, res.firstErr, res.worstGap, lost)
		if lost > 0 {
			t.Errorf("%d acknowledged writes lost during the rolling update", lost)
		}
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a})
			got, err := c.ConfigGet(t.Context(), "slowlog-log-slower-than").Result()
			_ = c.Close()
			if err != nil || got["slowlog-log-slower-than"] != "20000" {
				t.Errorf("%s: slowlog-log-slower-than = %v, %v; want 20000 (pod not replaced)", a, got, err)
			}
		}
		for shard := range 3 {
			for ordinal := range 2 {
				wantEvent(t, e, name, heal.UpdateMember.EventReason(), "rolling update: recreating", "pod "+resources.PodName(rc, shard, ordinal)+" ")
			}
			wantEvent(t, e, name, heal.Failover.EventReason(), fmt.Sprintf("rolling update: handing shard %d's master role", shard))
		}
		sets := &appsv1.StatefulSetList{}
		if err := e.cl.List(t.Context(), sets, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
			t.Fatal(err)
		}
		pods, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sets.Items {
			for _, p := range pods {
				if strings.HasPrefix(p.Name, s.Name+"-") && p.Labels[appsv1.ControllerRevisionHashLabelKey] != s.Status.UpdateRevision {
					t.Errorf("pod %s runs revision %s, StatefulSet %s's is %s", p.Name, p.Labels[appsv1.ControllerRevisionHashLabelKey], s.Name, s.Status.UpdateRevision)
				}
			}
		}
		referee(t, addrs[0])
	}) {
		t.FailNow()
	}

	if !t.Run("raising spec.storage.size expands every claim online under a writer, restarting no pod", func(t *testing.T) {
		testStorageExpansion(t, e, name)
	}) {
		t.FailNow()
	}

	t.Run("a stopped node's shard is served again and the cluster heals when it returns", func(t *testing.T) {
		// The failovers above may have piled masters up on one node; the
		// operator spreads them again (losing a node that holds a majority
		// of the masters would leave Redis unable to fail over).
		spread := time.Now()
		before, pods := e.waitMastersSpread(t, name)
		t.Logf("timing: masters spread over the nodes after %v", time.Since(spread))
		master := pods[before.Status.Shards[1].MasterPod]
		node := master.Spec.NodeName
		replica := before.Status.Shards[1].Replicas[0]
		if pods[replica.Pod].Spec.NodeName == node {
			t.Fatalf("shard 1's master and replica share %s; the test needs them apart", node)
		}
		var stopped time.Time
		defer e.logActions(t, e.logMark(), &stopped)
		w := startWriter(e.addrs(t, name), "nodestop")
		time.Sleep(time.Second)
		stopped = time.Now()
		if err := e.StopNode(t.Context(), node); err != nil {
			t.Fatal(err)
		}
		replicaAddr := pods[replica.Pod].Status.PodIP + ":6379"
		opWait(t, time.Minute, "the replica serves shard 1", func(ctx context.Context) error {
			owners, err := slotOwners(ctx, replicaAddr)
			if err != nil {
				return err
			}
			if _, ok := owners[topology.NodeID(replica.NodeID)]; !ok {
				return fmt.Errorf("%s is not a master with slots: %v", replica.NodeID, owners)
			}
			return nil
		})
		t.Logf("timing: stop %s (master of shard 1) -> its replica serves the slots: %v", node, time.Since(stopped))
		time.Sleep(500 * time.Millisecond)
		res := w.finish()
		restarted := time.Now()
		if err := e.StartNode(t.Context(), node); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, name, stopped, 3*time.Minute)
		t.Logf("timing: start %s again -> Ready: %v", node, time.Since(restarted))
		addrs := e.addrs(t, name)
		lost := lostWrites(t, addrs, "nodestop", res.acked)
		t.Logf("measured: master's node stopped: %d writes acknowledged, %d write errors (first: %v), worst gap %v starting %v after the stop, %d acknowledged writes lost (asynchronous replication may lose the last writes when a master dies; not asserted)",
			len(res.acked), res.errs, res.firstErr, res.worstGap, res.gapAt.Sub(stopped), lost)
		referee(t, addrs[0])
	})
}

// testOperatorMissingStorageClass creates a RedisCluster whose claims name
// a StorageClass that does not exist.
func testOperatorMissingStorageClass(t *testing.T, e *opEnv) {
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "nosc", Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 0,
			Storage: redisv1alpha1.StorageSpec{StorageClassName: ptr.To("nfs"), Size: resource.MustParse("64Mi")},
		},
	}
	e.create(t.Context(), t, rc)
	const want = `storageclass.storage.k8s.io "nfs" not found`
	opWait(t, time.Minute, "StorageBound=False naming the StorageClass", func(ctx context.Context) error {
		got, err := e.get(ctx, "nosc")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, string(redisv1alpha1.ConditionStorageBound))
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonStorageClassNotFound) || !strings.Contains(c.Message, want) {
			return fmt.Errorf("StorageBound = %+v", c)
		}
		return nil
	})
	opWait(t, time.Minute, "a Warning event on the RedisCluster naming the StorageClass", func(ctx context.Context) error {
		evs := &corev1.EventList{}
		if err := e.cl.List(ctx, evs, client.InNamespace(opNS), client.MatchingFieldsSelector{Selector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.kind", "RedisCluster"),
			fields.OneTermEqualSelector("involvedObject.name", "nosc"),
		)}); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Type == corev1.EventTypeWarning && ev.Reason == controller.EventStorageClassNotFound && strings.Contains(ev.Message, `"nfs"`) {
				return nil
			}
		}
		return fmt.Errorf("no StorageClassNotFound event among %d", len(evs.Items))
	})
}

// testOperatorPassword creates a RedisCluster whose password comes from a
// Secret: the pods start with it in their users file (replication and the
// operator use users of their own), clients without it are refused, and
// the preStop hook still holds a deleted master until its role has moved.
func testOperatorPassword(t *testing.T, e *opEnv) {
	const name, password = "secure", "s3cret-for-e2e"
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-auth", Namespace: opNS},
		StringData: map[string]string{"password": password},
	}
	if err := e.cl.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			Config:         map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage:        redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			PasswordSecret: &redisv1alpha1.PasswordSecretRef{Name: sec.Name},
			// The exporter sidecar must authenticate with the same
			// password.
			Monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
		},
	}
	applied := time.Now()
	if err := e.cl.Create(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.kubectl(t, "delete", "rediscluster", name, "--wait=false")
		e.kubectl(t, "delete", "pvc", "-l", resources.LabelInstance+"="+name, "--wait=false")
		e.kubectl(t, "delete", "secret", sec.Name, "--wait=false")
	})
	e.waitReady(t, name, applied, 3*time.Minute)
	t.Logf("timing: create with a password -> Ready: %v", time.Since(applied))
	addrs := e.addrs(t, name)
	for _, a := range addrs {
		wantExporterUp(t, a)
	}

	open := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 8})
	err := open.Set(t.Context(), "k", "v", 0).Err()
	_ = open.Close()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("SET without the password = %v, want NOAUTH", err)
	}
	authed := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: password, MaxRedirects: 8})
	defer func() { _ = authed.Close() }()
	for k := range 100 {
		if err := authed.Set(t.Context(), fmt.Sprintf("auth:%d", k), k, 0).Err(); err != nil {
			t.Fatalf("SET auth:%d with the password: %v", k, err)
		}
	}

	before, err := e.get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	victim := before.Status.Shards[1].MasterPod
	// Ready's lastTransitionTime has a resolution of one second: let a
	// second pass so that waitReady cannot take the Ready of the create.
	time.Sleep(1100 * time.Millisecond)
	deleted := time.Now()
	e.kubectl(t, "delete", "pod", victim, "--wait=false")
	e.waitReady(t, name, deleted, 2*time.Minute)
	t.Logf("timing: delete master pod %s of the password cluster -> Ready again: %v", victim, time.Since(deleted))
	// The handover is asserted by its event, not by who is master at the
	// end: the operator may hand the role back to the recreated pod to
	// keep one master per node.
	evs := failoverEvents(t, e, name)
	handed := false
	for _, ev := range evs.Items {
		handed = handed || (strings.Contains(ev.Message, "pod "+victim+" (master") && strings.Contains(ev.Message, "is being deleted: graceful failover"))
	}
	if !handed {
		t.Errorf("no graceful failover event for the deletion of master pod %s among %d failover events", victim, len(evs.Items))
	}
	for k := range 100 {
		if v, err := authed.Get(t.Context(), fmt.Sprintf("auth:%d", k)).Int(); err != nil || v != k {
			t.Fatalf("GET auth:%d after the handover = %d, %v", k, v, err)
		}
	}
	testPasswordChanges(t, e, name, sec, password)
}

// testPasswordChanges changes the default user's passwords of the
// RedisCluster name under a writer that switches to the new password once
// every running node accepts it: the Secret's password changed; a second
// password added (spec.defaultUser.passwordSecrets) so that both work;
// spec.passwordSecret removed so that only the added one remains; then no
// password at all. Each time: no write fails, nothing acknowledged is lost,
// no pod restarts, and the password taken away is refused.
func testPasswordChanges(t *testing.T, e *opEnv, name string, sec *corev1.Secret, old string) {
	const next, extra = "n3w-s3cret-for-e2e", "3xtra-s3cret-for-e2e"
	var current atomic.Value
	current.Store(old)
	// Clients with the writers' settings whose password is current's.
	newClient := func() *redis.ClusterClient {
		o := writeload.ClientOptions(e.addrs(t, name), nil)
		o.CredentialsProvider = func() (string, string) { return "", current.Load().(string) }
		return redis.NewClusterClient(o)
	}
	// logsIn reports, for every pod's node, whether a new connection with
	// pw may write.
	logsIn := func(ctx context.Context, pw string) (bool, error) {
		for _, a := range e.addrs(t, name) {
			c := redis.NewClient(&redis.Options{Addr: a, Password: pw, MaxRetries: -1})
			err := c.Set(ctx, "password-probe", "x", 0).Err()
			_ = c.Close()
			switch {
			case err == nil || strings.Contains(err.Error(), "MOVED"):
			case strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "NOAUTH"):
				return false, nil
			default:
				return false, fmt.Errorf("%s: %w", a, err)
			}
		}
		return true, nil
	}
	podsBefore, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	change := func(what string, do func() time.Time, accepted, refused []string) {
		t.Helper()
		w := writeload.StartWith(context.Background(), newClient(), "switch")
		time.Sleep(time.Second)
		at := do()
		opWait(t, time.Minute, what+": the new passwords accepted, the old refused, on every node", func(ctx context.Context) error {
			for _, pw := range accepted {
				switch ok, err := logsIn(ctx, pw); {
				case err != nil:
					return err
				case !ok:
					return fmt.Errorf("password %q not accepted everywhere yet", pw)
				}
			}
			for _, pw := range refused {
				switch ok, err := logsIn(ctx, pw); {
				case err != nil:
					return err
				case ok:
					return fmt.Errorf("password %q still accepted somewhere", pw)
				}
			}
			return nil
		})
		t.Logf("measured: %s -> every running node accepts exactly the new passwords: %v", what, time.Since(at))
		current.Store(accepted[len(accepted)-1])
		time.Sleep(time.Second)
		res := w.Stop()
		reader := newClient()
		defer func() { _ = reader.Close() }()
		lost, err := writeload.LostWith(t.Context(), reader, "switch", res.Acked)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("measured: %s, the writer switching its password: %d writes acknowledged, %d write errors (first: %v), worst gap %v, %d lost",
			what, len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
		if res.Errors > 0 || len(lost) > 0 {
			t.Errorf("%s: %d write errors (first: %v), %d acknowledged writes lost while the client switched", what, res.Errors, res.FirstErr, len(lost))
		}
		podsNow, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		for n, p := range podsBefore {
			if q, ok := podsNow[n]; !ok || q.UID != p.UID {
				t.Errorf("%s: pod %s was replaced", what, n)
			}
		}
	}
	setSecret := func(data map[string]string) time.Time {
		at := time.Now()
		cur := &corev1.Secret{}
		if err := e.cl.Get(t.Context(), client.ObjectKeyFromObject(sec), cur); err != nil {
			t.Fatal(err)
		}
		cur.StringData = data
		if err := e.cl.Update(t.Context(), cur); err != nil {
			t.Fatal(err)
		}
		return at
	}

	change("the Secret's password changed", func() time.Time {
		return setSecret(map[string]string{"password": next})
	}, []string{next}, []string{old, ""})
	wantEvent(t, e, name, controller.EventPasswordChanged, "new password accepted", "no pod restarted")

	change("a second password added in spec.defaultUser.passwordSecrets", func() time.Time {
		setSecret(map[string]string{"password": next, "extra": extra})
		return e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
			s.DefaultUser = &redisv1alpha1.DefaultUserSpec{PasswordSecrets: []redisv1alpha1.PasswordSecretRef{{Name: sec.Name, Key: "extra"}}}
		})
	}, []string{next, extra}, []string{old, ""})

	change("spec.passwordSecret removed, the added password kept", func() time.Time {
		return e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.PasswordSecret = nil })
	}, []string{extra}, []string{next, ""})

	change("every password removed", func() time.Time {
		return e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.DefaultUser = nil })
	}, []string{""}, nil)
	open := redis.NewClusterClient(&redis.ClusterOptions{Addrs: e.addrs(t, name), MaxRedirects: 8})
	defer func() { _ = open.Close() }()
	if err := open.Set(t.Context(), "open", "yes", 0).Err(); err != nil {
		t.Errorf("SET without a password after its removal: %v", err)
	}
}

// failoverEvents lists the FailedOver events of the RedisCluster name.
func failoverEvents(t *testing.T, e *opEnv, name string) *corev1.EventList {
	t.Helper()
	return clusterEvents(t, e, name, controller.EventFailedOver)
}

// clusterEvents lists the events of the RedisCluster name with reason.
func clusterEvents(t *testing.T, e *opEnv, name, reason string) *corev1.EventList {
	t.Helper()
	evs := &corev1.EventList{}
	if err := e.cl.List(t.Context(), evs, client.InNamespace(opNS), client.MatchingFieldsSelector{Selector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "RedisCluster"),
		fields.OneTermEqualSelector("involvedObject.name", name),
		fields.OneTermEqualSelector("reason", reason),
	)}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// wantEvent fails the test unless the RedisCluster name has a Normal event
// with reason whose message contains each of parts.
func wantEvent(t *testing.T, e *opEnv, name, reason string, parts ...string) {
	t.Helper()
	evs := clusterEvents(t, e, name, reason)
	for _, ev := range evs.Items {
		ok := ev.Type == corev1.EventTypeNormal
		for _, p := range parts {
			ok = ok && strings.Contains(ev.Message, p)
		}
		if ok {
			return
		}
	}
	var msgs []string
	for _, ev := range evs.Items {
		msgs = append(msgs, ev.Message)
	}
	t.Errorf("no %s event mentioning %q among %d: %q", reason, parts, len(evs.Items), msgs)
}

// wantExporterUp scrapes the exporter sidecar of the Redis pod at addr
// (host:6379; the exporter serves :9121) and fails t unless it reached
// Redis (redis_up 1, so it authenticated) and sees the cluster ok.
func wantExporterUp(t *testing.T, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(host, "9121") + "/metrics"
	waitT(t, 30*time.Second, 200*time.Millisecond, "the exporter of "+addr+" reports redis_up 1", func(ctx context.Context) error {
		body, err := proc.HTTPGet(ctx, url)
		if err != nil {
			return err
		}
		for _, want := range []string{"\nredis_up 1\n", "\nredis_cluster_state 1\n"} {
			if !strings.Contains("\n"+string(body), want) {
				return fmt.Errorf("%s has no %q", url, strings.TrimSpace(want))
			}
		}
		return nil
	})
}
