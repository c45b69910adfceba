package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// maxMigrateRetries bounds how often one slot's keys are retried after a
// recoverable MIGRATE error (BUSYKEY, a lost IMPORTING state, an I/O error).
const maxMigrateRetries = 5

// pair is one source→target migration in progress.
type pair struct {
	srcID, tgtID topology.NodeID
	src, tgt     *redisadmin.Node
	tgtAddr      string
	// others are the masters other than source and target, told about new
	// owners with SETSLOT NODE.
	others []*redisadmin.Node

	// pendingOthers are slots handed to the target that others have not
	// been told about yet.
	mu            sync.Mutex
	pendingOthers []int
}

// MigrateSlots moves Slots with their keys from Source to Target.
//
// It first observes both nodes and sorts each slot into one of:
//   - done: the target owns it and the source no longer claims it — skipped;
//   - finish: the target owns it but the source still claims it or still
//     marks it MIGRATING (a run stopped after SETSLOT NODE on the target) —
//     remaining keys are moved and the source and other masters are told;
//   - move: the source owns it — the full protocol runs; a slot already
//     MIGRATING/IMPORTING between the same pair simply continues, and keys
//     already on the target are not sent again (GETKEYSINSLOT only lists
//     keys still on the source).
//
// A slot owned by a third node, or open towards a third node, fails the
// step with ErrStalePlan before anything is changed.
//
// Slots are processed in chunks of Options.ChunkSlots. Cancellation of ctx
// is checked between chunks; a chunk that started is finished.
func (e *Executor) MigrateSlots(ctx context.Context, s planner.MigrateSlots) error {
	p, srcView, tgtView, err := e.openPair(ctx, s.Source, s.Target)
	if err != nil {
		return err
	}
	srcSelf, tgtSelf := srcView.Myself(), tgtView.Myself()
	var done, finish, move []int
	var stale []error
	s.Slots.Each(func(x int) bool {
		srcOwns, tgtOwns := srcSelf.Slots.Has(x), tgtSelf.Slots.Has(x)
		srcMig, tgtImp := srcSelf.Migrating[x], tgtSelf.Importing[x]
		switch {
		case srcMig != "" && srcMig != s.Target:
			stale = append(stale, fmt.Errorf("slot %d: source is migrating it to %s", x, srcMig.Short()))
		case tgtImp != "" && tgtImp != s.Source:
			stale = append(stale, fmt.Errorf("slot %d: target is importing it from %s", x, tgtImp.Short()))
		case tgtOwns && !srcOwns && srcMig == "":
			done = append(done, x)
		case tgtOwns:
			finish = append(finish, x)
		case srcOwns:
			move = append(move, x)
		default:
			stale = append(stale, fmt.Errorf("slot %d: served by neither source nor target", x))
		}
		return true
	})
	if len(stale) > 0 {
		return fmt.Errorf("%w: %w", ErrStalePlan, errors.Join(stale...))
	}
	if len(done) > 0 {
		e.opts.Logger.Info("slots already moved", "source", s.Source.Short(), "target", s.Target.Short(), "slots", len(done))
		e.report(len(done), 0, false)
	}
	if len(finish) > 0 {
		e.opts.Logger.Info("finishing interrupted slot moves", "source", s.Source.Short(), "target", s.Target.Short(), "slots", len(finish))
	}
	for _, job := range []struct {
		slots []int
		open  bool
	}{{finish, false}, {move, true}} {
		if err := e.runChunks(ctx, p, job.slots, job.open); err != nil {
			return err
		}
	}
	if err := e.flushOthers(ctx, p, true); err != nil {
		return err
	}
	return nil
}

// runChunks moves slots in chunks of Options.ChunkSlots, up to
// Options.ChunksInFlight chunks at once. No new chunk starts once ctx is
// done; chunks already started are finished, with a context that is not
// cancelled, so that no slot is left half-moved.
func (e *Executor) runChunks(ctx context.Context, p *pair, slots []int, open bool) error {
	var chunks [][]int
	for i := 0; i < len(slots); i += e.opts.ChunkSlots {
		chunks = append(chunks, slots[i:min(i+e.opts.ChunkSlots, len(slots))])
	}
	var (
		mu       sync.Mutex
		next     int
		firstErr error
	)
	take := func() ([]int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next == len(chunks) || ctx.Err() != nil {
			return nil, false
		}
		next++
		return chunks[next-1], true
	}
	workers := min(e.opts.ChunksInFlight, len(chunks))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				chunk, ok := take()
				if !ok {
					return
				}
				if err := e.moveChunk(context.WithoutCancel(ctx), p, chunk, open); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if next < len(chunks) {
		if err := e.flushOthers(context.WithoutCancel(ctx), p, true); err != nil {
			return err
		}
		return fmt.Errorf("stopped at a slot boundary after %d of %d chunks: %w", next, len(chunks), ctx.Err())
	}
	return nil
}

// openPair observes source and target and resolves the other masters.
func (e *Executor) openPair(ctx context.Context, srcID, tgtID topology.NodeID) (*pair, *topology.View, *topology.View, error) {
	if srcID == tgtID {
		return nil, nil, nil, fmt.Errorf("source and target are the same node: %w", ErrStalePlan)
	}
	p := &pair{srcID: srcID, tgtID: tgtID}
	var err error
	if p.src, err = e.node(srcID); err != nil {
		return nil, nil, nil, err
	}
	if p.tgt, err = e.node(tgtID); err != nil {
		return nil, nil, nil, err
	}
	p.tgtAddr = p.tgt.Addr()
	views := make([]*topology.View, 2)
	err = forEach(ctx, 2, 2, func(ctx context.Context, i int) error {
		n, id := p.src, srcID
		if i == 1 {
			n, id = p.tgt, tgtID
		}
		v, err := n.ClusterNodes(ctx)
		if err != nil {
			return err
		}
		if self := v.Myself(); self == nil || self.ID != id {
			return fmt.Errorf("%s does not answer as %s: %w", n.Addr(), id.Short(), ErrStalePlan)
		}
		// A source that became a replica after it lost its last slot
		// (see sourceEmptied) is accepted: every slot of the step is then
		// either done or stale.
		if self := v.Myself(); !self.IsMaster() && (i == 1 || !self.Slots.IsEmpty()) {
			return fmt.Errorf("%s is not a master: %w", id.Short(), ErrStalePlan)
		}
		views[i] = v
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	e.learn(views[0])
	e.learn(views[1])
	for _, m := range views[1].Masters() {
		if m.ID == srcID || m.ID == tgtID || m.Failing() {
			continue
		}
		if n, err := e.node(m.ID); err == nil {
			p.others = append(p.others, n)
		}
	}
	return p, views[0], views[1], nil
}

// moveChunk moves the keys of slots from source to target and hands the
// slots to the target. With open it first marks the slots IMPORTING on the
// target and MIGRATING on the source.
func (e *Executor) moveChunk(ctx context.Context, p *pair, slots []int, open bool) error {
	var listed [][]string
	if open {
		var err error
		if listed, err = e.openSlots(ctx, p, slots); err != nil {
			return err
		}
	}
	moved, err := e.drainSlots(ctx, p, slots, open, listed)
	if err != nil {
		return err
	}
	if err := e.closeSlots(ctx, p, slots); err != nil {
		return err
	}
	e.report(len(slots), moved, false)
	return nil
}

// openSlots marks slots IMPORTING on the target, then MIGRATING on the
// source (this order: a source redirecting with ASK to a target that does
// not import yet would bounce clients). The source's pipeline goes on with
// the first key listing of every slot, which it returns.
func (e *Executor) openSlots(ctx context.Context, p *pair, slots []int) ([][]string, error) {
	imp := make([]redisadmin.SetSlot, len(slots))
	mig := make([]redisadmin.SetSlot, len(slots))
	for i, x := range slots {
		imp[i] = redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotImporting, Node: p.srcID}
		mig[i] = redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotMigrating, Node: p.tgtID}
	}
	if err := p.tgt.SetSlots(ctx, imp...); err != nil {
		return nil, fmt.Errorf("mark importing: %w", err)
	}
	keys, err := p.src.SetSlotsThenKeys(ctx, mig, slots, e.opts.BatchKeys)
	if err != nil {
		return nil, fmt.Errorf("mark migrating: %w", err)
	}
	return keys, nil
}

// drainSlots moves every key of slots from source to target: it lists up to
// BatchKeys keys per slot (pipelined; listed, when not nil, is a first
// listing of slots already made), sends one MIGRATE per slot batch
// (pipelined), and repeats for slots that still had keys until every slot
// lists none. It returns the number of keys moved.
//
// BUSYKEY policy: the target holds a key the source also holds. While the
// source owns the slot (open is true: we marked it MIGRATING to this very
// target), clients read that key from the source, so the source's copy is
// the live one and the target's is a leftover of an interrupted MIGRATE
// (the target restored it but the source never deleted it). Only then is
// the batch retried with REPLACE. When the target already owns the slot
// (open is false), its copy may have been written after the hand-over, and
// the step fails instead.
func (e *Executor) drainSlots(ctx context.Context, p *pair, slots []int, open bool, listed [][]string) (int64, error) {
	var moved int64
	pending := slots
	retries := map[int]int{}
	replace := map[int]bool{}
	bo := e.newBackoff()
	for len(pending) > 0 {
		keys, err := listed, error(nil)
		if keys == nil {
			keys, err = p.src.KeysInSlots(ctx, pending, e.opts.BatchKeys)
		}
		listed = nil
		if err != nil {
			if transient(err) {
				if err := bo.wait(ctx, err); err != nil {
					return moved, fmt.Errorf("list keys: %w", err)
				}
				continue
			}
			return moved, fmt.Errorf("list keys: %w", err)
		}
		var batch []redisadmin.MigrateArgs
		var batchSlots []int
		for i, ks := range keys {
			if len(ks) == 0 {
				continue
			}
			batch = append(batch, redisadmin.MigrateArgs{
				Target: p.tgtAddr, Keys: ks, Timeout: e.opts.MigrateTimeout, Replace: replace[pending[i]],
			})
			batchSlots = append(batchSlots, pending[i])
		}
		if len(batch) == 0 {
			return moved, nil
		}
		if e.limiter != nil {
			for _, b := range batch {
				if err := e.limiter.WaitN(ctx, len(b.Keys)); err != nil {
					return moved, fmt.Errorf("rate limit: %w", err)
				}
			}
		}
		results, err := p.src.MigrateBatch(ctx, batch)
		if err != nil {
			if transient(err) {
				if err := bo.wait(ctx, err); err != nil {
					return moved, fmt.Errorf("migrate: %w", err)
				}
				pending = batchSlots
				continue
			}
			return moved, fmt.Errorf("migrate: %w", err)
		}
		var again []int
		var lastTransient error
		for i, r := range results {
			x := batchSlots[i]
			if r.Err == nil {
				moved += int64(len(batch[i].Keys))
				// A listing shorter than BatchKeys was the whole slot: the
				// slot was MIGRATING before it was listed, and a MIGRATING
				// source creates no new keys (it redirects them with ASK).
				if len(batch[i].Keys) >= e.opts.BatchKeys || !open {
					again = append(again, x)
				}
				continue
			}
			again = append(again, x)
			if transient(r.Err) {
				lastTransient = r.Err
				continue
			}
			retries[x]++
			if retries[x] > maxMigrateRetries {
				return moved, fmt.Errorf("slot %d: giving up after %d attempts: %w", x, maxMigrateRetries, r.Err)
			}
			if err := e.recoverMigrate(ctx, p, x, open, r.Err, replace); err != nil {
				return moved, fmt.Errorf("slot %d: %w", x, err)
			}
		}
		if lastTransient != nil {
			e.opts.Logger.Warn("migrate met a transient error, retrying", "source", p.srcID.Short(), "err", lastTransient)
			if err := bo.wait(ctx, lastTransient); err != nil {
				return moved, fmt.Errorf("migrate: %w", err)
			}
		} else {
			bo.reset()
		}
		pending = again
	}
	return moved, nil
}

// recoverMigrate decides whether a failed MIGRATE of slot x may be retried,
// and prepares the retry. Transient errors are handled by the caller.
func (e *Executor) recoverMigrate(ctx context.Context, p *pair, x int, open bool, err error, replace map[int]bool) error {
	switch {
	case errors.Is(err, redisadmin.ErrBusyKey):
		if !open {
			return fmt.Errorf("target already owns the slot and holds a key the source also holds; not overwriting it: %w", err)
		}
		v, verr := p.src.ClusterNodes(ctx)
		if verr != nil {
			return fmt.Errorf("re-check source before REPLACE: %w (after %w)", verr, err)
		}
		self := v.Myself()
		if !self.Slots.Has(x) || self.Migrating[x] != p.tgtID {
			return fmt.Errorf("source no longer owns/migrates the slot; not overwriting the target's keys: %w", err)
		}
		e.opts.Logger.Warn("target holds keys of an interrupted migration, retrying with REPLACE", "slot", x, "target", p.tgtID.Short())
		replace[x] = true
		return nil
	case errors.Is(err, redisadmin.ErrMoved), errors.Is(err, redisadmin.ErrAsk):
		// The target refused RESTORE-ASKING: it lost its IMPORTING state
		// (restarted, or reset by hand). Mark it again when we still own
		// the protocol for this slot.
		if !open {
			return fmt.Errorf("target refused keys of a slot it owns: %w", err)
		}
		e.opts.Logger.Warn("target lost importing state, marking again", "slot", x, "target", p.tgtID.Short())
		return p.tgt.SetSlotImporting(ctx, x, p.srcID)
	default:
		return err
	}
}

// closeSlots assigns slots to the target with SETSLOT NODE on the target,
// then on the source. The other masters are told in batches (flushOthers):
// until then they redirect clients to the source, which redirects them on
// to the target, and gossip spreads the new owner anyway (the target bumped
// its epoch when it took the slots).
func (e *Executor) closeSlots(ctx context.Context, p *pair, slots []int) error {
	cmds := make([]redisadmin.SetSlot, len(slots))
	for i, x := range slots {
		cmds[i] = redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: p.tgtID}
	}
	tgtCmds := cmds
	if e.opts.QuietHandover {
		// See Options.QuietHandover: the first slot bumps the epoch and
		// broadcasts, the last one broadcasts the whole chunk (so replicas
		// learn it at once, not from gossip); the others change owner
		// without a broadcast each.
		tgtCmds = make([]redisadmin.SetSlot, 0, 2*len(cmds))
		for i, c := range cmds {
			if i > 0 && i < len(cmds)-1 {
				tgtCmds = append(tgtCmds, redisadmin.SetSlot{Slot: c.Slot, Action: redisadmin.SlotStable})
			}
			tgtCmds = append(tgtCmds, c)
		}
	}
	if err := p.tgt.SetSlots(ctx, tgtCmds...); err != nil {
		return fmt.Errorf("assign to target: %w", err)
	}
	if err := p.src.SetSlots(ctx, cmds...); err != nil {
		if !errors.Is(err, redisadmin.ErrNotMaster) {
			return fmt.Errorf("assign on source: %w", err)
		}
		if emptied, verr := e.sourceEmptied(ctx, p); verr != nil || !emptied {
			return fmt.Errorf("assign on source: %w", errors.Join(err, verr))
		}
		e.opts.Logger.Info("source became a replica after its last slot left; it needs no SETSLOT", "source", p.srcID.Short())
	}
	p.mu.Lock()
	p.pendingOthers = append(p.pendingOthers, slots...)
	p.mu.Unlock()
	return e.flushOthers(ctx, p, false)
}

// sourceEmptied reports whether the source of p is now a replica owning no
// slot. Redis 7 turns a master that lost its last slot into a replica of
// the node that took it (cluster-allow-replica-migration yes), as soon as
// the SETSLOT NODE on it or the target's gossip tells it; SETSLOT on it then
// fails with "Please use SETSLOT only with masters", and is moot.
func (e *Executor) sourceEmptied(ctx context.Context, p *pair) (bool, error) {
	v, err := p.src.ClusterNodes(ctx)
	if err != nil {
		return false, fmt.Errorf("re-check source: %w", err)
	}
	self := v.Myself()
	return self != nil && !self.IsMaster() && self.Slots.IsEmpty(), nil
}

// othersBatch is how many closed slots are collected before the other
// masters are told: each SETSLOT pipeline makes a node rewrite nodes.conf
// once, so fewer, bigger pipelines cost the cluster less.
const othersBatch = 1024

// flushOthers sends SETSLOT NODE for the pending slots to every other
// master, when at least othersBatch are pending or when all is set.
// Failures are logged, not fatal: gossip spreads the owner as well.
func (e *Executor) flushOthers(ctx context.Context, p *pair, all bool) error {
	p.mu.Lock()
	if len(p.pendingOthers) == 0 || (!all && len(p.pendingOthers) < othersBatch) {
		p.mu.Unlock()
		return nil
	}
	slots := p.pendingOthers
	p.pendingOthers = nil
	p.mu.Unlock()
	cmds := make([]redisadmin.SetSlot, len(slots))
	for i, x := range slots {
		cmds[i] = redisadmin.SetSlot{Slot: x, Action: redisadmin.SlotNode, Node: p.tgtID}
	}
	return forEach(ctx, len(p.others), len(p.others), func(ctx context.Context, i int) error {
		if err := p.others[i].SetSlots(ctx, cmds...); err != nil {
			e.opts.Logger.Warn("could not tell a master the new slot owner", "node", p.others[i].Addr(), "err", err)
		}
		return nil
	})
}
