package backup

import (
	"fmt"
	"sync"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// router maps slots to the address of the target master that owns them.
// It starts from the agreed topology of a snapshot and learns from MOVED
// replies; it is safe for concurrent use.
type router struct {
	mu    sync.RWMutex
	owner [topology.SlotCount]string
}

// newRouter builds the slot → address map of snap. Every slot must have
// an owner whose address is known.
func newRouter(snap *topology.Snapshot) (*router, error) {
	c := planner.Agree(snap)
	addr := map[topology.NodeID]string{}
	for _, n := range c.View.Nodes {
		addr[n.ID] = n.Addr
	}
	for id, ns := range snap.Nodes {
		addr[id] = ns.Addr // the address the node was reached at
	}
	r := &router{}
	for s, id := range c.Owners {
		if id == "" {
			return nil, fmt.Errorf("slot %d has no owner in the target", s)
		}
		if addr[id] == "" {
			return nil, fmt.Errorf("slot %d: its owner %s has no known address", s, id.Short())
		}
		r.owner[s] = addr[id]
	}
	return r, nil
}

// addr returns the owner of slot.
func (r *router) addr(slot int) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.owner[slot]
}

// moved records a MOVED reply: slot now lives at addr.
func (r *router) moved(slot int, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owner[slot] = addr
}

// groupByOwner returns the indexes of keys grouped by the address that
// owner gives for each key's slot, in key order within each group.
func groupByOwner(keys []string, owner func(slot int) string) map[string][]int {
	groups := map[string][]int{}
	for i, k := range keys {
		a := owner(topology.KeySlot(k))
		groups[a] = append(groups[a], i)
	}
	return groups
}
