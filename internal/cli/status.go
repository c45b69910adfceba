package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/topology"
)

// statusReport is the result of `rcctl status`, also its JSON form.
type statusReport struct {
	// Shards lists each master with its replicas, ordered by first slot.
	Shards []shardStatus `json:"shards"`
	// Unreachable maps addresses that could not be queried to the error.
	Unreachable map[string]string `json:"unreachable,omitempty"`
	// StateOK reports whether every reachable node says cluster_state:ok.
	StateOK bool `json:"stateOK"`
}

// shardStatus is one master and its replicas.
type shardStatus struct {
	Shard    int          `json:"shard"`
	Master   nodeStatus   `json:"master"`
	Replicas []nodeStatus `json:"replicas"`
	// Slots is the slot ranges the master serves ("0-5460").
	Slots     string `json:"slots"`
	SlotCount int    `json:"slotCount"`
}

// nodeStatus is one node of a shard.
type nodeStatus struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	Keys       int64  `json:"keys"`
	UsedMemory int64  `json:"usedMemory"`
	// Link is "ok"/"fail" for a master (as its peers see it), and "up",
	// "syncing" or "down" for a replica's replication link.
	Link string `json:"link"`
	// Offset is the replication offset.
	Offset int64 `json:"offset"`
}

// buildStatus summarises a snapshot. Only reachable nodes' own lines are
// trusted for role and slots.
func buildStatus(snap *topology.Snapshot) statusReport {
	rep := statusReport{Unreachable: snap.Unreachable, StateOK: len(snap.Nodes) > 0}
	failing := map[topology.NodeID]bool{}
	for _, ns := range snap.Nodes {
		if !ns.ClusterStateOK {
			rep.StateOK = false
		}
		for _, n := range ns.View.Nodes {
			if n.Failing() {
				failing[n.ID] = true
			}
		}
	}
	if len(snap.Unreachable) > 0 {
		rep.StateOK = false
	}
	byMaster := map[topology.NodeID][]*topology.NodeState{}
	var masters []*topology.NodeState
	for _, id := range snap.IDs() {
		ns := snap.Nodes[id]
		self := ns.Self()
		if self == nil {
			continue
		}
		if self.IsMaster() {
			masters = append(masters, ns)
		} else {
			byMaster[self.MasterID] = append(byMaster[self.MasterID], ns)
		}
	}
	sort.SliceStable(masters, func(i, j int) bool {
		fi, fj := firstSlot(masters[i]), firstSlot(masters[j])
		if fi != fj {
			return fi < fj
		}
		return masters[i].Self().ID < masters[j].Self().ID
	})
	for i, m := range masters {
		self := m.Self()
		ss := shardStatus{
			Shard:     i,
			Master:    nodeOf(m, failing),
			Slots:     self.Slots.String(),
			SlotCount: self.Slots.Count(),
		}
		for _, r := range byMaster[self.ID] {
			ss.Replicas = append(ss.Replicas, nodeOf(r, failing))
		}
		delete(byMaster, self.ID)
		rep.Shards = append(rep.Shards, ss)
	}
	// Replicas of a master we could not reach still deserve a line.
	var orphans []topology.NodeID
	for id := range byMaster {
		orphans = append(orphans, id)
	}
	sort.Slice(orphans, func(i, j int) bool { return orphans[i] < orphans[j] })
	for _, id := range orphans {
		ss := shardStatus{Shard: len(rep.Shards), Master: nodeStatus{ID: string(id), Link: "unreachable"}}
		for _, r := range byMaster[id] {
			ss.Replicas = append(ss.Replicas, nodeOf(r, failing))
		}
		rep.Shards = append(rep.Shards, ss)
	}
	return rep
}

func firstSlot(ns *topology.NodeState) int {
	if ns.Self().Slots.IsEmpty() {
		return topology.SlotCount
	}
	return ns.Self().Slots.First()
}

func nodeOf(ns *topology.NodeState, failing map[topology.NodeID]bool) nodeStatus {
	self := ns.Self()
	n := nodeStatus{
		ID:         string(self.ID),
		Addr:       ns.Addr,
		Keys:       ns.Keys,
		UsedMemory: ns.UsedMemory,
		Offset:     ns.Replication.Offset,
	}
	switch {
	case self.IsMaster() && failing[self.ID]:
		n.Link = "fail"
	case self.IsMaster():
		n.Link = "ok"
	case ns.Replication.MasterLinkUp:
		n.Link = "up"
	case ns.Replication.MasterSyncInProgress:
		n.Link = "syncing"
	default:
		n.Link = "down"
	}
	return n
}

// writeStatusTable renders rep as an aligned table.
func writeStatusTable(w io.Writer, rep statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tab := &textout.Writer{W: tw}
	tab.Println("SHARD\tROLE\tNODE\tADDR\tSLOTS\tKEYS\tMEMORY\tLINK")
	for _, s := range rep.Shards {
		m := s.Master
		tab.Printf("%d\tmaster\t%s\t%s\t%d [%s]\t%d\t%s\t%s\n", s.Shard, short(m.ID), m.Addr, s.SlotCount, s.Slots, m.Keys, humanBytes(m.UsedMemory), m.Link)
		for _, r := range s.Replicas {
			tab.Printf("%d\treplica\t%s\t%s\t-\t%d\t%s\t%s\n", s.Shard, short(r.ID), r.Addr, r.Keys, humanBytes(r.UsedMemory), r.Link)
		}
	}
	if tab.Err() != nil {
		return fmt.Errorf("write table: %w", tab.Err())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	addrs := make([]string, 0, len(rep.Unreachable))
	for a := range rep.Unreachable {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		if _, err := fmt.Fprintf(w, "unreachable: %s (%s)\n", a, strings.TrimSpace(rep.Unreachable[a])); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	state := "ok"
	if !rep.StateOK {
		state = "not ok"
	}
	_, err := fmt.Fprintf(w, "cluster state: %s\n", state)
	return err
}

func short(id string) string { return topology.NodeID(id).Short() }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ADDR",
		Short: "Show shards, masters, replicas, slots, keys, memory and link state",
		Example: `  rcctl status 10.0.0.1:6379
  rcctl status 10.0.0.1:6379 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.close()
			rep := buildStatus(s.snap)
			if a.g.json {
				return a.printJSON(rep)
			}
			return writeStatusTable(a.stdout, rep)
		},
	}
}
