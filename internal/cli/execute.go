package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// runReport is the JSON result of a command that ran a plan.
type runReport struct {
	planJSON
	// SlotsMoved and KeysMoved count what the migration moved.
	SlotsMoved int   `json:"slotsMoved"`
	KeysMoved  int64 `json:"keysMoved"`
	// Seconds is the wall time of the run, until the nodes agreed.
	Seconds float64 `json:"seconds"`
	// KeysPerSecond is KeysMoved / Seconds.
	KeysPerSecond float64 `json:"keysPerSecond"`
}

// migrationOptions are the tuning flags of commands that move slots.
type migrationOptions struct {
	parallel      int
	rate          float64
	quietHandover bool
}

// blockingProblems are the Check codes that make a slot-moving command
// refuse to start: the cluster must be whole and agree with itself first.
var blockingProblems = map[planner.ProblemCode]bool{
	planner.ProblemNodeUnreachable:        true,
	planner.ProblemUncoveredSlots:         true,
	planner.ProblemSlotOwnerDisagreement:  true,
	planner.ProblemMembershipDisagreement: true,
}

// preflight refuses a cluster that is not whole, and returns the plan that
// finishes interrupted migrations (see resumablePlan). Any other open slot
// needs `rcctl fix`.
func preflight(snap *topology.Snapshot) (planner.Plan, error) {
	if b := blocking(snap); len(b) > 0 {
		return planner.Plan{}, fmt.Errorf("cluster is not healthy (%s); run rcctl check / rcctl fix first", b[0].Message)
	}
	return resumablePlan(snap)
}

// blocking returns the problems of snap that make a slot-moving command
// refuse to start.
func blocking(snap *topology.Snapshot) []planner.Problem {
	open := snap.OpenSlots()
	var out []planner.Problem
	for _, p := range planner.Check(snap, planner.CheckOptions{}) {
		if blocks(p, open) {
			out = append(out, p)
		}
	}
	return out
}

// onlyGossipLag reports whether every problem that blocks snap is a node
// whose view of slot owners is behind: what a run killed between handing
// slots to their new owner and telling every master leaves, until gossip
// reaches every node.
func onlyGossipLag(snap *topology.Snapshot) bool {
	b := blocking(snap)
	for _, p := range b {
		if p.Code != planner.ProblemSlotOwnerDisagreement {
			return false
		}
	}
	return len(b) > 0
}

// gossipSettle bounds the wait for nodes whose view of slot owners is
// behind: a master pings every node at least every cluster-node-timeout/2
// (7.5 s with Redis' default), and each ping carries its slots.
const gossipSettle = 10 * time.Second

// blocks reports whether problem p makes a slot-moving command refuse to
// start. A disagreement about the owner of slots that are all still open
// does not: a run killed while handing slots over leaves the target owning
// them at a higher epoch while the source, still MIGRATING, claims them
// until gossip or the resumed handover tells it (with the quiet handover the
// middle slots of a chunk are not broadcast one by one). The resume plan
// closes exactly those slots on every master, and resumablePlan refuses the
// open slots it cannot explain.
func blocks(p planner.Problem, open topology.SlotSet) bool {
	switch p.Code {
	case planner.ProblemSlotOwnerDisagreement:
		return !p.Slots.Difference(open).IsEmpty()
	case planner.ProblemNodeFailing:
		return p.Severity == planner.SeverityError
	default:
		return blockingProblems[p.Code]
	}
}

// resumablePlan returns the plan that finishes interrupted migrations —
// a target IMPORTING a slot from a source that is MIGRATING it to that
// target or not at all, one of the two owning it — or an error naming an
// open slot that is not one.
func resumablePlan(snap *topology.Snapshot) (planner.Plan, error) {
	type pair struct{ src, tgt topology.NodeID }
	resume := map[pair]topology.SlotSet{}
	add := func(p pair, x int) {
		s := resume[p]
		s.Add(x)
		resume[p] = s
	}
	// An interrupted migration leaves the target IMPORTING from the source
	// (set first) and possibly the source MIGRATING to the target; either
	// may already own the slot if the run died while handing it over.
	cannot := func(x int, what string) error {
		return fmt.Errorf("slot %d is open in a way a migration cannot resume (%s); run rcctl fix first", x, what)
	}
	for _, id := range snap.IDs() {
		self := snap.Self(id)
		for x, tgt := range self.Migrating {
			t := snap.Self(tgt)
			if t == nil || (t.Importing[x] != "" && t.Importing[x] != id) || (!self.Slots.Has(x) && !t.Slots.Has(x)) {
				return planner.Plan{}, cannot(x, fmt.Sprintf("%s migrating to %s", id.Short(), tgt.Short()))
			}
			add(pair{id, tgt}, x)
		}
		for x, src := range self.Importing {
			sn := snap.Self(src)
			if sn == nil || (sn.Migrating[x] != "" && sn.Migrating[x] != id) || (!sn.Slots.Has(x) && !self.Slots.Has(x)) {
				return planner.Plan{}, cannot(x, fmt.Sprintf("%s importing from %s", id.Short(), src.Short()))
			}
			add(pair{src, id}, x)
		}
	}
	pairs := make([]pair, 0, len(resume))
	for p := range resume {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].src != pairs[j].src {
			return pairs[i].src < pairs[j].src
		}
		return pairs[i].tgt < pairs[j].tgt
	})
	var plan planner.Plan
	for _, p := range pairs {
		plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: p.src, Target: p.tgt, Slots: resume[p]})
	}
	if !plan.Empty() {
		plan.Notes = append(plan.Notes, "finishing slot migrations an earlier run left open")
	}
	return plan, nil
}

// resumeInterrupted runs preflight and, unless --dry-run, finishes the
// interrupted migrations it found and observes the cluster again. Under
// --dry-run the resume plan is returned so the caller can show it.
func (a *app) resumeInterrupted(ctx context.Context, s *session, mo migrationOptions) (planner.Plan, error) {
	if err := a.settleGossip(ctx, s); err != nil {
		return planner.Plan{}, err
	}
	resume, err := preflight(s.snap)
	if err != nil || resume.Empty() {
		return planner.Plan{}, err
	}
	if a.g.dryRun {
		return resume, nil
	}
	a.infof("resuming %d interrupted slot migration(s)", len(resume.Steps))
	if _, err := a.runPlan(ctx, s, "resume", resume, mo, executor.Options{}); err != nil {
		return planner.Plan{}, err
	}
	if err := s.observe(ctx); err != nil {
		return planner.Plan{}, err
	}
	return planner.Plan{}, nil
}

// settleGossip observes s again, for up to gossipSettle, while the only
// problems blocking it are nodes whose view of slot owners is behind.
func (a *app) settleGossip(ctx context.Context, s *session) error {
	if !onlyGossipLag(s.snap) {
		return nil
	}
	a.infof("some nodes do not know every slot's owner yet (an interrupted run leaves this); waiting up to %s for gossip", gossipSettle)
	deadline := time.Now().Add(gossipSettle)
	for onlyGossipLag(s.snap) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := s.observe(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runPlan executes plan with progress on stderr, then waits until every
// node agrees on the result.
func (a *app) runPlan(ctx context.Context, s *session, title string, plan planner.Plan, mo migrationOptions, extra executor.Options) (runReport, error) {
	return a.runPlanThen(ctx, s, title, plan, mo, extra, func(ctx context.Context) error {
		return a.waitConsistent(ctx, s.pool, reachableAddrs(s, plan))
	})
}

// runPlanThen is runPlan with settle in place of the wait for every node
// to agree: rcctl heal runs plans while nodes it has not forgotten yet are
// down, which that wait would never see agree.
func (a *app) runPlanThen(ctx context.Context, s *session, title string, plan planner.Plan, mo migrationOptions, extra executor.Options, settle func(context.Context) error) (runReport, error) {
	rep := runReport{planJSON: toPlanJSON(plan, false)}
	total := 0
	for _, st := range plan.Steps {
		if m, ok := st.(planner.MigrateSlots); ok {
			total += m.Slots.Count()
		}
	}
	pr := a.progress()
	opts := a.execOptions(pr)
	opts.Parallel = mo.parallel
	opts.Rate = mo.rate
	opts.QuietHandover = mo.quietHandover
	opts.AllowUnsafePromotion = extra.AllowUnsafePromotion
	start := time.Now()
	if total > 0 {
		pr.Begin(title, total)
	}
	ex := executor.New(s.pool, executor.Endpoints(s.snap), opts)
	err := ex.Run(ctx, plan)
	p := ex.CurrentProgress()
	if total > 0 {
		pr.End(progressState{SlotsDone: p.SlotsDone, SlotsTotal: p.SlotsTotal, Keys: p.KeysMoved})
	}
	rep.SlotsMoved, rep.KeysMoved = p.SlotsDone, p.KeysMoved
	if err != nil {
		return rep, fmt.Errorf("%s: %w", title, err)
	}
	if err := settle(ctx); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.KeysPerSecond = float64(rep.KeysMoved) / rep.Seconds
	}
	return rep, nil
}

// reachableAddrs lists the addresses of the snapshot's nodes that remain
// in the cluster after plan (nodes it forgets are left out).
func reachableAddrs(s *session, plan planner.Plan) []string {
	gone := map[topology.NodeID]bool{}
	for _, st := range plan.Steps {
		if f, ok := st.(planner.Forget); ok {
			gone[f.Node] = true
		}
	}
	var out []string
	for _, id := range s.snap.IDs() {
		if !gone[id] {
			out = append(out, s.snap.Nodes[id].Addr)
		}
	}
	return out
}

// finish prints the result of a run: JSON, or one summary line.
func (a *app) finish(what string, rep runReport) error {
	if a.g.json {
		return a.printJSON(rep)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: done", what)
	if rep.SlotsMoved > 0 {
		fmt.Fprintf(&b, ", moved %d slots and %d keys in %.2fs (%.0f keys/s)", rep.SlotsMoved, rep.KeysMoved, rep.Seconds, rep.KeysPerSecond)
	}
	_, err := fmt.Fprintln(a.stdout, b.String())
	return err
}

// planAndRun shows the plan under --dry-run, else runs it and reports.
func (a *app) planAndRun(ctx context.Context, s *session, what string, resume, plan planner.Plan, mo migrationOptions, extra executor.Options) error {
	if a.g.dryRun {
		all := planner.Plan{Steps: append(append([]planner.Step{}, resume.Steps...), plan.Steps...), Notes: append(append([]string{}, resume.Notes...), plan.Notes...)}
		return a.showPlan(what+" plan", all)
	}
	if plan.Empty() {
		if a.g.json {
			return a.printJSON(runReport{planJSON: toPlanJSON(plan, false)})
		}
		for _, n := range plan.Notes {
			if _, err := fmt.Fprintf(a.stdout, "note: %s\n", n); err != nil {
				return fmt.Errorf("write notes: %w", err)
			}
		}
		_, err := fmt.Fprintf(a.stdout, "%s: nothing to do\n", what)
		return err
	}
	if !a.g.json && !a.g.noProgress {
		// A preview on stderr, like infof's notes.
		_, _ = fmt.Fprintf(a.stderr, "%s plan: %d step(s)\n%s", what, len(plan.Steps), plan.String())
	}
	rep, err := a.runPlan(ctx, s, what, plan, mo, extra)
	if err != nil {
		return err
	}
	return a.finish(what, rep)
}
