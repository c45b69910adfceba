package executor

import (
	"errors"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

func TestCheckPromotion(t *testing.T) {
	master := &topology.Replication{Role: "master", Offset: 5000}
	cases := []struct {
		name   string
		r      topology.Replication
		master *topology.Replication
		safe   bool
	}{
		{"caught-up replica with link up is safe", topology.Replication{Role: "slave", MasterLinkUp: true, Offset: 5000}, master, true},
		{"replica in first sync is refused", topology.Replication{Role: "slave", MasterSyncInProgress: true}, master, false},
		{"replica with link down is refused", topology.Replication{Role: "slave", Offset: 5000}, master, false},
		{"replica far behind is refused", topology.Replication{Role: "slave", MasterLinkUp: true, Offset: 10}, &topology.Replication{Role: "master", Offset: 10 + 2<<20}, false},
		{"a master is not a promotion target", topology.Replication{Role: "master"}, nil, false},
		{"unreachable master: judged on link state alone", topology.Replication{Role: "slave", MasterLinkUp: true, Offset: 7}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPromotion("0123456789012345678901234567890123456789", c.r, c.master, 1<<20)
			if c.safe && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.safe && !errors.Is(err, ErrUnsafePromotion) {
				t.Fatalf("got %v, want ErrUnsafePromotion", err)
			}
		})
	}
}
