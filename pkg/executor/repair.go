package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// masters returns the masters of the cluster as view reports them, with
// failing ones left out.
func (e *Executor) masters(view *topology.View) []topology.NodeID {
	e.learn(view)
	var ids []topology.NodeID
	for _, m := range view.Masters() {
		if !m.Failing() {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// FixOpenSlot closes a slot left MIGRATING/IMPORTING, or gathers the keys
// of a slot several nodes hold keys in, on Owner. It observes Owner and the
// nodes of MoveKeysFrom, then:
//
//  1. an uncovered slot (neither Owner nor any key source serves it) is
//     given to Owner first (SETSLOT NODE on Owner, which clears its
//     IMPORTING state and bumps its epoch, then on every other master):
//     while a slot is uncovered no node moves keys (CLUSTERDOWN);
//  2. when Owner does not serve the slot but a key source does, the move
//     towards Owner is opened the protocol way: Owner IMPORTING from that
//     source, the source MIGRATING to Owner (whichever is not already so);
//  3. when Owner serves the slot but still has it MIGRATING, and keys must
//     come back to it, Owner's MIGRATING state is cleared (SETSLOT STABLE):
//     a MIGRATING node answers ASK to the RESTORE-ASKING of a key it does
//     not hold. Until those keys are back, clients asking Owner for them
//     get "not found" rather than an ASK to where they are; a key written
//     on Owner meanwhile makes the move fail with BUSYKEY, it is never
//     overwritten. The planner avoids this path for a consistent stuck
//     migration by finishing it towards the importing node instead;
//  4. a key source that does not serve the slot is told Owner serves it
//     (SETSLOT NODE: an IMPORTING node ignores gossip about the slot, and
//     MIGRATE answers CLUSTERDOWN on a node that knows no owner) and, when
//     it does not import the slot already, marked IMPORTING from Owner (MIGRATE
//     runs on a node only for slots it serves or imports); then every key
//     is migrated to Owner, retrying transient errors (CLUSTERDOWN,
//     TRYAGAIN, ...) within RetryTimeout;
//  5. Owner takes the slot (SETSLOT NODE, then STABLE) and every other
//     master clears it (STABLE) and learns the owner (SETSLOT NODE).
//
// BUSYKEY: a key held by both is overwritten (REPLACE) only when the source
// serves the slot in its own view, because then its copy is the one
// clients read; otherwise the step fails and names the slot.
func (e *Executor) FixOpenSlot(ctx context.Context, s planner.FixOpenSlot) error {
	x := s.Slot
	owner, err := e.node(s.Owner)
	if err != nil {
		return err
	}
	ov, err := owner.ClusterNodes(ctx)
	if err != nil {
		return err
	}
	oself := ov.Myself()
	if oself == nil || oself.ID != s.Owner {
		return fmt.Errorf("%s does not answer as %s: %w", owner.Addr(), s.Owner.Short(), ErrStalePlan)
	}
	others := e.othersOf(ov, s.Owner)
	type source struct {
		id     topology.NodeID
		node   *redisadmin.Node
		self   *topology.Node
		serves bool
	}
	var sources []source
	var serving *source
	for _, from := range s.MoveKeysFrom {
		if from == s.Owner {
			continue
		}
		n, err := e.node(from)
		if err != nil {
			return err
		}
		v, err := n.ClusterNodes(ctx)
		if err != nil {
			return err
		}
		self := v.Myself()
		if self == nil || self.ID != from {
			return fmt.Errorf("%s does not answer as %s: %w", n.Addr(), from.Short(), ErrStalePlan)
		}
		sources = append(sources, source{id: from, node: n, self: self, serves: self.Slots.Has(x)})
	}
	for i := range sources {
		if sources[i].serves && serving == nil {
			serving = &sources[i]
		}
	}

	ownerServes := oself.Slots.Has(x)
	switch {
	case !ownerServes && serving == nil:
		// 1. Uncovered: Owner takes the slot before any key moves.
		if err := owner.SetSlots(ctx, redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: s.Owner}); err != nil {
			return fmt.Errorf("give uncovered slot to owner: %w", err)
		}
		e.tellOwner(ctx, others, x, s.Owner)
	case !ownerServes:
		// 2. Open the move from the serving source to Owner.
		if oself.Importing[x] == "" {
			if err := owner.SetSlotImporting(ctx, x, serving.id); err != nil {
				return fmt.Errorf("mark owner importing: %w", err)
			}
		}
		if serving.self.Migrating[x] != s.Owner {
			if err := serving.node.SetSlotMigrating(ctx, x, s.Owner); err != nil {
				return fmt.Errorf("mark %s migrating: %w", serving.id.Short(), err)
			}
		}
	case oself.Migrating[x] != "" && len(sources) > 0:
		// 3. Owner must accept RESTORE-ASKING of keys it does not hold.
		if err := owner.SetSlotStable(ctx, x); err != nil {
			return fmt.Errorf("clear owner's migrating state: %w", err)
		}
	}

	var moved int64
	for _, src := range sources {
		// 4. MIGRATE runs only for a slot the source serves or has open,
		// and only while the source knows some node serves the slot. An
		// importing node ignores gossip about the slot, so it is told.
		if !src.serves {
			cmds := []redisadmin.SetSlot{{Slot: x, Action: redisadmin.SlotNode, Node: s.Owner}}
			// MIGRATING does not count: a node has a slot it does not
			// serve MIGRATING only in its own table, and Redis lets
			// MIGRATE run there only for an IMPORTING slot.
			if src.self.Importing[x] == "" {
				cmds = append(cmds, redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotImporting, Node: s.Owner})
			}
			if err := src.node.SetSlots(ctx, cmds...); err != nil {
				return fmt.Errorf("open slot on %s: %w", src.id.Short(), err)
			}
		}
		n, err := e.moveAllKeys(ctx, src.node, owner.Addr(), x, src.serves)
		moved += n
		if err != nil {
			return fmt.Errorf("move keys from %s: %w", src.id.Short(), err)
		}
	}
	// 5. Owner first: SETSLOT NODE to itself clears IMPORTING and bumps its
	// epoch; STABLE clears a MIGRATING state it may still carry.
	if err := owner.SetSlots(ctx,
		redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: s.Owner},
		redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotStable},
	); err != nil {
		return fmt.Errorf("assign slot to owner: %w", err)
	}
	err = forEach(ctx, len(others), len(others), func(ctx context.Context, i int) error {
		return others[i].SetSlots(ctx,
			redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotStable},
			redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: s.Owner},
		)
	})
	if err != nil {
		return fmt.Errorf("tell masters the owner: %w", err)
	}
	e.report(1, moved, false)
	return nil
}

// othersOf returns the healthy masters of view other than id.
func (e *Executor) othersOf(view *topology.View, id topology.NodeID) []*redisadmin.Node {
	var out []*redisadmin.Node
	for _, m := range e.masters(view) {
		if m == id {
			continue
		}
		if n, err := e.node(m); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// tellOwner sends SETSLOT slot NODE owner to nodes, so that they count the
// slot as covered without waiting for gossip. Failures are logged: gossip
// spreads the owner too (it bumped its epoch).
func (e *Executor) tellOwner(ctx context.Context, nodes []*redisadmin.Node, slot int, owner topology.NodeID) {
	_ = forEach(ctx, len(nodes), len(nodes), func(ctx context.Context, i int) error {
		if err := nodes[i].SetSlotNode(ctx, slot, owner); err != nil {
			e.opts.Logger.Warn("could not tell a master the new slot owner", "node", nodes[i].Addr(), "slot", slot, "err", err)
		}
		return nil
	})
}

// moveAllKeys migrates every key of slot from src to the node at target.
// Transient errors (CLUSTERDOWN, TRYAGAIN, ...) are retried with back-off
// within Options.RetryTimeout; BUSYKEY is retried with REPLACE when
// replaceOK.
func (e *Executor) moveAllKeys(ctx context.Context, src *redisadmin.Node, target string, slot int, replaceOK bool) (int64, error) {
	var moved int64
	replace := false
	bo := e.newBackoff()
	for {
		keys, err := src.GetKeysInSlot(ctx, slot, e.opts.BatchKeys)
		if err == nil && len(keys) == 0 {
			return moved, nil
		}
		if err == nil {
			if e.limiter != nil {
				if err := e.limiter.WaitN(ctx, len(keys)); err != nil {
					return moved, fmt.Errorf("rate limit: %w", err)
				}
			}
			_, err = src.Migrate(ctx, redisadmin.MigrateArgs{Target: target, Keys: keys, Timeout: e.opts.MigrateTimeout, Replace: replace})
			if err == nil {
				moved += int64(len(keys))
				bo.reset()
				continue
			}
		}
		switch {
		case errors.Is(err, redisadmin.ErrBusyKey) && replaceOK && !replace:
			e.opts.Logger.Warn("both nodes hold a key, keeping the serving node's copy", "slot", slot)
			replace = true
		case transient(err):
			e.opts.Logger.Warn("moving keys met a transient error, retrying", "slot", slot, "err", err)
			if err := bo.wait(ctx, err); err != nil {
				return moved, err
			}
		default:
			return moved, err
		}
	}
}

// SetSlotOwner tells every master that Owner serves Slots (SETSLOT NODE,
// pipelined per node, Owner first), then bumps Owner's config epoch so its
// claim wins over stale ones.
func (e *Executor) SetSlotOwner(ctx context.Context, s planner.SetSlotOwner) error {
	owner, err := e.node(s.Owner)
	if err != nil {
		return err
	}
	ov, err := owner.ClusterNodes(ctx)
	if err != nil {
		return err
	}
	slots := s.Slots.Slots()
	cmds := make([]redisadmin.SetSlot, len(slots))
	for i, x := range slots {
		cmds[i] = redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: s.Owner}
	}
	if err := owner.SetSlots(ctx, cmds...); err != nil {
		return fmt.Errorf("assign on owner: %w", err)
	}
	var others []topology.NodeID
	for _, id := range e.masters(ov) {
		if id != s.Owner {
			others = append(others, id)
		}
	}
	err = forEach(ctx, len(others), len(others), func(ctx context.Context, i int) error {
		n, err := e.node(others[i])
		if err != nil {
			return err
		}
		return n.SetSlots(ctx, cmds...)
	})
	if err != nil {
		return fmt.Errorf("assign on other masters: %w", err)
	}
	if _, err := owner.BumpEpoch(ctx); err != nil {
		return err
	}
	return nil
}

// Forget removes Node from the table of every other known node, all at
// once: Redis re-learns a forgotten node from any peer that still knows it
// once its 60 s ban expires, so every node must forget within that window.
// A node that does not know Node any more counts as done.
func (e *Executor) Forget(ctx context.Context, s planner.Forget) error {
	e.mu.Lock()
	var targets []topology.NodeID
	for id := range e.nodes {
		if id != s.Node {
			targets = append(targets, id)
		}
	}
	e.mu.Unlock()
	return forEach(ctx, len(targets), len(targets), func(ctx context.Context, i int) error {
		n, err := e.node(targets[i])
		if err != nil {
			return err
		}
		err = n.Forget(ctx, s.Node)
		var re *redisadmin.Error
		if errors.As(err, &re) && re.Kind == redisadmin.KindServer && strings.Contains(re.Err.Error(), "Unknown node") {
			return nil
		}
		return err
	})
}

// ResetNode runs CLUSTER RESET on Node.
func (e *Executor) ResetNode(ctx context.Context, s planner.ResetNode) error {
	n, err := e.node(s.Node)
	if err != nil {
		return err
	}
	return n.Reset(ctx, s.Hard)
}
