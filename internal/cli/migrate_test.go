package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

func TestAddMasterAndRebalanceHundredThousandKeys(t *testing.T) {
	const n = 100000
	nodes := newCluster(t, 3, 0)
	spare := redisenv.Start(t, 1)[0]
	seed := nodes[0].Addr
	loadKeys(t, seed, n)

	// add-node: dry run changes nothing; the real run makes every node know it.
	all := append(addrs(nodes), spare.Addr)
	before := worldState(t, all)
	mustRcctl(t, "add-node", spare.Addr, seed, "--dry-run")
	assertUnchanged(t, before, worldState(t, all))
	mustRcctl(t, "add-node", spare.Addr, seed)
	for _, a := range all {
		text, err := client(t, a).ClusterNodes(testCtx(t)).Result()
		if err != nil || strings.Count(text, "\n") != 4 {
			t.Fatalf("%s does not list 4 nodes after add-node (%v):\n%s", a, err, text)
		}
	}
	if me := self(t, spare.Addr); !me.IsMaster() || !me.Slots.IsEmpty() {
		t.Fatalf("new node is %s with %d slots, want an empty master", me.Flags, me.Slots.Count())
	}

	// rebalance without --use-empty-masters leaves the empty master alone.
	r := mustRcctl(t, "rebalance", seed)
	if !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("rebalance without --use-empty-masters moved something:\n%s", r.stdout)
	}
	before = worldState(t, all)
	mustRcctl(t, "rebalance", seed, "--use-empty-masters", "--dry-run")
	assertUnchanged(t, before, worldState(t, all))

	r = mustRcctl(t, "rebalance", seed, "--use-empty-masters", "--json")
	if r.stderr != "" {
		t.Errorf("--json wrote to stderr: %q", r.stderr)
	}
	var rep struct{ SlotsMoved, KeysMoved int64 }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rebalance --json: %v\n%s", err, r.stdout)
	}
	if rep.SlotsMoved != 4096 {
		t.Errorf("rebalance moved %d slots, want 4096", rep.SlotsMoved)
	}
	if got := self(t, spare.Addr).Slots.Count(); got != 4096 {
		t.Fatalf("new master serves %d slots, want 4096", got)
	}
	size, err := client(t, spare.Addr).DBSize(testCtx(t)).Result()
	if err != nil || size == 0 || size != rep.KeysMoved {
		t.Fatalf("new master holds %d keys (%v), rebalance reported %d moved", size, err, rep.KeysMoved)
	}
	verifyKeys(t, seed, n)
	mustRcctl(t, "check", seed)
	referee(t, seed)

	// A balanced cluster needs nothing.
	if r := mustRcctl(t, "rebalance", seed, "--use-empty-masters"); !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("second rebalance was not a no-op:\n%s", r.stdout)
	}
}

func TestRebalanceWithQuietHandoverKeepsEveryKey(t *testing.T) {
	const n = 20000
	nodes := newCluster(t, 3, 0)
	spare := redisenv.Start(t, 1)[0]
	seed := nodes[0].Addr
	loadKeys(t, seed, n)
	mustRcctl(t, "add-node", spare.Addr, seed)
	mustRcctl(t, "rebalance", seed, "--use-empty-masters", "--quiet-handover")
	if got := self(t, spare.Addr).Slots.Count(); got != 4096 {
		t.Fatalf("new master serves %d slots, want 4096", got)
	}
	verifyKeys(t, seed, n)
	mustRcctl(t, "check", seed)
	referee(t, seed)
}

func TestDrainAndDeleteMaster(t *testing.T) {
	const n = 20000
	nodes := newCluster(t, 4, 0)
	seed, victim := nodes[0].Addr, nodes[3].Addr
	loadKeys(t, seed, n)
	all := addrs(nodes)

	before := worldState(t, all)
	oneLineErr(t, rcctl(t, "del-node", seed, victim), ExitFailure, "use --drain")
	oneLineErr(t, rcctl(t, "del-node", seed, strings.Repeat("ab", 20)), ExitFailure, "unknown node ID")
	mustRcctl(t, "del-node", seed, victim, "--drain", "--dry-run")
	assertUnchanged(t, before, worldState(t, all))

	victimID := self(t, victim).ID
	mustRcctl(t, "del-node", seed, victim, "--drain")
	for _, a := range all[:3] {
		text, err := client(t, a).ClusterNodes(testCtx(t)).Result()
		if err != nil || strings.Contains(text, string(victimID)) {
			t.Fatalf("%s still knows the deleted node (%v):\n%s", a, err, text)
		}
	}
	info, err := client(t, victim).ClusterInfo(testCtx(t)).Result()
	if err != nil || !strings.Contains(info, "cluster_known_nodes:1") {
		t.Fatalf("deleted node was not reset (%v):\n%s", err, info)
	}
	if size, _ := client(t, victim).DBSize(testCtx(t)).Result(); size != 0 {
		t.Fatalf("deleted node still holds %d keys", size)
	}
	verifyKeys(t, seed, n)
	mustRcctl(t, "check", seed)
	referee(t, seed)
	// The removed node is fresh again: it could join another cluster.
	if _, err := probeFresh(testCtx(t), mustPool(t), victim); err != nil {
		t.Fatalf("deleted node is not reusable: %v", err)
	}
}

func TestReshardWhileClientsWriteAndRead(t *testing.T) {
	nodes := newCluster(t, 3, 0)
	seed := nodes[0].Addr
	loadKeys(t, seed, 20000)

	cc := clusterClient(t, seed)
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		written atomic.Int64
		wrote   [4]atomic.Int64
		errMu   sync.Mutex
		errs    []error
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("live:%d:%d", w, i)
				err := cc.Set(ctx, k, k, 0).Err()
				if err == nil {
					var v string
					v, err = cc.Get(ctx, k).Result()
					if err == nil && v != k {
						err = fmt.Errorf("read %q back as %q", k, v)
					}
				}
				if err != nil && ctx.Err() == nil {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", k, err))
					errMu.Unlock()
					return
				}
				if err == nil {
					written.Add(1)
					wrote[w].Store(int64(i + 1))
				}
			}
		}(w)
	}
	target := self(t, nodes[2].Addr).ID
	mustRcctl(t, "reshard", seed, "--from", "all", "--to", string(target)[:10], "--slots", "3000")
	stop()
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if written.Load() == 0 {
		t.Fatal("the clients wrote nothing during the reshard")
	}
	if got := self(t, nodes[2].Addr).Slots.Count(); got != 5461+3000 {
		t.Fatalf("target serves %d slots, want %d", got, 5461+3000)
	}
	// Every key the clients wrote is there.
	rctx := testCtx(t)
	for w := 0; w < 4; w++ {
		for i := int64(0); i < wrote[w].Load(); i++ {
			k := fmt.Sprintf("live:%d:%d", w, i)
			if v, err := cc.Get(rctx, k).Result(); err != nil || v != k {
				t.Fatalf("key %s lost after the reshard: %q, %v", k, v, err)
			}
		}
	}
	verifyKeys(t, seed, 20000)
	mustRcctl(t, "check", seed)
	referee(t, seed)
}

func TestFailoverPromotesReplicaAndRefusesUnsynced(t *testing.T) {
	nodes := newCluster(t, 6, 1)
	seed := nodes[0].Addr
	loadKeys(t, seed, 1000)
	var replica, master string
	for _, nd := range nodes {
		if me := self(t, nd.Addr); me.IsReplica() {
			replica = nd.Addr
			for _, m := range nodes {
				if self(t, m.Addr).ID == me.MasterID {
					master = m.Addr
				}
			}
			break
		}
	}
	oneLineErr(t, rcctl(t, "failover", master), ExitFailure, "is a master already")

	// Replicas may still be applying the keys just written; the dry run must
	// be compared against a settled cluster, not against replication.
	waitFor(t, "every replica to hold its master's keys", 30*time.Second, func() bool {
		for _, nd := range nodes {
			me := self(t, nd.Addr)
			if !me.IsReplica() {
				continue
			}
			for _, m := range nodes {
				if self(t, m.Addr).ID == me.MasterID &&
					client(t, nd.Addr).DBSize(testCtx(t)).Val() != client(t, m.Addr).DBSize(testCtx(t)).Val() {
					return false
				}
			}
		}
		return true
	})
	before := worldState(t, addrs(nodes))
	mustRcctl(t, "failover", replica, "--dry-run")
	assertUnchanged(t, before, worldState(t, addrs(nodes)))

	mustRcctl(t, "failover", replica)
	if me := self(t, replica); !me.IsMaster() || me.Slots.IsEmpty() {
		t.Fatalf("after failover %s is %s with %d slots", replica, me.Flags, me.Slots.Count())
	}
	waitFor(t, "the old master to become a replica", 30*time.Second, func() bool { return self(t, master).IsReplica() })
	verifyKeys(t, seed, 1000)
	mustRcctl(t, "check", seed)
	referee(t, seed)

	// A freshly attached replica has not had its first sync (Redis delays
	// it by repl-diskless-sync-delay): promoting it would empty the shard.
	slow := redisenv.Start(t, 1, redisenv.WithConfig("repl-diskless-sync-delay", "0"))[0]
	for _, nd := range nodes {
		if self(t, nd.Addr).IsMaster() {
			// Make the masters delay the first sync of a new replica.
			for _, kv := range [][2]string{{"repl-diskless-sync", "yes"}, {"repl-diskless-sync-delay", "60"}} {
				if err := client(t, nd.Addr).ConfigSet(testCtx(t), kv[0], kv[1]).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	mustRcctl(t, "add-node", slow.Addr, seed, "--replica-of", replica)
	all := append(addrs(nodes), slow.Addr)
	before = worldState(t, all)
	r := rcctl(t, "failover", slow.Addr)
	oneLineErr(t, r, ExitFailure, "refusing to promote")
	assertUnchanged(t, before, worldState(t, all))

	// A replica is deleted without --drain; the cluster is whole again.
	mustRcctl(t, "del-node", seed, slow.Addr)
	if info, _ := client(t, slow.Addr).ClusterInfo(testCtx(t)).Result(); !strings.Contains(info, "cluster_known_nodes:1") {
		t.Fatalf("deleted replica was not reset:\n%s", info)
	}
	mustRcctl(t, "check", seed)
	referee(t, seed)
}

func TestFixRepairsOpenAndUncoveredSlots(t *testing.T) {
	nodes := newCluster(t, 3, 0)
	seed := nodes[0].Addr
	loadKeys(t, seed, 10000)
	ctx := testCtx(t)
	a, b := nodes[0], nodes[1]
	aID, bID := self(t, a.Addr).ID, self(t, b.Addr).ID

	// Two slots of a that hold keys.
	var withKeys []int
	for x := 0; x < 5461 && len(withKeys) < 2; x++ {
		if n, err := client(t, a.Addr).ClusterCountKeysInSlot(ctx, x).Result(); err == nil && n >= 2 {
			withKeys = append(withKeys, x)
		}
	}
	if len(withKeys) < 2 {
		t.Fatal("no slots with keys on the first master")
	}
	slot, uncovered := withKeys[0], withKeys[1]
	// A stuck migration: slot (owned by a) MIGRATING to b, IMPORTING on b,
	// and some of its keys already moved.
	if err := client(t, b.Addr).Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", string(aID)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client(t, a.Addr).Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", string(bID)).Err(); err != nil {
		t.Fatal(err)
	}
	keys, err := client(t, a.Addr).ClusterGetKeysInSlot(ctx, slot, 2).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("slot %d has no keys to move (%v)", slot, err)
	}
	args := []any{"MIGRATE", "127.0.0.1", b.Port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	if err := client(t, a.Addr).Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	r := rcctl(t, "check", seed, "--json")
	if r.code != ExitFailure {
		t.Fatalf("check of a broken cluster exited %d", r.code)
	}
	var cr struct {
		OK       bool
		Problems []struct{ Code, Severity, Message string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &cr); err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, p := range cr.Problems {
		codes[p.Code] = true
	}
	if cr.OK {
		t.Error("check --json says ok for a broken cluster")
	}
	if !codes["OpenSlots"] {
		t.Fatalf("check found %v, want OpenSlots", codes)
	}

	before := worldState(t, addrs(nodes))
	mustRcctl(t, "fix", seed, "--dry-run")
	assertUnchanged(t, before, worldState(t, addrs(nodes)))

	mustRcctl(t, "fix", seed)
	mustRcctl(t, "check", seed)
	referee(t, seed)
	verifyKeys(t, seed, 10000)

	// An uncovered slot: every node forgets who serves a slot a holds keys in.
	for _, nd := range nodes {
		if err := client(t, nd.Addr).Do(ctx, "CLUSTER", "DELSLOTS", uncovered).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if r := rcctl(t, "check", seed); r.code != ExitFailure || !strings.Contains(r.stdout, "served by no node") {
		t.Fatalf("check of an uncovered slot: exit %d\n%s", r.code, r.stdout)
	}
	// Slot-moving commands refuse such a cluster, in one line.
	oneLineErr(t, rcctl(t, "rebalance", seed), ExitFailure, "run rcctl check / rcctl fix first")
	mustRcctl(t, "fix", seed)
	if !self(t, a.Addr).Slots.Has(uncovered) {
		t.Errorf("slot %d was given to another node than the one holding its keys", uncovered)
	}
	mustRcctl(t, "check", seed)
	referee(t, seed)
	verifyKeys(t, seed, 10000)

	// Both at once: b IMPORTING a slot of a (a run that died right after a
	// migration's first SETSLOT) while another slot is uncovered. Moving
	// keys needs every slot served, so coverage must be repaired first.
	var two []int
	for x := 0; x < topology.SlotCount && len(two) < 2; x++ {
		if self(t, a.Addr).Slots.Has(x) {
			if n, _ := client(t, a.Addr).ClusterCountKeysInSlot(ctx, x).Result(); n >= 2 {
				two = append(two, x)
			}
		}
	}
	if len(two) < 2 {
		t.Fatal("no more slots with keys on the first master")
	}
	if err := client(t, b.Addr).Do(ctx, "CLUSTER", "SETSLOT", two[0], "IMPORTING", string(aID)).Err(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if err := client(t, nd.Addr).Do(ctx, "CLUSTER", "DELSLOTS", two[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if r := rcctl(t, "check", seed); r.code != ExitFailure {
		t.Fatalf("check of a cluster with an open and an uncovered slot exited %d", r.code)
	}
	mustRcctl(t, "fix", seed)
	mustRcctl(t, "check", seed)
	referee(t, seed)
	verifyKeys(t, seed, 10000)
}

// TestKilledRebalanceFinishesOnSecondRun kills a real rcctl process with
// SIGKILL in the middle of a migration and finishes with a second run.
func TestKilledRebalanceFinishesOnSecondRun(t *testing.T) {
	const n = 100000
	bin := rcctlBinary(t)
	nodes := newCluster(t, 3, 0)
	spare := redisenv.Start(t, 1)[0]
	seed := nodes[0].Addr
	loadKeys(t, seed, n)
	mustRcctl(t, "add-node", spare.Addr, seed)

	// A rate limit makes the migration take long enough to be caught.
	cmd := exec.Command(bin, "rebalance", seed, "--use-empty-masters", "--rate", "5000", "--no-progress")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, "the migration to be under way", 60*time.Second, func() bool {
		n, _ := client(t, spare.Addr).DBSize(testCtx(t)).Result()
		return n > 2000
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("rcctl was not killed: %v\n%s", err, out.String())
	}
	half := self(t, spare.Addr).Slots.Count()
	if half >= 4096 {
		t.Fatalf("the first run finished before it was killed")
	}
	t.Logf("killed with %d of 4096 slots moved", half)

	r := mustRcctl(t, "rebalance", seed, "--use-empty-masters")
	// Not a terminal: progress comes as plain lines on stderr, the result
	// on stdout.
	if !strings.Contains(r.stderr, "/4096 slots") && !strings.Contains(r.stderr, "slots to move") {
		t.Errorf("no progress lines on stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "rebalance: done") {
		t.Errorf("no result on stdout: %q", r.stdout)
	}
	if got := self(t, spare.Addr).Slots.Count(); got != 4096 {
		t.Fatalf("after the second run the new master serves %d slots, want 4096", got)
	}
	verifyKeys(t, seed, n)
	mustRcctl(t, "check", seed)
	referee(t, seed)
}

func mustPool(t *testing.T) *redisPool {
	t.Helper()
	p := newTestPool()
	t.Cleanup(func() { _ = p.Close() })
	return p
}
