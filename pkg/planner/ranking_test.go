package planner

import (
	"errors"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

func replica(i int, up bool, offset int64) ReplicaStatus {
	return ReplicaStatus{ID: nodeID(i), Replication: topology.Replication{Role: "slave", MasterLinkUp: up, Offset: offset}}
}

func TestRankReplicas(t *testing.T) {
	master := topology.Replication{Role: "master", Offset: 500}
	down := replica(0, false, 900)
	broken := replica(1, true, 999)
	broken.Err = errors.New("i/o timeout")
	behind := replica(2, true, 400)
	best := replica(4, true, 500)
	tie := replica(3, true, 500)
	got := RankReplicas(master, []ReplicaStatus{down, broken, behind, best, tie})
	var order []topology.NodeID
	for _, c := range got {
		order = append(order, c.ID)
	}
	want := []topology.NodeID{tie.ID, best.ID, behind.ID, down.ID, broken.ID}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order = %v, want %v", order, want)
		}
	}
	if !got[0].Safe || !got[1].Safe || got[2].Safe || got[3].Safe || got[4].Safe {
		t.Errorf("safe flags wrong: %+v", got)
	}
}

func TestPromotionSafe(t *testing.T) {
	master := topology.Replication{Role: "master", Offset: 1000}
	syncing := replica(0, true, 1000)
	syncing.Replication.MasterSyncInProgress = true
	failed := replica(0, true, 1000)
	failed.Err = errors.New("connection refused")
	tests := []struct {
		name   string
		master topology.Replication
		rep    ReplicaStatus
		maxLag int64
		reason string // "" means safe
	}{
		{"safe once caught up", master, replica(0, true, 1000), 0, ""},
		{"safe ahead of a master observed earlier", master, replica(0, true, 1200), 0, ""},
		{"unsafe before its first sync: link down", master, replica(0, false, 0), 0, "link to the master down"},
		{"unsafe with the link up but no data yet", master, replica(0, true, 0), 1 << 20, "no replicated data"},
		{"unsafe during a sync", master, syncing, 0, "still in its sync"},
		{"unsafe when it did not answer", master, failed, 0, "did not answer"},
		{"unsafe when behind", master, replica(0, true, 900), 0, "trails the master by 100 bytes"},
		{"safe when behind within the allowed lag", master, replica(0, true, 900), 100, ""},
		{"safe for an empty fresh shard", topology.Replication{Role: "master"}, replica(0, true, 0), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := PromotionSafeWithin(tt.master, tt.rep, tt.maxLag)
			if ok != (tt.reason == "") || !strings.Contains(reason, tt.reason) {
				t.Errorf("PromotionSafeWithin = %v %q, want reason %q", ok, reason, tt.reason)
			}
			if tt.maxLag == 0 {
				ok2, reason2 := PromotionSafe(tt.master, tt.rep)
				if ok2 != ok || reason2 != reason {
					t.Errorf("PromotionSafe = %v %q differs", ok2, reason2)
				}
			}
		})
	}
}
