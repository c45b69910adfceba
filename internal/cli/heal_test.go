package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// healEnv are the server options of the heal tests: a new replica syncs at
// once (Redis 7 waits repl-diskless-sync-delay, 5 s, for more replicas),
// and a killed node is flagged fail within seconds.
var healEnv = []redisenv.Option{
	redisenv.WithConfig("repl-diskless-sync-delay", "0"),
	redisenv.WithNodeTimeout(time.Second),
}

// clusterNodesWithoutTimes returns each address's CLUSTER NODES listing with
// the ping-sent and pong-received fields cut, lines sorted: what must not
// change at all when nothing is done.
func clusterNodesWithoutTimes(t *testing.T, addrs []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range addrs {
		text, err := client(t, a).ClusterNodes(testCtx(t)).Result()
		if err != nil {
			t.Fatalf("cluster nodes %s: %v", a, err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(l)
			if len(f) < 8 {
				t.Fatalf("%s: short CLUSTER NODES line %q", a, l)
			}
			lines = append(lines, strings.Join(append(f[:4:4], f[6:]...), " "))
		}
		sort.Strings(lines)
		out[a] = strings.Join(lines, "\n")
	}
	return out
}

// healDryRun runs `rcctl heal --dry-run` with args and fails the test
// unless it exits 0, prints want, and leaves every node's CLUSTER NODES
// (but for ping and pong times) and keys exactly as they were.
func healDryRun(t *testing.T, live []string, want string, args ...string) result {
	t.Helper()
	before, facts := clusterNodesWithoutTimes(t, live), worldState(t, live)
	r := mustRcctl(t, append([]string{"heal", "--dry-run"}, args...)...)
	after := clusterNodesWithoutTimes(t, live)
	for _, a := range live {
		if before[a] != after[a] {
			t.Errorf("heal --dry-run changed CLUSTER NODES of %s:\nbefore:\n%s\nafter:\n%s", a, before[a], after[a])
		}
	}
	assertUnchanged(t, facts, worldState(t, live))
	if !strings.Contains(r.stdout, want) {
		t.Fatalf("heal --dry-run printed %q, want %q", r.stdout, want)
	}
	return r
}

// hostOf renders --host-of flags for nodes by host.
func hostOf(hosts map[*redisenv.Node]string) []string {
	var out []string
	for nd, h := range hosts {
		out = append(out, "--host-of", nd.Addr+"="+h)
	}
	return out
}

// shards returns the masters of nodes ordered by first slot and each
// master's replicas (by address).
func shards(t *testing.T, nodes []*redisenv.Node) (masters []*redisenv.Node, replicas map[*redisenv.Node][]*redisenv.Node) {
	t.Helper()
	byID := map[topology.NodeID]*redisenv.Node{}
	first := map[*redisenv.Node]int{}
	for _, nd := range nodes {
		me := self(t, nd.Addr)
		byID[me.ID] = nd
		if me.IsMaster() && !me.Slots.IsEmpty() {
			masters = append(masters, nd)
			first[nd] = me.Slots.Slots()[0]
		}
	}
	sort.Slice(masters, func(i, j int) bool { return first[masters[i]] < first[masters[j]] })
	replicas = map[*redisenv.Node][]*redisenv.Node{}
	for _, nd := range nodes {
		if me := self(t, nd.Addr); me.IsReplica() {
			m := byID[me.MasterID]
			replicas[m] = append(replicas[m], nd)
		}
	}
	return masters, replicas
}

// masterOf returns the node nd replicates, or nil when nd is a master.
func masterOf(t *testing.T, nd *redisenv.Node, nodes []*redisenv.Node) *redisenv.Node {
	t.Helper()
	me := self(t, nd.Addr)
	if !me.IsReplica() {
		return nil
	}
	for _, m := range nodes {
		if self(t, m.Addr).ID == me.MasterID {
			return m
		}
	}
	t.Fatalf("%s replicates %s, which is none of the nodes", nd.Addr, me.MasterID.Short())
	return nil
}

// waitAllKnow waits until every node lists every other with its bus link
// connected, all report the same flags, master and config epoch for each
// node, and no two masters share an epoch (nodes met with epoch 0 collide,
// and one of them bumps its epoch): a cluster a dry run must not see
// change under it.
func waitAllKnow(t *testing.T, nodes []*redisenv.Node) {
	t.Helper()
	waitFor(t, "every node to know every other", 20*time.Second, func() bool {
		var ref map[topology.NodeID]string
		for _, nd := range nodes {
			text, err := client(t, nd.Addr).ClusterNodes(testCtx(t)).Result()
			if err != nil {
				return false
			}
			v, err := topology.ParseClusterNodes(text)
			if err != nil || len(v.Nodes) != len(nodes) {
				return false
			}
			lines, epochs := map[topology.NodeID]string{}, map[uint64]bool{}
			for _, n := range v.Nodes {
				if !n.Connected || n.Flags&(topology.FlagHandshake|topology.FlagPFail|topology.FlagFail) != 0 {
					return false
				}
				if n.IsMaster() {
					if epochs[n.ConfigEpoch] {
						return false
					}
					epochs[n.ConfigEpoch] = true
				}
				lines[n.ID] = fmt.Sprint(n.Flags&^topology.FlagMyself, n.MasterID, n.ConfigEpoch)
			}
			if ref != nil && !maps.Equal(ref, lines) {
				return false
			}
			ref = lines
		}
		return true
	})
}

// slotsWithKeys returns up to n slots of the master at addr holding at
// least two keys.
func slotsWithKeys(t *testing.T, addr string, n int) []int {
	t.Helper()
	me := self(t, addr)
	var out []int
	for _, x := range me.Slots.Slots() {
		if len(out) == n {
			break
		}
		if k, err := client(t, addr).ClusterCountKeysInSlot(testCtx(t), x).Result(); err == nil && k >= 2 {
			out = append(out, x)
		}
	}
	if len(out) < n {
		t.Fatalf("%s has %d slots with keys, want %d", addr, len(out), n)
	}
	return out
}

func TestHealClosesAStuckMigratingSlot(t *testing.T) {
	nodes := newCluster(t, 3, 0, healEnv...)
	seed, all := nodes[0].Addr, addrs(nodes)
	loadKeys(t, seed, 5000)
	ctx := testCtx(t)
	a, b := nodes[0], nodes[1]
	aID := self(t, a.Addr).ID
	bID := self(t, b.Addr).ID
	slots := slotsWithKeys(t, a.Addr, 2)
	// slots[0]: a migration that died after moving some keys (a MIGRATING,
	// b IMPORTING); slots[1]: one that died after its first SETSLOT (b
	// IMPORTING only).
	for _, cmd := range [][]any{
		{b.Addr, "CLUSTER", "SETSLOT", slots[0], "IMPORTING", string(aID)},
		{a.Addr, "CLUSTER", "SETSLOT", slots[0], "MIGRATING", string(bID)},
		{b.Addr, "CLUSTER", "SETSLOT", slots[1], "IMPORTING", string(aID)},
	} {
		if err := client(t, cmd[0].(string)).Do(ctx, cmd[1:]...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client(t, a.Addr).ClusterGetKeysInSlot(ctx, slots[0], 1).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("slot %d has no key to move (%v)", slots[0], err)
	}
	if err := client(t, a.Addr).Do(ctx, "MIGRATE", "127.0.0.1", b.Port, "", 0, 5000, "KEYS", keys[0]).Err(); err != nil {
		t.Fatal(err)
	}

	healDryRun(t, all, "heal plan: repair slots", seed)
	r := mustRcctl(t, "heal", seed, "--json")
	var rep struct {
		DryRun bool
		Passes []struct {
			Kind, Reason, Message string
			Steps                 []struct{ Type, Description string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("heal --json printed no JSON: %v\n%s", err, r.stdout)
	}
	if len(rep.Passes) != 1 || rep.Passes[0].Kind != "repair slots" || rep.Passes[0].Reason != "RepairingSlots" || len(rep.Passes[0].Steps) == 0 || rep.DryRun {
		t.Fatalf("heal --json = %+v, want one pass that repaired slots", rep)
	}
	for _, nd := range nodes {
		if me := self(t, nd.Addr); len(me.Migrating)+len(me.Importing) > 0 {
			t.Errorf("%s still has open slots: migrating %v, importing %v", nd.Addr, me.Migrating, me.Importing)
		}
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
	if r := mustRcctl(t, "heal", seed); !strings.Contains(r.stdout, "heal: nothing to do") {
		t.Errorf("a second heal printed %q, want nothing to do", r.stdout)
	}
	healDryRun(t, all, "heal plan: nothing to do", seed)
}

func TestHealCoversAnUncoveredSlot(t *testing.T) {
	nodes := newCluster(t, 3, 0, healEnv...)
	seed, all := nodes[0].Addr, addrs(nodes)
	loadKeys(t, seed, 5000)
	a := nodes[1]
	withKeys := slotsWithKeys(t, a.Addr, 1)[0]
	empty := -1
	for _, x := range self(t, a.Addr).Slots.Slots() {
		if n, _ := client(t, a.Addr).ClusterCountKeysInSlot(testCtx(t), x).Result(); n == 0 {
			empty = x
			break
		}
	}
	if empty < 0 {
		t.Fatal("no empty slot")
	}
	// Every node forgets who serves two slots: one a holds keys in, one
	// empty.
	for _, nd := range nodes {
		if err := client(t, nd.Addr).Do(testCtx(t), "CLUSTER", "DELSLOTS", withKeys, empty).Err(); err != nil {
			t.Fatal(err)
		}
	}
	healDryRun(t, all, "heal plan: repair slots", seed)
	r := mustRcctl(t, "heal", seed)
	if !strings.Contains(r.stdout, "pass 1: repair slots") || !strings.Contains(r.stdout, "heal: done, 1 change(s)") {
		t.Errorf("heal printed %q, want one repair", r.stdout)
	}
	if !self(t, a.Addr).Slots.Has(withKeys) {
		t.Errorf("slot %d went to another node than %s, which holds its keys", withKeys, a.Addr)
	}
	served := 0
	for _, nd := range nodes {
		if self(t, nd.Addr).Slots.Has(empty) {
			served++
		}
	}
	if served != 1 {
		t.Errorf("empty slot %d is served by %d nodes, want 1", empty, served)
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)

	// Both at once: a slot uncovered while another, of the same master, is
	// left IMPORTING on a second master with a key already moved. Keys move
	// only once every slot is served again.
	c := nodes[2]
	two := slotsWithKeys(t, a.Addr, 2)
	if err := client(t, c.Addr).Do(testCtx(t), "CLUSTER", "SETSLOT", two[0], "IMPORTING", string(self(t, a.Addr).ID)).Err(); err != nil {
		t.Fatal(err)
	}
	keys, err := client(t, a.Addr).ClusterGetKeysInSlot(testCtx(t), two[0], 1).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("slot %d has no key to move (%v)", two[0], err)
	}
	if err := client(t, a.Addr).Do(testCtx(t), "MIGRATE", "127.0.0.1", c.Port, "", 0, 5000, "KEYS", keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if err := client(t, nd.Addr).Do(testCtx(t), "CLUSTER", "DELSLOTS", two[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	healDryRun(t, all, "heal plan: repair slots", seed)
	mustRcctl(t, "heal", seed)
	for _, nd := range nodes {
		if me := self(t, nd.Addr); len(me.Migrating)+len(me.Importing) > 0 {
			t.Errorf("%s still has open slots: migrating %v, importing %v", nd.Addr, me.Migrating, me.Importing)
		}
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
}

func TestHealAttachesOrphanMastersToTheFewestReplicasPreferringAnotherHost(t *testing.T) {
	nodes := newCluster(t, 3, 0, healEnv...)
	spares := redisenv.Start(t, 4, healEnv...)
	seed := nodes[0].Addr
	masters, _ := shards(t, nodes)
	m0, m1, m2 := masters[0], masters[1], masters[2]
	r0, r1, o1, o2 := spares[0], spares[1], spares[2], spares[3]
	// m0 and m1 have a replica each, m2 none; o1 and o2 are met into the
	// cluster as empty masters.
	mustRcctl(t, "add-node", r0.Addr, seed, "--replica-of", m0.Addr)
	mustRcctl(t, "add-node", r1.Addr, seed, "--replica-of", m1.Addr)
	for _, o := range []*redisenv.Node{o1, o2} {
		if err := client(t, o.Addr).Do(testCtx(t), "CLUSTER", "MEET", "127.0.0.1", m0.Port, m0.BusPort).Err(); err != nil {
			t.Fatal(err)
		}
	}
	all := append(append([]*redisenv.Node{}, nodes...), spares...)
	waitAllKnow(t, all)
	loadKeys(t, seed, 5000)
	// o1 shares m2's host: it goes to m0 or m1 although m2 has fewer
	// replicas. o2 shares m0's host: m2, on another host, has the fewest.
	hosts := hostOf(map[*redisenv.Node]string{m0: "a", r0: "b", m1: "b", r1: "c", m2: "c", o1: "c", o2: "a"})

	healDryRun(t, addrs(all), "heal plan: attach replicas", append([]string{seed}, hosts...)...)
	r := mustRcctl(t, append([]string{"heal", seed}, hosts...)...)
	if !strings.Contains(r.stdout, "pass 1: attach replicas") {
		t.Errorf("heal printed %q, want the orphans attached", r.stdout)
	}
	if m := masterOf(t, o1, all); m != m0 && m != m1 {
		t.Errorf("o1 (host c) replicates %v, want m0 or m1 (off host c)", m)
	}
	if m := masterOf(t, o2, all); m != m2 {
		t.Errorf("o2 (host a) replicates %v, want m2 (host c, fewest replicas)", m)
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
}

func TestHealForgetsAKilledNodeOnlyAfterForgetAfter(t *testing.T) {
	nodes := newCluster(t, 6, 1, healEnv...)
	seed := nodes[0].Addr
	loadKeys(t, seed, 5000)
	masters, replicas := shards(t, nodes)
	// A replica dies, and a master whose replica takes over.
	deadReplica, deadMaster := replicas[masters[0]][0], masters[1]
	heir := replicas[masters[1]][0]
	deadIDs := []topology.NodeID{self(t, deadReplica.Addr).ID, self(t, deadMaster.Addr).ID}
	var live []*redisenv.Node
	for _, nd := range nodes {
		if nd != deadReplica && nd != deadMaster {
			live = append(live, nd)
		}
	}
	deadReplica.Kill()
	deadMaster.Kill()
	killed := time.Now()
	known := func(nd *redisenv.Node, id topology.NodeID) *topology.Node {
		text, err := client(t, nd.Addr).ClusterNodes(testCtx(t)).Result()
		if err != nil {
			t.Fatalf("cluster nodes %s: %v", nd.Addr, err)
		}
		v, err := topology.ParseClusterNodes(text)
		if err != nil {
			t.Fatal(err)
		}
		return v.Node(id)
	}
	waitFor(t, "the replica to take over and both dead nodes to be flagged fail", 30*time.Second, func() bool {
		if !self(t, heir.Addr).IsMaster() {
			return false
		}
		for _, nd := range live {
			for _, id := range deadIDs {
				if n := known(nd, id); n == nil || !n.Flags.Has(topology.FlagFail) {
					return false
				}
			}
		}
		return true
	})

	// Flagged fail, but heard from less than an hour ago: kept, while a
	// slot left IMPORTING is repaired (heal waits for the live nodes to
	// agree, with the dead ones still listed).
	a, c := masters[0], masters[2]
	if err := client(t, c.Addr).Do(testCtx(t), "CLUSTER", "SETSLOT", slotsWithKeys(t, a.Addr, 1)[0], "IMPORTING", string(self(t, a.Addr).ID)).Err(); err != nil {
		t.Fatal(err)
	}
	r := mustRcctl(t, "heal", seed, "--forget-after", "1h")
	if !strings.Contains(r.stdout, "pass 1: repair slots") || strings.Contains(r.stdout, "forget") {
		t.Errorf("heal --forget-after 1h printed %q, want a repair and nothing forgotten", r.stdout)
	}
	for _, nd := range live {
		for _, id := range deadIDs {
			if known(nd, id) == nil {
				t.Fatalf("%s forgot %s before --forget-after passed", nd.Addr, id.Short())
			}
		}
	}

	time.Sleep(time.Until(killed.Add(2500 * time.Millisecond)))
	healDryRun(t, addrs(live), "heal plan: forget", seed, "--forget-after", "2s")
	r = mustRcctl(t, "heal", seed, "--forget-after", "2s")
	if !strings.Contains(r.stdout, "pass 1: forget") {
		t.Errorf("heal printed %q, want the dead nodes forgotten", r.stdout)
	}
	for _, nd := range live {
		for _, id := range deadIDs {
			if known(nd, id) != nil {
				t.Errorf("%s still knows dead node %s", nd.Addr, id.Short())
			}
		}
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
}

func TestHealSpreadsTwoMastersOnOneHostByGracefulFailover(t *testing.T) {
	nodes := newCluster(t, 6, 1, healEnv...)
	seed := nodes[0].Addr
	loadKeys(t, seed, 5000)
	masters, replicas := shards(t, nodes)
	m0, m1, m2 := masters[0], masters[1], masters[2]
	r0, r1, r2 := replicas[m0][0], replicas[m1][0], replicas[m2][0]
	host := map[*redisenv.Node]string{m0: "a", m1: "a", m2: "b", r0: "c", r1: "c", r2: "a"}
	hosts := hostOf(host)

	healDryRun(t, addrs(nodes), "heal plan: failover", append([]string{seed}, hosts...)...)
	r := mustRcctl(t, append([]string{"heal", seed}, hosts...)...)
	if !strings.Contains(r.stdout, "pass 1: failover") {
		t.Errorf("heal printed %q, want a failover", r.stdout)
	}
	perHost := map[string]int{}
	for _, nd := range nodes {
		if me := self(t, nd.Addr); me.IsMaster() && !me.Slots.IsEmpty() {
			perHost[host[nd]]++
		}
	}
	if perHost["a"] != 1 || perHost["b"] != 1 || perHost["c"] != 1 {
		t.Errorf("masters per host after heal: %v, want one on each of a, b and c", perHost)
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
}

func TestHealRepointsAReplicaOnItsMastersHost(t *testing.T) {
	nodes := newCluster(t, 6, 1, healEnv...)
	seed := nodes[0].Addr
	loadKeys(t, seed, 5000)
	masters, replicas := shards(t, nodes)
	m0, m1, m2 := masters[0], masters[1], masters[2]
	r0, r1, r2 := replicas[m0][0], replicas[m1][0], replicas[m2][0]
	// r0 shares m0's host a.
	host := map[*redisenv.Node]string{m0: "a", r0: "a", m1: "b", r1: "c", m2: "c", r2: "b"}
	hosts := hostOf(host)

	healDryRun(t, addrs(nodes), "heal plan: move replica", append([]string{seed}, hosts...)...)
	r := mustRcctl(t, append([]string{"heal", seed}, hosts...)...)
	if !strings.Contains(r.stdout, "pass 1: move replica") {
		t.Errorf("heal printed %q, want a replica moved", r.stdout)
	}
	newMaster := masterOf(t, r0, nodes)
	if newMaster != m1 && newMaster != m2 {
		t.Fatalf("r0 replicates %v after heal, want m1 or m2", newMaster)
	}
	partner := replicas[newMaster][0]
	if m := masterOf(t, partner, nodes); m != m0 {
		t.Errorf("%s's replica replicates %v after heal, want m0 (the swap)", newMaster.Addr, m)
	}
	for _, nd := range nodes {
		if m := masterOf(t, nd, nodes); m != nil && host[m] == host[nd] {
			t.Errorf("replica %s still shares host %s with its master %s", nd.Addr, host[nd], m.Addr)
		}
	}
	referee(t, seed)
	verifyKeys(t, seed, 5000)
}

func TestHealSaysSoWhenADeadMasterServesSlots(t *testing.T) {
	nodes := newCluster(t, 3, 0, healEnv...)
	seed := nodes[0].Addr
	dead := nodes[2]
	deadID := self(t, dead.Addr).ID
	dead.Kill()
	live := addrs(nodes[:2])
	before := clusterNodesWithoutTimes(t, live)
	r := mustRcctl(t, "heal", seed)
	for _, want := range []string{"heal: nothing to do", "note: master " + deadID.Short() + " (" + dead.Addr + ") serves 5461 slots and does not answer"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("heal printed %q, want %q", r.stdout, want)
		}
	}
	after := clusterNodesWithoutTimes(t, live)
	// The dead node's own line may go from fail? to fail meanwhile: the
	// live nodes' lines must not change.
	strip := func(listing string) string {
		var keep []string
		for _, l := range strings.Split(listing, "\n") {
			if !strings.HasPrefix(l, string(deadID)) {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	for _, a := range live {
		if strip(before[a]) != strip(after[a]) {
			t.Errorf("heal changed CLUSTER NODES of %s:\nbefore:\n%s\nafter:\n%s", a, before[a], after[a])
		}
	}
}

func TestHealRefusesBadFlagsWithUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--host-of", "127.0.0.1:7000"}, `--host-of "127.0.0.1:7000": want ADDR=HOST`},
		{[]string{"--host-of", "nohost=a"}, `--host-of "nohost=a": nohost is not a host:port address`},
		{[]string{"--host-of", "127.0.0.1:7000=a", "--host-of", "127.0.0.1:7000=b"}, "already on host a"},
		{[]string{"--forget-after", "0s"}, "--forget-after 0s: must be positive"},
		{[]string{"--forget-after", "soon"}, "soon"},
	} {
		// Nothing listens on port 1: a usage error contacts no node.
		r := rcctl(t, append([]string{"heal", "127.0.0.1:1"}, c.args...)...)
		oneLineErr(t, r, ExitUsage, c.want)
	}
}

func TestUnsettledToleratesSilentNodesButNotDisagreement(t *testing.T) {
	id := func(c byte) string { return strings.Repeat(string(c), 40) }
	// a and b are masters, r replicates a, d is dead (flagged fail).
	lines := map[byte]string{
		'a': id('a') + " 10.0.0.1:6379@16379 master - 0 1 1 connected 0-8191",
		'b': id('b') + " 10.0.0.2:6379@16379 master - 0 1 2 connected 8192-16383",
		'r': id('c') + " 10.0.0.3:6379@16379 slave " + id('a') + " 0 1 1 connected",
		'd': id('d') + " 10.0.0.4:6379@16379 slave,fail " + id('b') + " 0 1 2 disconnected",
	}
	addr := map[byte]string{'a': "10.0.0.1:6379", 'b': "10.0.0.2:6379", 'r': "10.0.0.3:6379"}
	// snapshot builds what a, b and r report; edit changes the line of
	// node `of` in the view of node `in`.
	snapshot := func(edit func(in, of byte, line string) string, syncing bool) *topology.Snapshot {
		snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
		for _, me := range []byte{'a', 'b', 'r'} {
			var text []string
			for _, of := range []byte{'a', 'b', 'r', 'd'} {
				l := lines[of]
				if of == me {
					l = strings.Replace(l, " master ", " myself,master ", 1)
					l = strings.Replace(l, " slave ", " myself,slave ", 1)
				}
				if edit != nil {
					l = edit(me, of, l)
				}
				text = append(text, l)
			}
			v, err := topology.ParseClusterNodes(strings.Join(text, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			ns := &topology.NodeState{Addr: addr[me], View: v, ClusterStateOK: true, Replication: topology.Replication{Role: "master"}}
			if me == 'r' {
				ns.Replication = topology.Replication{Role: "slave", MasterLinkUp: !syncing, MasterSyncInProgress: syncing}
			}
			snap.Nodes[v.Myself().ID] = ns
		}
		return snap
	}
	cases := []struct {
		name    string
		edit    func(in, of byte, line string) string
		syncing bool
		want    string
	}{
		{name: "settled while a dead node is still listed", want: ""},
		{name: "a replica still syncing", syncing: true, want: "10.0.0.3:6379: replica of aaaaaaaa has not finished its sync"},
		{
			name: "a node sees an answering node fail?",
			edit: func(in, of byte, l string) string {
				if in == 'b' && of == 'a' {
					return strings.Replace(l, " master ", " master,fail? ", 1)
				}
				return l
			},
			want: "10.0.0.2:6379: sees node aaaaaaaa (10.0.0.1:6379) as master,fail?",
		},
		{
			name: "views disagree on a replica's master",
			edit: func(in, of byte, l string) string {
				if in == 'b' && of == 'r' {
					return strings.Replace(l, id('a'), id('b'), 1)
				}
				return l
			},
			want: `says node cccccccc replicates "bbbbbbbb"`,
		},
		{
			name: "a node forgot the dead one",
			edit: func(in, of byte, l string) string {
				if in == 'r' && of == 'd' {
					return id('e') + " 10.0.0.5:6379@16379 slave,fail " + id('b') + " 0 1 2 disconnected"
				}
				return l
			},
			want: "knows node",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := unsettled(snapshot(c.edit, c.syncing))
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Fatalf("unsettled = %q, want %q", got, c.want)
			}
		})
	}
}
