package planner

import (
	"sort"

	"github.com/redkube/redkube/pkg/topology"
)

// SpreadShard is one shard offered to SpreadMasters: the host of its master
// and the replicas that could take the master role over (the caller keeps
// only replicas that are safe to promote and have a known host).
type SpreadShard struct {
	MasterHost string
	Candidates []SpreadCandidate
}

// SpreadCandidate is a replica that could become its shard's master.
type SpreadCandidate struct {
	ID   topology.NodeID
	Host string
}

// Handover gives shard Shard's master role to the replica To on host Host.
type Handover struct {
	Shard int
	To    topology.NodeID
	Host  string
}

// Spread is what SpreadMasters found: the host holding more masters than
// its share, and the handovers that take one master off it, to be done in
// order (the first makes room for the next). Path is empty when every host
// holds at most Limit masters, or no chain of handovers helps.
type Spread struct {
	Host    string
	Masters int
	Limit   int
	Path    []Handover
}

// SpreadMasters finds handovers that bring a host holding more than its
// share of masters (ceil(masters / hosts)) down by one. After failovers
// and rolling updates masters can pile up on one host; losing it would
// then take a majority of the masters, and Redis cannot fail over without
// a majority. A direct handover (the overfull host's master to a replica on
// a host below its share) is not always there: the replicas of the masters
// on the overfull host may all sit on hosts that are full already. The
// search then finds a chain — first move a master off one of those hosts to
// a host below its share, then the overfull host's master onto the room
// made: an augmenting path, as in bipartite matching, so that no handover
// raises a host above what it holds now. Overfull hosts are tried in name
// order; hosts is the number of hosts masters may run on. Every shard's
// master must have a known host.
func SpreadMasters(shards []SpreadShard, hosts int) Spread {
	if hosts == 0 || len(shards) == 0 {
		return Spread{}
	}
	perHost := map[string]int{}
	for _, sh := range shards {
		if sh.MasterHost == "" {
			return Spread{}
		}
		perHost[sh.MasterHost]++
	}
	limit := (len(shards) + hosts - 1) / hosts
	names := make([]string, 0, len(perHost))
	for h := range perHost {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		if perHost[h] <= limit {
			continue
		}
		if path := spreadPath(shards, perHost, limit, h, map[string]bool{h: true}); len(path) > 0 {
			return Spread{Host: h, Masters: perHost[h], Limit: limit, Path: path}
		}
	}
	return Spread{}
}

// spreadPath returns a chain of handovers that takes one master off host
// from and ends on a host below limit, the handover onto that host first.
// visited holds the hosts already on the path. It returns nil when there is
// none.
func spreadPath(shards []SpreadShard, perHost map[string]int, limit int, from string, visited map[string]bool) []Handover {
	for i, sh := range shards {
		if sh.MasterHost != from {
			continue
		}
		for _, c := range sh.Candidates {
			if c.Host == "" || visited[c.Host] {
				continue
			}
			if perHost[c.Host] < limit {
				return []Handover{{Shard: i, To: c.ID, Host: c.Host}}
			}
			visited[c.Host] = true
			if rest := spreadPath(shards, perHost, limit, c.Host, visited); rest != nil {
				return append(rest, Handover{Shard: i, To: c.ID, Host: c.Host})
			}
		}
	}
	return nil
}
