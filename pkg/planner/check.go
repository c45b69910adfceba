package planner

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/redkube/redkube/pkg/topology"
)

// Severity grades a Problem.
type Severity int

const (
	// SeverityWarning is a problem that does not stop the cluster from
	// serving every slot now, but weakens it (a replica lagging, a master
	// without a replica).
	SeverityWarning Severity = iota + 1
	// SeverityError is a problem that makes slots unavailable or the
	// topology inconsistent; rcctl check exits non-zero on it.
	SeverityError
)

// String returns "warning" or "error".
func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// MarshalText renders the severity as String does, for JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ProblemCode names a kind of Problem; codes are stable CamelCase tokens
// that scripts may match on.
type ProblemCode string

// The problems Check reports.
const (
	// ProblemUncoveredSlots: no node serves some slots.
	ProblemUncoveredSlots ProblemCode = "UncoveredSlots"
	// ProblemOpenSlots: a node has slots left MIGRATING or IMPORTING.
	ProblemOpenSlots ProblemCode = "OpenSlots"
	// ProblemSlotOwnerDisagreement: a node's view names another owner for
	// some slots than the consensus does.
	ProblemSlotOwnerDisagreement ProblemCode = "SlotOwnerDisagreement"
	// ProblemMembershipDisagreement: a node does not know some nodes that
	// other nodes know.
	ProblemMembershipDisagreement ProblemCode = "MembershipDisagreement"
	// ProblemNodeFailing: some node flags another fail or fail?.
	ProblemNodeFailing ProblemCode = "NodeFailing"
	// ProblemNodeUnreachable: a known address could not be queried.
	ProblemNodeUnreachable ProblemCode = "NodeUnreachable"
	// ProblemReplicaLinkDown: a replica's link to its master is down.
	ProblemReplicaLinkDown ProblemCode = "ReplicaLinkDown"
	// ProblemReplicaSyncing: a replica is in a full sync with its master.
	ProblemReplicaSyncing ProblemCode = "ReplicaSyncing"
	// ProblemReplicaLagging: a replica's offset trails its master's by more
	// than the allowed lag.
	ProblemReplicaLagging ProblemCode = "ReplicaLagging"
	// ProblemTooFewReplicas: a master serving slots has fewer healthy
	// replicas than expected.
	ProblemTooFewReplicas ProblemCode = "TooFewReplicas"
	// ProblemReplicaSameHost: a replica runs on the same host as its master.
	ProblemReplicaSameHost ProblemCode = "ReplicaSameHost"
	// ProblemClusterStateNotOK: a node reports cluster_state:fail.
	ProblemClusterStateNotOK ProblemCode = "ClusterStateNotOK"
)

// Problem is one finding of Check.
type Problem struct {
	// Code says what kind of problem it is.
	Code ProblemCode `json:"code"`
	// Severity grades it.
	Severity Severity `json:"severity"`
	// Node is the affected node, when one is.
	Node topology.NodeID `json:"node,omitempty"`
	// Addr is the affected address, for nodes known only by address.
	Addr string `json:"addr,omitempty"`
	// Slots are the affected slots, when some are.
	Slots topology.SlotSet `json:"slots"`
	// Message is a one-line description for humans.
	Message string `json:"message"`
}

// String renders the problem as one line.
func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Severity, p.Code, p.Message) }

// CheckOptions tune Check.
type CheckOptions struct {
	// ReplicasPerMaster is how many replicas each master serving slots
	// should have; 0 disables the check.
	ReplicasPerMaster int
	// MaxReplicaLag is the replication offset distance, in bytes, beyond
	// which a replica counts as lagging; 0 means any lag counts.
	MaxReplicaLag int64
}

// HasErrors reports whether any problem has SeverityError.
func HasErrors(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return p.Severity == SeverityError })
}

// Check inspects snap and returns every problem found, in a stable order
// (by check, then by node). An empty result means the cluster is healthy.
func Check(snap *topology.Snapshot, opts CheckOptions) []Problem {
	c := Agree(snap)
	checks := []func(*topology.Snapshot, *Consensus, CheckOptions) []Problem{
		checkUnreachable,
		checkClusterState,
		checkCoverage,
		checkOpenSlots,
		checkOwnerDisagreement,
		checkMembership,
		checkFailing,
		checkReplicaLinks,
		checkReplicaCount,
		checkReplicaHosts,
	}
	var out []Problem
	for _, check := range checks {
		out = append(out, check(snap, c, opts)...)
	}
	return out
}

func checkUnreachable(snap *topology.Snapshot, _ *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	addrs := make([]string, 0, len(snap.Unreachable))
	for a := range snap.Unreachable {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for _, a := range addrs {
		out = append(out, Problem{
			Code: ProblemNodeUnreachable, Severity: SeverityError, Addr: a,
			Message: fmt.Sprintf("node %s is unreachable: %s", a, snap.Unreachable[a]),
		})
	}
	return out
}

func checkClusterState(snap *topology.Snapshot, _ *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		if ns := snap.Nodes[id]; !ns.ClusterStateOK {
			out = append(out, Problem{
				Code: ProblemClusterStateNotOK, Severity: SeverityError, Node: id, Addr: ns.Addr,
				Message: fmt.Sprintf("node %s (%s) reports cluster_state:fail", id.Short(), ns.Addr),
			})
		}
	}
	return out
}

func checkCoverage(_ *topology.Snapshot, c *Consensus, _ CheckOptions) []Problem {
	missing := c.Covered().Complement()
	if missing.IsEmpty() {
		return nil
	}
	return []Problem{{
		Code: ProblemUncoveredSlots, Severity: SeverityError, Slots: missing,
		Message: fmt.Sprintf("%d slots are served by no node: %s", missing.Count(), missing),
	}}
}

func checkOpenSlots(snap *topology.Snapshot, _ *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		if self == nil || len(self.Migrating)+len(self.Importing) == 0 {
			continue
		}
		open := openSlots(self)
		out = append(out, Problem{
			Code: ProblemOpenSlots, Severity: SeverityError, Node: id, Slots: open,
			Message: fmt.Sprintf("node %s has open slots: %s", id.Short(), describeOpen(self)),
		})
	}
	return out
}

func openSlots(n *topology.Node) topology.SlotSet {
	var s topology.SlotSet
	for x := range n.Migrating {
		s.Add(x)
	}
	for x := range n.Importing {
		s.Add(x)
	}
	return s
}

func describeOpen(n *topology.Node) string {
	var parts []string
	for _, x := range slices.Sorted(maps.Keys(n.Migrating)) {
		parts = append(parts, fmt.Sprintf("%d migrating to %s", x, n.Migrating[x].Short()))
	}
	for _, x := range slices.Sorted(maps.Keys(n.Importing)) {
		parts = append(parts, fmt.Sprintf("%d importing from %s", x, n.Importing[x].Short()))
	}
	return strings.Join(parts, ", ")
}

func checkOwnerDisagreement(snap *topology.Snapshot, c *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		view := snap.Nodes[id].View
		if view == nil {
			continue
		}
		d := disagreement(view, c)
		if d.IsEmpty() {
			continue
		}
		out = append(out, Problem{
			Code: ProblemSlotOwnerDisagreement, Severity: SeverityError, Node: id, Slots: d,
			Message: fmt.Sprintf("node %s disagrees with the cluster about the owner of %d slots: %s", id.Short(), d.Count(), d),
		})
	}
	return out
}

func checkMembership(snap *topology.Snapshot, c *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		view := snap.Nodes[id].View
		if view == nil {
			continue
		}
		var missing []string
		for _, n := range c.View.Nodes {
			if view.Node(n.ID) == nil {
				missing = append(missing, n.ID.Short())
			}
		}
		if len(missing) > 0 {
			out = append(out, Problem{
				Code: ProblemMembershipDisagreement, Severity: SeverityError, Node: id,
				Message: fmt.Sprintf("node %s does not know %d nodes other nodes know: %s", id.Short(), len(missing), strings.Join(missing, ", ")),
			})
		}
	}
	return out
}

func checkFailing(snap *topology.Snapshot, c *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, n := range c.View.Nodes {
		var fail, pfail []string
		for _, rid := range snap.IDs() {
			view := snap.Nodes[rid].View
			if view == nil {
				continue
			}
			line := view.Node(n.ID)
			switch {
			case line == nil:
			case line.Flags.Has(topology.FlagFail):
				fail = append(fail, rid.Short())
			case line.Flags.Has(topology.FlagPFail):
				pfail = append(pfail, rid.Short())
			}
		}
		if len(fail)+len(pfail) == 0 {
			continue
		}
		p := Problem{Code: ProblemNodeFailing, Severity: SeverityWarning, Node: n.ID, Slots: n.Slots, Addr: n.Addr}
		if len(fail) > 0 {
			p.Severity = SeverityError
		}
		p.Message = fmt.Sprintf("node %s (%s) is flagged %s", n.ID.Short(), n.Addr, describeFlaggers(fail, pfail))
		out = append(out, p)
	}
	return out
}

func describeFlaggers(fail, pfail []string) string {
	var parts []string
	if len(fail) > 0 {
		parts = append(parts, "fail by "+strings.Join(fail, ", "))
	}
	if len(pfail) > 0 {
		parts = append(parts, "fail? by "+strings.Join(pfail, ", "))
	}
	return strings.Join(parts, " and ")
}

func checkReplicaLinks(snap *topology.Snapshot, _ *Consensus, opts CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		if self == nil || !self.IsReplica() {
			continue
		}
		rep := snap.Nodes[id].Replication
		switch {
		case !rep.MasterLinkUp:
			out = append(out, Problem{
				Code: ProblemReplicaLinkDown, Severity: SeverityError, Node: id,
				Message: fmt.Sprintf("replica %s has its link to master %s down", id.Short(), self.MasterID.Short()),
			})
		case rep.MasterSyncInProgress:
			out = append(out, Problem{
				Code: ProblemReplicaSyncing, Severity: SeverityWarning, Node: id,
				Message: fmt.Sprintf("replica %s is syncing from master %s", id.Short(), self.MasterID.Short()),
			})
		default:
			master := snap.Nodes[self.MasterID]
			if master == nil {
				continue
			}
			if lag := master.Replication.Offset - rep.Offset; lag > opts.MaxReplicaLag {
				out = append(out, Problem{
					Code: ProblemReplicaLagging, Severity: SeverityWarning, Node: id,
					Message: fmt.Sprintf("replica %s trails master %s by %d bytes", id.Short(), self.MasterID.Short(), lag),
				})
			}
		}
	}
	return out
}

func checkReplicaCount(snap *topology.Snapshot, c *Consensus, opts CheckOptions) []Problem {
	if opts.ReplicasPerMaster <= 0 {
		return nil
	}
	var out []Problem
	for _, m := range c.View.Masters() {
		if m.Slots.IsEmpty() || m.Failing() {
			continue
		}
		healthy := 0
		for _, r := range c.View.ReplicasOf(m.ID) {
			if !r.Failing() {
				healthy++
			}
		}
		if healthy < opts.ReplicasPerMaster {
			out = append(out, Problem{
				Code: ProblemTooFewReplicas, Severity: SeverityWarning, Node: m.ID, Slots: m.Slots,
				Message: fmt.Sprintf("master %s has %d healthy replicas, want %d", m.ID.Short(), healthy, opts.ReplicasPerMaster),
			})
		}
	}
	return out
}

func checkReplicaHosts(snap *topology.Snapshot, c *Consensus, _ CheckOptions) []Problem {
	var out []Problem
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		if self == nil || !self.IsReplica() {
			continue
		}
		master := snap.Nodes[self.MasterID]
		host := snap.Nodes[id].Labels.Host
		if master == nil || host == "" || master.Labels.Host != host {
			continue
		}
		out = append(out, Problem{
			Code: ProblemReplicaSameHost, Severity: SeverityWarning, Node: id,
			Message: fmt.Sprintf("replica %s runs on host %s with its master %s", id.Short(), host, self.MasterID.Short()),
		})
	}
	return out
}
