package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// maxHealPasses bounds how many changes one rcctl heal makes: each pass
// makes at most one, and a cluster that still needs one after this many is
// not converging.
const maxHealPasses = 20

// healReport is the result of `rcctl heal`, also its JSON form.
type healReport struct {
	DryRun bool `json:"dryRun"`
	// Passes are the changes decided, one per pass, in order (under
	// --dry-run the first one only, not made).
	Passes []healPass `json:"passes"`
	// Blocked says why changes the rules want were not made, as the last
	// pass found; empty when nothing is blocked.
	Blocked string `json:"blocked,omitempty"`
	// Notes say what else the user should know (hints naming no node,
	// optional moves waiting for replicas to sync).
	Notes []string `json:"notes,omitempty"`
}

// healPass is one decision and, unless --dry-run, what running it did.
type healPass struct {
	// Kind names the change ("repair slots", "attach replicas", ...).
	Kind string `json:"kind"`
	// Reason is the rule's CamelCase reason ("RepairingSlots").
	Reason string `json:"reason"`
	// Message says what is done and why.
	Message string     `json:"message"`
	Steps   []stepJSON `json:"steps"`
	Notes   []string   `json:"notes,omitempty"`
	// Blocked says why changes of more urgent rules were not made.
	Blocked    string  `json:"blocked,omitempty"`
	SlotsMoved int     `json:"slotsMoved"`
	KeysMoved  int64   `json:"keysMoved"`
	Seconds    float64 `json:"seconds"`
}

func (a *app) healCommand() *cobra.Command {
	var (
		hostOf      []string
		forgetAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "heal ADDR",
		Short: "Make the changes the operator would: repair slots, attach empty nodes, forget dead nodes, spread masters",
		Long: `heal runs the operator's healing rules (pkg/heal) on the cluster ADDR belongs
to, outside Kubernetes. Each pass observes every node, asks the rules for the
one change the cluster needs next, makes it and waits until the nodes agree,
until a pass finds nothing to do. In priority order it:

  - introduces nodes to peers that do not know them at their address;
  - forgets nodes that do not answer, are flagged fail and were last heard
    from more than --forget-after ago, and own no slots;
  - attaches each master that holds no slots and is no replica as a replica
    of the master with the fewest replicas, preferring another host;
  - closes slots left MIGRATING or IMPORTING and covers slots nobody serves;
  - re-points a replica that shares its master's host, trading masters with
    a replica of another shard;
  - hands a master role to a replica on another host (graceful failover)
    when one host holds more than its share of masters.

Hosts come from --host-of; a node without a hint counts as running on the
host of its IP address. --dry-run prints the first change and makes none.`,
		Example: `  rcctl heal 10.0.0.1:6379 --dry-run
  rcctl heal 10.0.0.1:6379 --host-of 10.0.0.1:6379=rack-a --host-of 10.0.0.1:6380=rack-a --forget-after 5m`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hosts, err := parseHostOf(hostOf)
			if err != nil {
				return err
			}
			if forgetAfter <= 0 {
				return usageErrorf("--forget-after %s: must be positive", forgetAfter)
			}
			return a.runHeal(cmd.Context(), args[0], hosts, forgetAfter)
		},
	}
	cmd.Flags().StringArrayVar(&hostOf, "host-of", nil, "the host node ADDR runs on, ADDR=HOST (repeatable)")
	cmd.Flags().DurationVar(&forgetAfter, "forget-after", heal.DefaultForgetAfter, "forget a node flagged fail once it has been silent this long")
	return cmd
}

// parseHostOf parses --host-of ADDR=HOST values into a map from address to
// host.
func parseHostOf(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		addr, host, ok := strings.Cut(v, "=")
		if !ok || host == "" || strings.ContainsAny(host, " \t=") {
			return nil, usageErrorf("--host-of %q: want ADDR=HOST", v)
		}
		if _, _, err := parseAddr(addr); err != nil {
			return nil, usageErrorf("--host-of %q: %s is not a host:port address", v, addr)
		}
		if prev, dup := out[addr]; dup && prev != host {
			return nil, usageErrorf("--host-of %q: %s is already on host %s", v, addr, prev)
		}
		out[addr] = host
	}
	return out, nil
}

func (a *app) runHeal(ctx context.Context, seed string, hosts map[string]string, forgetAfter time.Duration) error {
	labels := func(addr string) topology.Labels { return topology.Labels{Host: hosts[addr]} }
	s, err := a.openLabeled(ctx, seed, labels)
	if err != nil {
		return err
	}
	defer s.close()
	rep := healReport{DryRun: a.g.dryRun, Passes: []healPass{}, Notes: unknownHints(s.snap, hosts)}
	var last *heal.Decision
	for pass := 1; ; pass++ {
		d, c, err := healDecide(ctx, s, forgetAfter)
		if err != nil {
			return err
		}
		if d.IsNone() {
			rep.Blocked = d.Blocked
			rep.Notes = append(rep.Notes, silentOwners(c)...)
			if ok, why := c.ReplicasInSync(); !ok {
				rep.Notes = append(rep.Notes, "replica placement and the master spread wait for every shard's replicas to be in sync: "+why)
			}
			return a.healDone(rep)
		}
		p := healPass{Kind: d.Kind.String(), Reason: d.Reason, Message: d.Message, Blocked: d.Blocked}
		pj := toPlanJSON(d.Plan, a.g.dryRun)
		p.Steps, p.Notes = pj.Steps, pj.Notes
		if a.g.dryRun {
			rep.Passes = append(rep.Passes, p)
			rep.Notes = append(rep.Notes, silentOwners(c)...)
			return a.healDone(rep)
		}
		if last != nil && last.Kind == d.Kind && last.Plan.String() == d.Plan.String() {
			return fmt.Errorf("heal: %s decided again after it ran, without effect: %s", d.Kind, d.Message)
		}
		if pass > maxHealPasses {
			return fmt.Errorf("heal: the cluster still needs changes after %d passes (next: %s: %s)", maxHealPasses, d.Kind, d.Message)
		}
		if err := a.healPrintPass(pass, p); err != nil {
			return err
		}
		run, err := a.runPlanThen(ctx, s, "heal: "+d.Kind.String(), d.Plan, migrationOptions{parallel: 4},
			executor.Options{AllowUnsafePromotion: d.Forced}, func(ctx context.Context) error { return a.waitSettled(ctx, s) })
		if err != nil {
			return err
		}
		p.SlotsMoved, p.KeysMoved, p.Seconds = run.SlotsMoved, run.KeysMoved, run.Seconds
		rep.Passes = append(rep.Passes, p)
		if err := s.observe(ctx); err != nil {
			return err
		}
		last = &d
	}
}

// healDecide runs one pass of the rules on the session's snapshot: the
// cluster as found, with the key holders of open and uncovered slots.
func healDecide(ctx context.Context, s *session, forgetAfter time.Duration) (heal.Decision, *heal.Cluster, error) {
	holders, err := keyHolders(ctx, s)
	if err != nil {
		return heal.Decision{}, nil, err
	}
	obs := heal.Unmanaged(s.snap, time.Now(), forgetAfter)
	obs.KeyHolders = holders
	c := heal.Derive(obs)
	d := heal.DefaultChain().Decide(c)
	if d.MemberOp != heal.NoMemberOp || len(d.Groups) > 0 {
		// Unmanaged gives the rules a platform that can do neither.
		return heal.Decision{}, nil, fmt.Errorf("heal: internal error: the rules asked for an operation on member %q (%s), which only a platform can do", d.Member, d.Kind)
	}
	return d, c, nil
}

// silentOwners returns a note for each master that serves slots by
// consensus but does not answer: the rules promote no replica of it
// without a platform's probe that its process is gone, so heal alone
// cannot bring those slots back.
func silentOwners(c *heal.Cluster) []string {
	if c.Cons == nil {
		return nil
	}
	var out []string
	for _, n := range c.Cons.View.Nodes {
		if _, answers := c.Snap.Nodes[n.ID]; answers || n.Slots.IsEmpty() {
			continue
		}
		out = append(out, fmt.Sprintf("master %s (%s) serves %d slots and does not answer: heal fails over no master that is down "+
			"(Redis does once one of its replicas wins the vote; else see rcctl failover --force)", n.ID.Short(), n.Addr, n.Slots.Count()))
	}
	return out
}

// unknownHints returns a note for each --host-of address no answering node
// was reached at.
func unknownHints(snap *topology.Snapshot, hosts map[string]string) []string {
	reached := map[string]bool{}
	for _, ns := range snap.Nodes {
		reached[ns.Addr] = true
	}
	var out []string
	for addr := range hosts {
		if !reached[addr] {
			out = append(out, fmt.Sprintf("--host-of %s=%s: no answering node of the cluster is at %s", addr, hosts[addr], addr))
		}
	}
	sort.Strings(out)
	return out
}

// healPrintPass prints the change a pass is about to make.
func (a *app) healPrintPass(pass int, p healPass) error {
	if a.g.json {
		return nil
	}
	_, err := fmt.Fprintf(a.stdout, "pass %d: %s: %s\n%s", pass, p.Kind, p.Message, passLines(p))
	if err != nil {
		return fmt.Errorf("write heal pass: %w", err)
	}
	return nil
}

// passLines renders a pass's steps, notes and blocked text, one per line.
func passLines(p healPass) string {
	var b strings.Builder
	for i, st := range p.Steps {
		fmt.Fprintf(&b, "%3d. %s\n", i+1, st.Description)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if p.Blocked != "" {
		fmt.Fprintf(&b, "note: blocked: %s\n", p.Blocked)
	}
	return b.String()
}

// healDone prints the result: the JSON report, or the dry run's plan or a
// summary line, then the blocked text and notes.
func (a *app) healDone(rep healReport) error {
	if a.g.json {
		return a.printJSON(rep)
	}
	var b strings.Builder
	switch {
	case rep.DryRun && len(rep.Passes) > 0:
		p := rep.Passes[0]
		fmt.Fprintf(&b, "heal plan: %s: %s\n%s", p.Kind, p.Message, passLines(p))
	case rep.DryRun && len(rep.Passes) == 0:
		b.WriteString("heal plan: nothing to do\n")
	case len(rep.Passes) == 0:
		b.WriteString("heal: nothing to do\n")
	default:
		slots, keys, secs := 0, int64(0), 0.0
		for _, p := range rep.Passes {
			slots, keys, secs = slots+p.SlotsMoved, keys+p.KeysMoved, secs+p.Seconds
		}
		fmt.Fprintf(&b, "heal: done, %d change(s) in %.2fs", len(rep.Passes), secs)
		if slots > 0 {
			fmt.Fprintf(&b, ", moved %d slots and %d keys", slots, keys)
		}
		b.WriteString("; nothing left to do\n")
	}
	if rep.Blocked != "" {
		fmt.Fprintf(&b, "note: blocked: %s\n", rep.Blocked)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if _, err := fmt.Fprint(a.stdout, b.String()); err != nil {
		return fmt.Errorf("write heal result: %w", err)
	}
	return nil
}

// waitSettled waits, bounded by waitLimit, until the nodes that answered
// before a change have settled after it (see unsettled).
func (a *app) waitSettled(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	addrs := make([]string, 0, len(s.snap.Nodes))
	for _, id := range s.snap.IDs() {
		addrs = append(addrs, s.snap.Nodes[id].Addr)
	}
	for {
		why := ""
		snap, err := redisadmin.ObserveNodes(ctx, s.pool, addrs, nil)
		if err != nil {
			why = err.Error()
		} else {
			why = unsettled(snap)
		}
		if why == "" {
			return nil
		}
		t := time.NewTimer(waitPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the cluster to settle (%s): %w", why, ctx.Err())
		case <-t.C:
		}
	}
}

// unsettled says why the answering nodes of snap have not settled, or ""
// once they have: every address answered; no node is in a handshake; each
// sees every other answering node up with its bus link connected; all know
// the same nodes, the same slot owners and the same master of each
// replica; each reports cluster_state:ok unless a slot's owner does not
// answer; and every replica of an answering master has its link up and no
// sync in progress. Nodes that do not answer may still be listed (flagged
// fail or not yet): heal forgets them only after --forget-after, and
// executor.Consistency, which wants every listed node up, would wait for
// them forever.
func unsettled(snap *topology.Snapshot) string {
	if len(snap.Unreachable) > 0 {
		addrs := make([]string, 0, len(snap.Unreachable))
		for addr := range snap.Unreachable {
			addrs = append(addrs, addr)
		}
		sort.Strings(addrs)
		return addrs[0] + ": " + snap.Unreachable[addrs[0]]
	}
	var ref *topology.NodeState
	for _, id := range snap.IDs() {
		ns := snap.Nodes[id]
		if why := peersUp(snap, ns); why != "" {
			return why
		}
		if ref == nil {
			ref = ns
		} else if why := sameLayout(ref, ns); why != "" {
			return why
		}
	}
	served := true
	for _, owner := range planner.Agree(snap).Owners {
		if _, ok := snap.Nodes[owner]; !ok {
			served = false
			break
		}
	}
	for _, id := range snap.IDs() {
		ns := snap.Nodes[id]
		if served && !ns.ClusterStateOK {
			return ns.Addr + ": cluster_state is not ok"
		}
		self := ns.Self()
		if _, ok := snap.Nodes[self.MasterID]; self.IsReplica() && ok && (!ns.Replication.MasterLinkUp || ns.Replication.MasterSyncInProgress) {
			return fmt.Sprintf("%s: replica of %s has not finished its sync", ns.Addr, self.MasterID.Short())
		}
	}
	return ""
}

// peersUp says why ns does not see the other answering nodes of snap up,
// or sees a node in a handshake; "" when neither.
func peersUp(snap *topology.Snapshot, ns *topology.NodeState) string {
	for _, n := range ns.View.Nodes {
		if n.IsMyself() {
			continue
		}
		if n.Flags.Has(topology.FlagHandshake) {
			return fmt.Sprintf("%s: node %s is in a handshake", ns.Addr, n.Addr)
		}
		if _, answers := snap.Nodes[n.ID]; answers && (n.Failing() || !n.Connected) {
			return fmt.Sprintf("%s: sees node %s (%s) as %s, bus link connected: %t", ns.Addr, n.ID.Short(), n.Addr, n.Flags, n.Connected)
		}
	}
	return ""
}

// sameLayout says how b's view differs from a's in known nodes, slot
// owners or masters; "" when it does not.
func sameLayout(a, b *topology.NodeState) string {
	if len(a.View.Nodes) != len(b.View.Nodes) {
		return fmt.Sprintf("%s knows %d nodes, %s %d", b.Addr, len(b.View.Nodes), a.Addr, len(a.View.Nodes))
	}
	for _, n := range b.View.Nodes {
		r := a.View.Node(n.ID)
		if r == nil {
			return fmt.Sprintf("%s knows node %s, %s does not", b.Addr, n.ID.Short(), a.Addr)
		}
		if r.MasterID != n.MasterID {
			return fmt.Sprintf("%s says node %s replicates %q, %s says %q", b.Addr, n.ID.Short(), n.MasterID.Short(), a.Addr, r.MasterID.Short())
		}
	}
	ao, bo := a.View.SlotOwners(), b.View.SlotOwners()
	if ao != bo {
		for x := range ao {
			if ao[x] != bo[x] {
				return fmt.Sprintf("%s says slot %d is served by %q, %s says %q", b.Addr, x, bo[x].Short(), a.Addr, ao[x].Short())
			}
		}
	}
	return ""
}
