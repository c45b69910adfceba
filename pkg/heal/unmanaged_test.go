package heal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// bare is one Redis node of a cluster nobody declared (rcctl heal).
type bare struct {
	// id numbers the node; its address is 10.0.0.<id>:6379.
	id int
	// host is the --host-of hint ("": none, the node counts as on its IP).
	host string
	// of is the id of the master it replicates (0: a master).
	of    int
	slots topology.SlotSet
	keys  int64
	// silent nodes do not answer; fail is set when the others flag it
	// fail, having last heard from it silentFor ago.
	silent, fail bool
	silentFor    time.Duration
}

func bareID(id int) topology.NodeID { return topology.NodeID(fmt.Sprintf("%040x", id)) }

func bareAddr(id int) string { return fmt.Sprintf("10.0.0.%d:6379", id) }

// bareSnapshot returns what the answering nodes report at now: each knows
// every node, flags the failed ones fail, and replicas are in sync.
func bareSnapshot(now time.Time, nodes ...bare) *topology.Snapshot {
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	line := func(b bare) *topology.Node {
		n := &topology.Node{ID: bareID(b.id), Addr: bareAddr(b.id), BusPort: 16379, Slots: b.slots, Connected: !b.silent, Flags: topology.FlagMaster}
		if b.of != 0 {
			n.Flags, n.MasterID = topology.FlagReplica, bareID(b.of)
		}
		n.PongRecv = now.UnixMilli()
		if b.silent {
			n.PongRecv = now.Add(-b.silentFor).UnixMilli()
		}
		if b.fail {
			n.Flags |= topology.FlagFail
		}
		return n
	}
	for _, b := range nodes {
		if b.silent {
			snap.Unreachable[bareAddr(b.id)] = "connection refused"
			continue
		}
		v := &topology.View{}
		for _, o := range nodes {
			n := line(o)
			if o.id == b.id {
				n.Flags |= topology.FlagMyself
			}
			v.Nodes = append(v.Nodes, n)
		}
		rep := topology.Replication{Role: "master", Offset: 1000}
		if b.of != 0 {
			rep = topology.Replication{Role: "slave", MasterLinkUp: true, Offset: 1000}
		}
		snap.Nodes[bareID(b.id)] = &topology.NodeState{
			Addr: bareAddr(b.id), View: v, Replication: rep, Keys: b.keys, ClusterStateOK: true,
			Labels: topology.Labels{Host: b.host},
		}
	}
	return snap
}

// threeShards returns masters 1, 2, 3 serving a third of the slots each.
func threeShards(hosts ...string) []bare {
	r := planner.SplitEvenly(3)
	out := make([]bare, 3)
	for i := range out {
		out[i] = bare{id: i + 1, slots: topology.RangeSet(r[i].Start, r[i].End)}
		if i < len(hosts) {
			out[i].host = hosts[i]
		}
	}
	return out
}

// decideBare runs the default chain on the unmanaged observation of nodes.
func decideBare(t *testing.T, forgetAfter time.Duration, nodes ...bare) heal.Decision {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	d := heal.DefaultChain().Decide(heal.Derive(heal.Unmanaged(bareSnapshot(now, nodes...), now, forgetAfter)))
	if d.MemberOp != heal.NoMemberOp || d.Member != "" {
		t.Fatalf("decided %s on member %q: no member operation is possible outside a platform", d.Kind, d.Member)
	}
	return d
}

// steps renders a plan's steps, one per line.
func steps(p planner.Plan) string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.String())
	}
	return strings.Join(out, "\n")
}

func TestUnmanagedDerivesGroupsHostsAndOrphans(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	nodes := append(threeShards("a", "", "c"),
		bare{id: 4, of: 1, host: "b"}, bare{id: 5, of: 2}, bare{id: 6}, bare{id: 7, of: 6})
	o := heal.Unmanaged(bareSnapshot(now, nodes...), now, time.Minute)
	if o.Spec.Declared || o.Spec.Masters != 3 || o.Spec.ReplicasPerMaster != 0 {
		t.Errorf("spec = %+v, want 3 undeclared masters with the fewest replicas found (0)", o.Spec)
	}
	if o.Platform != (heal.Platform{}) || !o.Memory.WasReady || o.ForgetAfter != time.Minute {
		t.Errorf("platform %+v, memory %+v, forgetAfter %s", o.Platform, o.Memory, o.ForgetAfter)
	}
	want := map[string]struct {
		group, ordinal int
		host           string
	}{
		bareAddr(1): {0, 0, "a"}, bareAddr(2): {1, 0, "10.0.0.2"}, bareAddr(3): {2, 0, "c"},
		bareAddr(4): {0, 1, "b"}, bareAddr(5): {1, 1, "10.0.0.5"},
		bareAddr(6): {-1, 0, "10.0.0.6"}, bareAddr(7): {-1, 0, "10.0.0.7"},
	}
	if len(o.Members) != len(want) {
		t.Fatalf("%d members, want %d", len(o.Members), len(want))
	}
	for _, m := range o.Members {
		w := want[m.Addr]
		if m.Group != w.group || m.Ordinal != w.ordinal || m.Host != w.host || !m.Ready || m.State == nil {
			t.Errorf("member %s: group %d ordinal %d host %q, want %+v", m.Addr, m.Group, m.Ordinal, m.Host, w)
		}
	}
	if got := strings.Join(o.Hosts, ","); got != "10.0.0.2,10.0.0.5,10.0.0.6,10.0.0.7,a,b,c" {
		t.Errorf("hosts = %s", got)
	}
}

func TestUnmanagedAttachesOrphans(t *testing.T) {
	cases := []struct {
		name  string
		nodes []bare
		want  string
	}{
		{
			name:  "to the master with the fewest replicas",
			nodes: append(threeShards(), bare{id: 4, of: 1}, bare{id: 5, of: 3}, bare{id: 9}),
			want:  fmt.Sprintf("make %s a replica of %s", bareID(9).Short(), bareID(2).Short()),
		},
		{
			name:  "to another host than its own before fewer replicas",
			nodes: append(threeShards("a", "b", "c"), bare{id: 4, of: 1, host: "b"}, bare{id: 5, of: 3, host: "a"}, bare{id: 9, host: "b"}),
			want:  fmt.Sprintf("make %s a replica of %s", bareID(9).Short(), bareID(1).Short()),
		},
		{
			name:  "two orphans spread over the masters with the fewest replicas",
			nodes: append(threeShards(), bare{id: 4, of: 1}, bare{id: 8}, bare{id: 9}),
			want: fmt.Sprintf("make %s a replica of %s\nmake %s a replica of %s",
				bareID(8).Short(), bareID(2).Short(), bareID(9).Short(), bareID(3).Short()),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideBare(t, time.Minute, c.nodes...)
			if d.Kind != heal.Attach || steps(d.Plan) != c.want {
				t.Fatalf("decided %s:\n%s\nwant attach:\n%s", d.Kind, steps(d.Plan), c.want)
			}
		})
	}
}

func TestUnmanagedLeavesAnOrphanHoldingKeysAlone(t *testing.T) {
	d := decideBare(t, time.Minute, append(threeShards(), bare{id: 9, keys: 12})...)
	if !d.IsNone() {
		t.Fatalf("decided %s (%s) for an empty-slotted master holding keys; want nothing", d.Kind, steps(d.Plan))
	}
}

func TestUnmanagedForgetsAFailedNodeOnlyAfterForgetAfter(t *testing.T) {
	dead := bare{id: 4, of: 1, silent: true, fail: true, silentFor: 30 * time.Second}
	nodes := append(threeShards(), dead)
	if d := decideBare(t, time.Minute, nodes...); !d.IsNone() {
		t.Errorf("silent for 30s with --forget-after 1m: decided %s (%s), want nothing", d.Kind, steps(d.Plan))
	}
	d := decideBare(t, 10*time.Second, nodes...)
	if want := fmt.Sprintf("forget %s on every node", bareID(4).Short()); d.Kind != heal.Forget || steps(d.Plan) != want {
		t.Errorf("silent for 30s with --forget-after 10s: decided %s (%s), want %s", d.Kind, steps(d.Plan), want)
	}
	dead.fail = false
	if d := decideBare(t, 10*time.Second, append(threeShards(), dead)...); !d.IsNone() {
		t.Errorf("silent but not flagged fail: decided %s (%s), want nothing", d.Kind, steps(d.Plan))
	}
}

func TestUnmanagedNeverForgetsTheMasterOfAnAnsweringReplica(t *testing.T) {
	// Node 9 was an empty master with a replica, and died: CLUSTER FORGET
	// on node 10 would answer "Can't forget my master!".
	nodes := append(threeShards(), bare{id: 9, silent: true, fail: true, silentFor: time.Hour}, bare{id: 10, of: 9})
	d := decideBare(t, time.Minute, nodes...)
	if strings.Contains(steps(d.Plan), "forget "+bareID(9).Short()) {
		t.Fatalf("decided %s:\n%s\nwant node 9 kept while node 10 replicates it", d.Kind, steps(d.Plan))
	}
}

func TestUnmanagedSwapsAReplicaOffItsMastersHost(t *testing.T) {
	nodes := append(threeShards("a", "b", "c"),
		bare{id: 4, of: 1, host: "a"}, bare{id: 5, of: 2, host: "c"}, bare{id: 6, of: 3, host: "b"})
	d := decideBare(t, time.Minute, nodes...)
	want := fmt.Sprintf("make %s a replica of %s\nmake %s a replica of %s", bareID(4).Short(), bareID(2).Short(), bareID(5).Short(), bareID(1).Short())
	if d.Kind != heal.MoveReplica || steps(d.Plan) != want {
		t.Fatalf("decided %s:\n%s\nwant move replica:\n%s", d.Kind, steps(d.Plan), want)
	}
}

func TestUnmanagedSpreadsMastersByGracefulFailover(t *testing.T) {
	nodes := append(threeShards("a", "a", "b"),
		bare{id: 4, of: 1, host: "c"}, bare{id: 5, of: 2, host: "c"}, bare{id: 6, of: 3, host: "a"})
	d := decideBare(t, time.Minute, nodes...)
	if d.Kind != heal.Failover || d.Forced || len(d.Plan.Steps) != 1 {
		t.Fatalf("decided %s (forced %t):\n%s\nwant one graceful failover", d.Kind, d.Forced, steps(d.Plan))
	}
	if f := d.Plan.Steps[0].(planner.Failover); (f.Replica != bareID(4) && f.Replica != bareID(5)) || f.Mode != planner.FailoverGraceful {
		t.Errorf("failover %+v, want node 4 or 5 (on host c) promoted gracefully", f)
	}
}

func TestUnmanagedDoesNothingOnOneHost(t *testing.T) {
	// Without hints every node of a loopback test cluster is on one host:
	// no placement move can help.
	nodes := threeShards("h", "h", "h")
	nodes = append(nodes, bare{id: 4, of: 1, host: "h"}, bare{id: 5, of: 2, host: "h"}, bare{id: 6, of: 3, host: "h"})
	if d := decideBare(t, time.Minute, nodes...); !d.IsNone() {
		t.Fatalf("decided %s:\n%s\nwant nothing", d.Kind, steps(d.Plan))
	}
}
