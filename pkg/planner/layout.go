package planner

import (
	"errors"
	"fmt"

	"github.com/redkube/redkube/pkg/topology"
)

// MinMasters is the smallest number of masters Layout accepts unless
// LayoutSpec.AllowFewMasters is set: with fewer, a failed master cannot be
// replaced because a failover needs a majority of masters to vote (redis-cli
// --cluster create enforces the same minimum).
const MinMasters = 3

// Member is a node offered to Layout.
type Member struct {
	// ID is the node's cluster ID.
	ID topology.NodeID
	// Addr is the node's "host:port", used in Meet steps by the executor.
	Addr string
	// Labels place the node on a host and in a zone; empty labels mean
	// unknown, and unknown hosts never count as shared.
	Labels topology.Labels
}

// LayoutSpec asks for a new cluster.
type LayoutSpec struct {
	// Members are the nodes to use, in the caller's order; ties are broken
	// by this order, so the result is deterministic.
	Members []Member
	// Masters is the number of masters; 0 means as many as the members
	// allow: len(Members) / (1 + ReplicasPerMaster).
	Masters int
	// ReplicasPerMaster is the number of replicas each master gets.
	// Members beyond Masters*(1+ReplicasPerMaster) become extra replicas.
	ReplicasPerMaster int
	// AllowFewMasters lifts the MinMasters limit (tests, experiments).
	AllowFewMasters bool
}

// Shard is one master with its replicas and slots in a Placement.
type Shard struct {
	Master   Member
	Replicas []Member
	Slots    topology.SlotSet
}

// Placement is the layout Layout chose.
type Placement struct {
	// Shards in master order; shard i serves the i-th slot range.
	Shards []Shard
}

// ErrTooFewNodes is returned (wrapped) when the members cannot fill the
// requested masters and replicas.
var ErrTooFewNodes = errors.New("too few nodes")

// Layout places the members of spec into shards and returns the plan that
// creates the cluster: a distinct config epoch per node (1..N), the slot
// ranges, a MEET of every node with the first, and the replications.
//
// Masters are spread over hosts first and zones second: each next master is
// the member on the host holding the fewest masters, then in the zone
// holding the fewest masters, then first in input order. Slots are split
// into contiguous ranges of SlotCount/Masters, the remainder going one by
// one to the first masters. Replicas never share a host with their master
// when the hosts allow it (solved as a bipartite matching, so a greedy
// choice cannot paint itself into a corner); among allowed candidates they
// prefer another zone than their master's and hosts holding fewer nodes of
// the shard and fewer replicas. Plan.Notes name every rule that could not
// be honoured; nodes without labels never produce a note.
func Layout(spec LayoutSpec) (Plan, Placement, error) {
	masters, err := validateLayout(spec)
	if err != nil {
		return Plan{}, Placement{}, err
	}
	p := &placer{members: spec.Members, used: make([]bool, len(spec.Members))}
	pl := Placement{Shards: make([]Shard, masters)}
	for i := range masters {
		pl.Shards[i].Master = spec.Members[p.pickMaster()]
	}
	for i, r := range SplitEvenly(masters) {
		pl.Shards[i].Slots = topology.RangeSet(r.Start, r.End)
	}
	notes := p.placeReplicas(&pl, spec.ReplicasPerMaster)
	return layoutPlan(pl, notes), pl, nil
}

func validateLayout(spec LayoutSpec) (int, error) {
	n, r := len(spec.Members), spec.ReplicasPerMaster
	if r < 0 {
		return 0, fmt.Errorf("replicas per master is %d, want >= 0", r)
	}
	masters := spec.Masters
	if masters == 0 {
		masters = n / (1 + r)
	}
	minimum := MinMasters
	if spec.AllowFewMasters {
		minimum = 1
	}
	if masters < minimum {
		return 0, fmt.Errorf("%d masters requested, want at least %d", masters, minimum)
	}
	if need := masters * (1 + r); n < need {
		return 0, fmt.Errorf("%w: %d masters with %d replicas each need %d nodes, have %d", ErrTooFewNodes, masters, r, need, n)
	}
	seen := map[topology.NodeID]bool{}
	for _, m := range spec.Members {
		if seen[m.ID] {
			return 0, fmt.Errorf("member %s listed twice", m.ID)
		}
		seen[m.ID] = true
	}
	return masters, nil
}

// SplitEvenly splits the slot space into n contiguous ranges whose sizes
// differ by at most one, the larger ones first.
func SplitEvenly(n int) []topology.SlotRange {
	out := make([]topology.SlotRange, n)
	start := 0
	for i := range n {
		size := topology.SlotCount / n
		if i < topology.SlotCount%n {
			size++
		}
		out[i] = topology.SlotRange{Start: start, End: start + size - 1}
		start += size
	}
	return out
}

// placer tracks which members are taken.
type placer struct {
	members []Member
	used    []bool
}

// pickMaster takes the member on the host with the fewest masters, then in
// the zone with the fewest masters, then the first in input order.
func (p *placer) pickMaster() int {
	hostLoad, zoneLoad := map[string]int{}, map[string]int{}
	for i, m := range p.members {
		if p.used[i] {
			hostLoad[m.Labels.Host]++
			zoneLoad[m.Labels.Zone]++
		}
	}
	best := -1
	for i, m := range p.members {
		if p.used[i] {
			continue
		}
		if best < 0 || lessLoad(hostLoad, zoneLoad, m, p.members[best]) {
			best = i
		}
	}
	p.used[best] = true
	return best
}

func lessLoad(hostLoad, zoneLoad map[string]int, a, b Member) bool {
	// Members without a host label are each on their own unknown host.
	ha, hb := hostLoad[a.Labels.Host], hostLoad[b.Labels.Host]
	if a.Labels.Host == "" {
		ha = 0
	}
	if b.Labels.Host == "" {
		hb = 0
	}
	if ha != hb {
		return ha < hb
	}
	za, zb := zoneLoad[a.Labels.Zone], zoneLoad[b.Labels.Zone]
	if a.Labels.Zone == "" {
		za = 0
	}
	if b.Labels.Zone == "" {
		zb = 0
	}
	return za < zb
}

func sameHost(a, b Member) bool { return a.Labels.Host != "" && a.Labels.Host == b.Labels.Host }
func sameZone(a, b Member) bool { return a.Labels.Zone != "" && a.Labels.Zone == b.Labels.Zone }

// placeReplicas fills replicas shard by shard, round by round, and returns
// notes for rules it had to break.
func (p *placer) placeReplicas(pl *Placement, perMaster int) []string {
	var slots []int // shard index of each replica position
	for range perMaster {
		for s := range pl.Shards {
			slots = append(slots, s)
		}
	}
	// Extra members become extra replicas, one per shard in turn.
	free := 0
	for _, u := range p.used {
		if !u {
			free++
		}
	}
	for i := 0; len(slots) < free; i++ {
		slots = append(slots, i%len(pl.Shards))
	}
	m := &matcher{p: p, pl: pl, slots: slots, owner: map[int]int{}, chosen: make([]int, len(slots))}
	for i := range m.chosen {
		m.chosen[i] = -1
	}
	for i := range slots {
		m.augment(i, map[int]bool{})
	}
	for _, c := range m.chosen {
		if c >= 0 {
			p.used[c] = true
		}
	}
	var notes []string
	for i, s := range slots {
		if m.chosen[i] < 0 {
			m.chosen[i] = p.firstFree()
			m.owner[m.chosen[i]] = i
			master := pl.Shards[s].Master
			notes = append(notes, fmt.Sprintf("replica %s shares host %s with its master %s: no other host had a free node",
				p.members[m.chosen[i]].ID.Short(), master.Labels.Host, master.ID.Short()))
		}
	}
	for i, s := range slots {
		pl.Shards[s].Replicas = append(pl.Shards[s].Replicas, p.members[m.chosen[i]])
	}
	return append(notes, zoneNotes(pl)...)
}

func (p *placer) firstFree() int {
	for i, u := range p.used {
		if !u {
			p.used[i] = true
			return i
		}
	}
	panic("planner: no free member left; validateLayout counts members")
}

// matcher is Kuhn's augmenting-path bipartite matching of replica
// positions to members, with the edge "member is not on the master's host".
type matcher struct {
	p      *placer
	pl     *Placement
	slots  []int
	owner  map[int]int // member -> position
	chosen []int       // position -> member, -1 when unmatched
}

func (m *matcher) augment(pos int, visited map[int]bool) bool {
	for _, c := range m.candidates(pos) {
		if visited[c] {
			continue
		}
		visited[c] = true
		prev, taken := m.owner[c]
		if !taken || m.augment(prev, visited) {
			m.owner[c] = pos
			m.chosen[pos] = c
			return true
		}
	}
	return false
}

// candidates returns the free members allowed at position pos, best first.
func (m *matcher) candidates(pos int) []int {
	shard := m.pl.Shards[m.slots[pos]]
	var out []int
	for i, mem := range m.p.members {
		if !m.p.used[i] && !sameHost(mem, shard.Master) {
			out = append(out, i)
		}
	}
	// Load of each host: replicas of this shard, replicas in total.
	shardLoad, load := map[string]int{}, map[string]int{}
	for q, c := range m.chosen {
		if c < 0 {
			continue
		}
		h := m.p.members[c].Labels.Host
		if m.slots[q] == m.slots[pos] {
			shardLoad[h]++
		}
		load[h]++
	}
	score := func(i int) [3]int {
		mem := m.p.members[i]
		s := [3]int{}
		if sameZone(mem, shard.Master) {
			s[0] = 1
		}
		if h := mem.Labels.Host; h != "" {
			s[1], s[2] = shardLoad[h], load[h]
		}
		return s
	}
	sortStable(out, func(a, b int) bool {
		sa, sb := score(a), score(b)
		for k := range sa {
			if sa[k] != sb[k] {
				return sa[k] < sb[k]
			}
		}
		return false
	})
	return out
}

func zoneNotes(pl *Placement) []string {
	var notes []string
	for _, s := range pl.Shards {
		for _, r := range s.Replicas {
			if sameZone(r, s.Master) && !sameHost(r, s.Master) {
				notes = append(notes, fmt.Sprintf("replica %s is in zone %s with its master %s", r.ID.Short(), r.Labels.Zone, s.Master.ID.Short()))
			}
		}
	}
	return notes
}

func layoutPlan(pl Placement, notes []string) Plan {
	var nodes []Member
	for _, s := range pl.Shards {
		nodes = append(nodes, s.Master)
	}
	for _, s := range pl.Shards {
		nodes = append(nodes, s.Replicas...)
	}
	var plan Plan
	for i, n := range nodes {
		plan.Steps = append(plan.Steps, SetConfigEpoch{Node: n.ID, Epoch: uint64(i + 1)})
	}
	for _, s := range pl.Shards {
		plan.Steps = append(plan.Steps, AssignSlots{Node: s.Master.ID, Slots: s.Slots})
	}
	for _, n := range nodes[1:] {
		plan.Steps = append(plan.Steps, Meet{Node: n.ID, Peer: nodes[0].ID, PeerAddr: nodes[0].Addr})
	}
	for _, s := range pl.Shards {
		for _, r := range s.Replicas {
			plan.Steps = append(plan.Steps, Replicate{Replica: r.ID, Master: s.Master.ID})
		}
	}
	plan.Notes = notes
	return plan
}
