package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
)

// createReport is the JSON result of `rcctl create`.
type createReport struct {
	DryRun bool          `json:"dryRun"`
	Shards []createShard `json:"shards"`
	Notes  []string      `json:"notes,omitempty"`
	Steps  []stepJSON    `json:"steps,omitempty"`
	// Seconds is the wall time from the first command to every node
	// agreeing on the layout (and, with --wait, every replica synced).
	Seconds float64 `json:"seconds,omitempty"`
}

type createShard struct {
	Master   string   `json:"master"`
	MasterID string   `json:"masterID"`
	Replicas []string `json:"replicas"`
	Slots    string   `json:"slots"`
}

// parseHints parses --hint ADDR=host[,zone] values.
func parseHints(hints []string, addrs []string) (map[string]topology.Labels, error) {
	known := map[string]bool{}
	for _, a := range addrs {
		known[a] = true
	}
	out := map[string]topology.Labels{}
	for _, h := range hints {
		addr, rest, ok := strings.Cut(h, "=")
		if !ok || rest == "" {
			return nil, usageErrorf("--hint %q: want ADDR=host[,zone]", h)
		}
		if !known[addr] {
			return nil, usageErrorf("--hint %q: %s is not one of the nodes to create", h, addr)
		}
		if _, dup := out[addr]; dup {
			return nil, usageErrorf("--hint %q: %s has a hint already", h, addr)
		}
		host, zone, _ := strings.Cut(rest, ",")
		if host == "" || strings.Contains(zone, ",") {
			return nil, usageErrorf("--hint %q: want ADDR=host[,zone]", h)
		}
		out[addr] = topology.Labels{Host: host, Zone: zone}
	}
	return out, nil
}

func (a *app) createCommand() *cobra.Command {
	var (
		replicas int
		masters  int
		wait     bool
		hints    []string
		joinTO   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create ADDR...",
		Short: "Create a cluster from empty nodes: masters and --replicas N each",
		Long: `create joins empty cluster-mode nodes into a new cluster: len(ADDR)/(1+N)
masters (or --masters), the slots split evenly, and N replicas per master placed
so that no replica shares a host with its master (hosts and zones come from
--hint; without hints every address counts as its own host).

Every node must be reachable, in cluster mode, know no other node and hold no
key; otherwise nothing is changed. create returns once every node agrees on
the layout; with --wait it also waits until every replica finished its first
sync with its master.`,
		Example: `  rcctl create 10.0.0.1:6379 10.0.0.2:6379 10.0.0.3:6379 \
      10.0.0.4:6379 10.0.0.5:6379 10.0.0.6:6379 --replicas 1 --wait
  rcctl create $(cat nodes.txt) --replicas 1 --hint 10.0.0.1:6379=host-a,zone-1 --dry-run`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return usageErrorf("--replicas must be >= 0")
			}
			seen := map[string]bool{}
			for _, addr := range args {
				if _, _, err := parseAddr(addr); err != nil {
					return err
				}
				if seen[addr] {
					return usageErrorf("%s is listed twice", addr)
				}
				seen[addr] = true
			}
			if err := checkCreateSize(len(args), masters, replicas, joinTO); err != nil {
				return err
			}
			labels, err := parseHints(hints, args)
			if err != nil {
				return err
			}
			return a.runCreate(cmd.Context(), args, labels, planner.LayoutSpec{Masters: masters, ReplicasPerMaster: replicas}, wait, joinTO)
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", 0, "replicas per master")
	cmd.Flags().IntVar(&masters, "masters", 0, "number of masters (default: nodes / (1 + replicas))")
	cmd.Flags().BoolVar(&wait, "wait", false, "also wait until every replica finished its first sync")
	cmd.Flags().DurationVar(&joinTO, "join-node-timeout", 500*time.Millisecond,
		"cluster-node-timeout used while the new cluster forms (shortens Redis' rejoin delay; each node's value is restored); 0 leaves it alone")
	cmd.Flags().StringArrayVar(&hints, "hint", nil, "placement hint ADDR=host[,zone] (repeatable)")
	return cmd
}

// checkCreateSize refuses a create whose flags no set of nodes satisfies or
// whose nodes are too few, saying which.
func checkCreateSize(nodes, masters, replicas int, joinTimeout time.Duration) error {
	switch {
	case masters < 0:
		return usageErrorf("--masters %d: must not be negative", masters)
	case masters > 0 && masters < planner.MinMasters:
		return usageErrorf("--masters %d: a cluster needs at least %d masters", masters, planner.MinMasters)
	case joinTimeout < 0:
		return usageErrorf("--join-node-timeout %v: must not be negative (0 leaves cluster-node-timeout alone)", joinTimeout)
	}
	m := masters
	if m == 0 {
		m = max(nodes/(1+replicas), planner.MinMasters)
	}
	if need := m * (1 + replicas); nodes < need {
		return usageErrorf("too few nodes: %d masters with %d replica(s) each need %d nodes, got %d", m, replicas, need, nodes)
	}
	return nil
}

func (a *app) runCreate(ctx context.Context, addrs []string, labels map[string]topology.Labels, spec planner.LayoutSpec, wait bool, joinTimeout time.Duration) (err error) {
	start := time.Now()
	p, err := a.pool()
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	fresh, err := probeAllFresh(ctx, p, addrs)
	if err != nil {
		return err
	}
	eps := map[topology.NodeID]executor.Endpoint{}
	for _, n := range fresh {
		l, ok := labels[n.Addr]
		if !ok {
			// Without a hint every address is its own host, so the
			// placement rules still spread what they can.
			l = topology.Labels{Host: n.Addr}
		}
		spec.Members = append(spec.Members, planner.Member{ID: n.ID, Addr: n.Addr, Labels: l})
		eps[n.ID] = executor.Endpoint{Addr: n.Addr, BusPort: n.BusPort}
	}
	plan, placement, err := planner.Layout(spec)
	if err != nil {
		return fmt.Errorf("plan layout: %w", err)
	}
	rep := createReport{DryRun: a.g.dryRun, Notes: plan.Notes}
	for _, sh := range placement.Shards {
		cs := createShard{Master: sh.Master.Addr, MasterID: string(sh.Master.ID), Slots: sh.Slots.String(), Replicas: []string{}}
		for _, r := range sh.Replicas {
			cs.Replicas = append(cs.Replicas, r.Addr)
		}
		rep.Shards = append(rep.Shards, cs)
	}
	if a.g.dryRun {
		rep.Steps = toPlanJSON(plan, true).Steps
		if a.g.json {
			return a.printJSON(rep)
		}
		if err := a.writeCreateTable(rep); err != nil {
			return err
		}
		return a.showPlan("plan", plan)
	}
	if joinTimeout > 0 {
		restore := a.lowerNodeTimeout(ctx, p, addrs, joinTimeout)
		defer func() {
			// Restore even when ctx was cancelled, bounded on its own.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if rerr := restore(rctx); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	ex := executor.New(p, eps, a.execOptions(nil))
	a.infof("creating %d masters with %d replica(s) each on %d nodes", len(placement.Shards), spec.ReplicasPerMaster, len(addrs))
	if err := ex.Run(ctx, plan); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	a.infof("waiting for every node to agree on the layout")
	if err := a.waitConsistent(ctx, p, addrs); err != nil {
		return err
	}
	if wait {
		a.infof("waiting for every replica's first sync")
		if err := a.waitReplicasSynced(ctx, p, addrs); err != nil {
			return err
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if a.g.json {
		return a.printJSON(rep)
	}
	if err := a.writeCreateTable(rep); err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "cluster created: %d nodes agree, all %d slots covered (%.2fs)\n", len(addrs), topology.SlotCount, rep.Seconds)
	return err
}

func (a *app) writeCreateTable(rep createReport) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	tab := &textout.Writer{W: tw}
	tab.Println("SHARD\tMASTER\tID\tSLOTS\tREPLICAS")
	for i, s := range rep.Shards {
		tab.Printf("%d\t%s\t%s\t%s\t%s\n", i, s.Master, short(s.MasterID), s.Slots, strings.Join(s.Replicas, " "))
	}
	for _, n := range rep.Notes {
		tab.Printf("note: %s\n", n)
	}
	if tab.Err() != nil {
		return fmt.Errorf("write table: %w", tab.Err())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
