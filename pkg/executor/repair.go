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

// FixOpenSlot closes a slot left MIGRATING/IMPORTING. Keys held by the
// nodes in MoveKeysFrom are migrated to Owner (Owner is marked IMPORTING
// first when it does not own the slot, and a source that neither owns nor
// has the slot open is marked IMPORTING so MIGRATE runs on it); then Owner
// takes the slot (SETSLOT NODE, which bumps its epoch when it was
// importing) and every other master clears the slot (SETSLOT STABLE) and
// learns the owner (SETSLOT NODE).
//
// BUSYKEY: a key held by both is overwritten (REPLACE) only when the source
// serves the slot in its own view, because then its copy is the one
// clients read; otherwise the step fails and names the slot.
func (e *Executor) FixOpenSlot(ctx context.Context, s planner.FixOpenSlot) error {
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
	var moved int64
	for _, from := range s.MoveKeysFrom {
		if from == s.Owner {
			continue
		}
		src, err := e.node(from)
		if err != nil {
			return err
		}
		sv, err := src.ClusterNodes(ctx)
		if err != nil {
			return err
		}
		sself := sv.Myself()
		if !oself.Slots.Has(s.Slot) {
			if err := owner.SetSlotImporting(ctx, s.Slot, from); err != nil {
				return fmt.Errorf("mark owner importing: %w", err)
			}
		}
		srcServes := sself.Slots.Has(s.Slot)
		if !srcServes && sself.Migrating[s.Slot] == "" && sself.Importing[s.Slot] == "" {
			if err := src.SetSlotImporting(ctx, s.Slot, s.Owner); err != nil {
				return fmt.Errorf("open slot on %s: %w", from.Short(), err)
			}
		}
		n, err := e.moveAllKeys(ctx, src, owner.Addr(), s.Slot, srcServes)
		moved += n
		if err != nil {
			return fmt.Errorf("move keys from %s: %w", from.Short(), err)
		}
	}
	// Owner first: SETSLOT NODE to itself clears IMPORTING and bumps its
	// epoch; STABLE clears a MIGRATING state it may still carry.
	if err := owner.SetSlots(ctx,
		redisadmin.SetSlot{Slot: s.Slot, Action: redisadmin.SlotNode, Node: s.Owner},
		redisadmin.SetSlot{Slot: s.Slot, Action: redisadmin.SlotStable},
	); err != nil {
		return fmt.Errorf("assign slot to owner: %w", err)
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
		return n.SetSlots(ctx,
			redisadmin.SetSlot{Slot: s.Slot, Action: redisadmin.SlotStable},
			redisadmin.SetSlot{Slot: s.Slot, Action: redisadmin.SlotNode, Node: s.Owner},
		)
	})
	if err != nil {
		return fmt.Errorf("tell masters the owner: %w", err)
	}
	e.report(1, moved, false)
	return nil
}

// moveAllKeys migrates every key of slot from src to the node at target.
func (e *Executor) moveAllKeys(ctx context.Context, src *redisadmin.Node, target string, slot int, replaceOK bool) (int64, error) {
	var moved int64
	replace := false
	for attempt := 0; ; {
		keys, err := src.GetKeysInSlot(ctx, slot, e.opts.BatchKeys)
		if err != nil {
			return moved, err
		}
		if len(keys) == 0 {
			return moved, nil
		}
		if e.limiter != nil {
			if err := e.limiter.WaitN(ctx, len(keys)); err != nil {
				return moved, fmt.Errorf("rate limit: %w", err)
			}
		}
		_, err = src.Migrate(ctx, redisadmin.MigrateArgs{Target: target, Keys: keys, Timeout: e.opts.MigrateTimeout, Replace: replace})
		if err == nil {
			moved += int64(len(keys))
			continue
		}
		attempt++
		if attempt > maxMigrateRetries {
			return moved, err
		}
		switch {
		case errors.Is(err, redisadmin.ErrBusyKey) && replaceOK:
			e.opts.Logger.Warn("both nodes hold a key, keeping the serving node's copy", "slot", slot)
			replace = true
		case errors.Is(err, redisadmin.ErrUnreachable), errors.Is(err, redisadmin.ErrTryAgain):
			if err := sleep(ctx, e.opts.PollInterval); err != nil {
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
