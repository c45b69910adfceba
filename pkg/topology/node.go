package topology

import (
	"net"
	"sort"
	"strconv"
	"strings"
)

// NodeID is the 40-character hex identity a Redis Cluster node keeps in its
// nodes.conf. It survives restarts and address changes.
type NodeID string

// Short returns the first 8 characters of the ID, for human output.
func (id NodeID) Short() string {
	if len(id) > 8 {
		return string(id[:8])
	}
	return string(id)
}

// Flags is the set of flags CLUSTER NODES reports for a node.
type Flags uint16

// Node flags as CLUSTER NODES spells them.
const (
	// FlagMyself marks the node that produced the listing.
	FlagMyself Flags = 1 << iota
	// FlagMaster marks a master.
	FlagMaster
	// FlagReplica marks a replica ("slave" on the wire).
	FlagReplica
	// FlagPFail marks a node the reporter cannot reach ("fail?").
	FlagPFail
	// FlagFail marks a node a majority of masters agreed is failing.
	FlagFail
	// FlagHandshake marks a node still in the MEET handshake.
	FlagHandshake
	// FlagNoAddr marks a node whose address is unknown.
	FlagNoAddr
	// FlagNoFailover marks a replica that will not try to fail over.
	FlagNoFailover
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagMyself, "myself"},
	{FlagMaster, "master"},
	{FlagReplica, "slave"},
	{FlagPFail, "fail?"},
	{FlagFail, "fail"},
	{FlagHandshake, "handshake"},
	{FlagNoAddr, "noaddr"},
	{FlagNoFailover, "nofailover"},
}

// Has reports whether every flag in o is set.
func (f Flags) Has(o Flags) bool { return f&o == o }

// String renders the flags as CLUSTER NODES does ("myself,master"), or
// "noflags" when none is set.
func (f Flags) String() string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "noflags"
	}
	return strings.Join(parts, ",")
}

// Node is one line of a CLUSTER NODES listing: what one node believes about
// some node of the cluster (possibly itself).
type Node struct {
	// ID is the node's cluster identity.
	ID NodeID
	// Addr is the client address "ip:port"; its host is empty when the node
	// has no known address.
	Addr string
	// BusPort is the cluster bus port.
	BusPort int
	// Hostname is the announced hostname, when the node has one.
	Hostname string
	// Flags are the node's flags.
	Flags Flags
	// MasterID is the master this node replicates, empty for a master.
	MasterID NodeID
	// PingSent and PongRecv are the millisecond timestamps CLUSTER NODES
	// reports (0 when none is pending / never received).
	PingSent int64
	PongRecv int64
	// ConfigEpoch is the node's configuration epoch.
	ConfigEpoch uint64
	// Connected reports the reporter's cluster bus link to the node.
	Connected bool
	// Slots are the slots the reporter believes the node serves.
	Slots SlotSet
	// Migrating maps a slot this node is migrating to the target node ID.
	// Only the reporter's own line ("myself") carries it.
	Migrating map[int]NodeID
	// Importing maps a slot this node is importing to the source node ID.
	// Only the reporter's own line ("myself") carries it.
	Importing map[int]NodeID
}

// IsMaster reports whether the node is a master.
func (n *Node) IsMaster() bool { return n.Flags.Has(FlagMaster) }

// IsReplica reports whether the node is a replica.
func (n *Node) IsReplica() bool { return n.Flags.Has(FlagReplica) }

// IsMyself reports whether this line describes the reporting node.
func (n *Node) IsMyself() bool { return n.Flags.Has(FlagMyself) }

// Failing reports whether the node is flagged fail or fail?.
func (n *Node) Failing() bool { return n.Flags&(FlagFail|FlagPFail) != 0 }

// Host returns the IP part of Addr ("" when unknown).
func (n *Node) Host() string {
	h, _, err := net.SplitHostPort(n.Addr)
	if err != nil {
		return ""
	}
	return h
}

// Port returns the client port from Addr (0 when unknown).
func (n *Node) Port() int {
	_, p, err := net.SplitHostPort(n.Addr)
	if err != nil {
		return 0
	}
	v, _ := strconv.Atoi(p)
	return v
}

// Clone returns a deep copy of n.
func (n *Node) Clone() *Node {
	c := *n
	c.Migrating = cloneSlotMap(n.Migrating)
	c.Importing = cloneSlotMap(n.Importing)
	return &c
}

func cloneSlotMap(m map[int]NodeID) map[int]NodeID {
	if m == nil {
		return nil
	}
	c := make(map[int]NodeID, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// View is one node's whole CLUSTER NODES listing.
type View struct {
	// Nodes in listing order.
	Nodes []*Node
}

// Myself returns the reporting node's own line, or nil when the listing has
// none (which a well-formed listing never lacks).
func (v *View) Myself() *Node {
	for _, n := range v.Nodes {
		if n.IsMyself() {
			return n
		}
	}
	return nil
}

// Node returns the line for id, or nil.
func (v *View) Node(id NodeID) *Node {
	for _, n := range v.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Masters returns the masters of the view sorted by ID.
func (v *View) Masters() []*Node {
	var out []*Node
	for _, n := range v.Nodes {
		if n.IsMaster() {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ReplicasOf returns the replicas of master id sorted by ID.
func (v *View) ReplicasOf(id NodeID) []*Node {
	var out []*Node
	for _, n := range v.Nodes {
		if n.IsReplica() && n.MasterID == id {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SlotOwners returns, for each slot, the node this view says serves it ("" when
// uncovered).
func (v *View) SlotOwners() [SlotCount]NodeID {
	var owners [SlotCount]NodeID
	for _, n := range v.Nodes {
		n.Slots.Each(func(x int) bool { owners[x] = n.ID; return true })
	}
	return owners
}

// Covered returns the set of slots some node of the view serves.
func (v *View) Covered() SlotSet {
	var s SlotSet
	for _, n := range v.Nodes {
		s = s.Union(n.Slots)
	}
	return s
}
