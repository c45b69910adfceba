package planner

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

func codes(ps []Problem) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p.Code)+"@"+p.Node.Short()+p.Addr)
	}
	return strings.Join(s, " ")
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		snap  func(t testing.TB) *topology.Snapshot
		opts  CheckOptions
		want  string
		error bool
	}{
		{
			name: "reports nothing for a healthy 3x1 cluster",
			snap: healthySnapshot,
			opts: CheckOptions{ReplicasPerMaster: 1},
			want: "",
		},
		{
			name: "reports a master without its expected second replica",
			snap: healthySnapshot,
			opts: CheckOptions{ReplicasPerMaster: 2},
			want: "TooFewReplicas@2f5b4087 TooFewReplicas@98c84686 TooFewReplicas@b0eac867",
		},
		{
			name: "reports both ends of a stuck migration",
			snap: func(t testing.TB) *topology.Snapshot {
				return snapshotOf(t, "migrating-source.txt", "importing-target.txt")
			},
			want: "OpenSlots@2f5b4087 OpenSlots@98c84686", error: true,
		},
		{
			name: "reports the bystander that disagrees about slot 200",
			snap: func(t testing.TB) *topology.Snapshot {
				return snapshotOf(t, "disagree-owner.txt", "disagree-bystander.txt")
			},
			want: "SlotOwnerDisagreement@b0eac867", error: true,
		},
		{
			name: "reports a failed master, its unreachable address and the failed state",
			snap: func(t testing.TB) *topology.Snapshot {
				s := snapshotOf(t, "killed-fail.txt")
				s.Nodes[idM1].ClusterStateOK = false
				s.Unreachable["127.0.0.1:31103"] = "connection refused"
				return s
			},
			want: "NodeUnreachable@127.0.0.1:31103 ClusterStateNotOK@98c84686127.0.0.1:31101 NodeFailing@b0eac867127.0.0.1:31103", error: true,
		},
		{
			name: "reports a node missing from another's table",
			snap: func(t testing.TB) *topology.Snapshot {
				return snapshotOf(t, "joined-empty-master.txt", "healthy-3x1-master.txt")
			},
			// The healthy capture predates the failover: it also lacks no one
			// but the new node, and its slot 10923+ owner (M3, epoch 3) loses
			// to the promoted replica (epoch 8).
			want: "SlotOwnerDisagreement@98c84686 MembershipDisagreement@98c84686", error: true,
		},
		{
			name: "reports replica link down, syncing and lagging",
			snap: func(t testing.TB) *topology.Snapshot {
				s := healthySnapshot(t)
				s.Nodes[idR1].Replication.MasterLinkUp = false
				s.Nodes[idR2].Replication.MasterSyncInProgress = true
				s.Nodes[idR3].Replication.Offset = 10
				return s
			},
			want: "ReplicaLagging@11954c80 ReplicaSyncing@3eac0ffe ReplicaLinkDown@e3f74747", error: true,
		},
		{
			name: "reports a replica on its master's host",
			snap: func(t testing.TB) *topology.Snapshot {
				s := healthySnapshot(t)
				s.Nodes[idR1].Labels.Host = s.Nodes[idM1].Labels.Host
				return s
			},
			want: "ReplicaSameHost@e3f74747",
		},
		{
			name: "reports uncovered slots",
			snap: func(t testing.TB) *topology.Snapshot {
				s := snapshotOf(t, "fresh-node.txt")
				return s
			},
			want: "UncoveredSlots@", error: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.snap(t), tt.opts)
			if codes(got) != tt.want {
				t.Errorf("problems = %q, want %q\n%v", codes(got), tt.want, got)
			}
			if HasErrors(got) != tt.error {
				t.Errorf("HasErrors = %v, want %v", HasErrors(got), tt.error)
			}
			for _, p := range got {
				if p.Message == "" || strings.Contains(p.Message, "\n") {
					t.Errorf("message %q is not one line", p.Message)
				}
			}
		})
	}
}

func TestCheckProblemDetails(t *testing.T) {
	got := Check(snapshotOf(t, "migrating-source.txt", "importing-target.txt"), CheckOptions{})
	if len(got) != 2 || got[1].Node != idM1 || got[1].Slots.String() != "100" || !strings.Contains(got[1].Message, "100 migrating to 2f5b4087") {
		t.Fatalf("problems = %+v", got)
	}
	b, err := json.Marshal(got[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"severity":"error"`) || !strings.Contains(string(b), `"slots":"100"`) {
		t.Fatalf("json = %s", b)
	}
	uncovered := Check(snapshotOf(t, "fresh-node.txt"), CheckOptions{})
	if !uncovered[0].Slots.IsFull() {
		t.Fatalf("uncovered slots = %s", uncovered[0].Slots)
	}
}

func TestAgree(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		slot     int
		owner    topology.NodeID
		disputed string
	}{
		{"the importing target that took the slot wins over the source", []string{"half-done-source.txt", "half-done-target.txt"}, 100, idM2, ""},
		{"the owner's own claim wins over a bystander's belief", []string{"disagree-owner.txt", "disagree-bystander.txt"}, 200, idM1, "200"},
		{"a promoted replica's higher epoch wins over a stale view", []string{"healthy-3x1-master.txt", "rejoined-as-replica.txt"}, 16000, idR3, "100,10923-16383"},
		{"an unreachable failed master keeps the slots reported for it", []string{"killed-fail.txt"}, 16000, idM3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Agree(snapshotOf(t, tt.files...))
			if c.Owners[tt.slot] != tt.owner {
				t.Errorf("owner of %d = %s, want %s", tt.slot, c.Owners[tt.slot], tt.owner)
			}
			if c.Disputed.String() != tt.disputed {
				t.Errorf("disputed = %q, want %q", c.Disputed, tt.disputed)
			}
			if err := c.Ownership().Validate(); err != nil {
				t.Error(err)
			}
			for _, n := range c.View.Nodes {
				if n.IsMyself() || n.Flags.Has(topology.FlagHandshake) {
					t.Errorf("merged view keeps line %s", n)
				}
			}
		})
	}
}
