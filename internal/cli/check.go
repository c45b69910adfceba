package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/planner"
)

// checkReport is the JSON result of `rcctl check`.
type checkReport struct {
	OK       bool              `json:"ok"`
	Nodes    int               `json:"nodes"`
	Problems []planner.Problem `json:"problems"`
}

func (a *app) checkCommand() *cobra.Command {
	var (
		opts           planner.CheckOptions
		ignoreWarnings bool
	)
	cmd := &cobra.Command{
		Use:   "check ADDR",
		Short: "Check a cluster for problems; exit 1 when there is any",
		Long: `check observes every node of the cluster ADDR belongs to and reports
uncovered or open slots, nodes that disagree about slot owners or members,
failing or unreachable nodes, and replicas that are down, syncing or lagging.
It exits 1 when it finds any problem (with --ignore-warnings, any error).`,
		Example: `  rcctl check 10.0.0.1:6379
  rcctl check 10.0.0.1:6379 --json --replicas 1`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.ReplicasPerMaster < 0:
				return usageErrorf("--replicas %d: must not be negative", opts.ReplicasPerMaster)
			case opts.MaxReplicaLag < 0:
				return usageErrorf("--max-lag %d: must not be negative", opts.MaxReplicaLag)
			}
			s, err := a.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.close()
			problems := planner.Check(s.snap, opts)
			failed := len(problems) > 0
			if ignoreWarnings {
				failed = planner.HasErrors(problems)
			}
			if a.g.json {
				if problems == nil {
					problems = []planner.Problem{}
				}
				if err := a.printJSON(checkReport{OK: !failed, Nodes: len(s.snap.Nodes), Problems: problems}); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					if _, err := fmt.Fprintln(a.stdout, p.String()); err != nil {
						return fmt.Errorf("write problems: %w", err)
					}
				}
				if len(problems) == 0 {
					if _, err := fmt.Fprintf(a.stdout, "ok: %d nodes agree, all %d slots covered, no open slots\n", len(s.snap.Nodes), 16384); err != nil {
						return fmt.Errorf("write result: %w", err)
					}
				}
			}
			if failed {
				return errProblemsFound
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.ReplicasPerMaster, "replicas", 0, "expected replicas per master (0: do not check)")
	cmd.Flags().Int64Var(&opts.MaxReplicaLag, "max-lag", planner.CaughtUpLag, "replication offset distance in bytes beyond which a replica counts as lagging")
	cmd.Flags().BoolVar(&ignoreWarnings, "ignore-warnings", false, "exit 0 when only warnings are found")
	return cmd
}
