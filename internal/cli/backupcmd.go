package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/backup"
	"github.com/redkube/redkube/pkg/planner"
)

// backupReport is the JSON result of rcctl backup.
type backupReport struct {
	Location string           `json:"location"`
	Manifest *backup.Manifest `json:"manifest"`
	Seconds  float64          `json:"seconds"`
	// BytesPerSecond and KeysPerSecond are the whole backup's rates.
	BytesPerSecond float64 `json:"bytesPerSecond"`
	KeysPerSecond  float64 `json:"keysPerSecond"`
}

// backupPlanJSON is the --dry-run --json result of rcctl backup.
type backupPlanJSON struct {
	Location string          `json:"location"`
	DryRun   bool            `json:"dryRun"`
	Sources  []backupSrcJSON `json:"sources"`
}

type backupSrcJSON struct {
	Master   string `json:"master"`
	Slots    string `json:"slots"`
	Node     string `json:"node"`
	Addr     string `json:"addr"`
	Role     string `json:"role"`
	Fallback string `json:"fallback,omitempty"`
}

func (a *app) backupCommand() *cobra.Command {
	var (
		so       storeOptions
		to, name string
		parallel int
		maxLag   int64
	)
	cmd := &cobra.Command{
		Use:   "backup ADDR --to URL",
		Short: "Back up every shard's RDB, from an in-sync replica when there is one, to a directory or S3",
		Long: `backup fetches one RDB per shard over the replication protocol (as
redis-cli --rdb does), from the shard's best in-sync replica so the master is
not forked, or from the master when no replica is in sync (it says so). Each
RDB is streamed to the destination while it is hashed (SHA-256); the manifest
(shards, node IDs, slots, key counts, sizes, digests, Redis version, times) is
written last. A failed backup deletes what it stored and writes no manifest.

Destinations: file:///dir (a directory, created when missing) or
s3://bucket/prefix with --s3-endpoint and credentials from $AWS_ACCESS_KEY_ID
and $AWS_SECRET_ACCESS_KEY. The ACL user needs SYNC and REPLCONF.

Each shard is a point-in-time copy of its own; see docs/backup.md for
consistency across shards.`,
		Example: `  rcctl backup 10.0.0.1:6379 --to file:///backups/2026-12-05
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
    rcctl backup 10.0.0.1:6379 --to s3://redis-backups/prod/2026-12-05 --s3-endpoint https://s3.eu-west-1.amazonaws.com`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if parallel < 0 {
				return usageErrorf("--parallel %d: must be >= 0 (0: every shard at once)", parallel)
			}
			if maxLag < 0 {
				return usageErrorf("--max-lag %d: must be >= 0", maxLag)
			}
			if _, _, err := parseAddr(args[0]); err != nil {
				return err
			}
			store, err := so.store(cmd, "--to", to, a.g.timeout)
			if err != nil {
				return err
			}
			opts := backup.BackupOptions{Cluster: name, Parallel: parallel, MaxLag: maxLag}
			return a.runBackup(cmd.Context(), args[0], store, opts)
		},
	}
	so.register(cmd)
	cmd.AddCommand(a.fetchShardCommand())
	cmd.Flags().StringVar(&to, "to", "", "where to write the backup: file:///dir or s3://bucket/prefix (required)")
	cmd.Flags().StringVar(&name, "cluster-name", "", "a label for the cluster, recorded in the manifest")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "shards fetched at once (0: all)")
	cmd.Flags().Int64Var(&maxLag, "max-lag", planner.CaughtUpLag, "replication offset distance in bytes up to which a replica counts as in sync")
	return cmd
}

func (a *app) runBackup(ctx context.Context, seed string, store backup.Store, opts backup.BackupOptions) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	if a.g.dryRun {
		return a.showBackupPlan(s, store, opts.MaxLag)
	}
	po := s.pool.Options()
	opts.Fetch = backup.FetchOptions{Username: po.Username, Password: po.Password, TLSConfig: po.TLSConfig, DialTimeout: a.g.timeout, IdleTimeout: a.g.timeout}
	rep := newTransferReporter(a.stderr, a.g.json || a.g.noProgress)
	opts.Progress = rep.callback()
	start := time.Now()
	m, err := backup.Backup(ctx, s.pool, s.snap, store, opts)
	rep.finish()
	if err != nil {
		return err
	}
	for _, sh := range m.Shards {
		if sh.SourceRole == backup.RoleMaster {
			a.infof("note: shard %s (slots %s) was backed up from its master %s: %s", sh.MasterID.Short(), sh.Slots.String(), sh.SourceAddr, sh.Note)
		}
	}
	secs := time.Since(start).Seconds()
	r := backupReport{Location: store.Location().String(), Manifest: m, Seconds: secs,
		BytesPerSecond: float64(m.TotalSize()) / secs, KeysPerSecond: float64(m.TotalKeys()) / secs}
	if a.g.json {
		return a.printJSON(r)
	}
	return writeBackupReport(a.stdout, r)
}

// showBackupPlan prints which node each shard would be fetched from.
func (a *app) showBackupPlan(s *session, store backup.Store, maxLag int64) error {
	if maxLag == 0 {
		maxLag = planner.CaughtUpLag
	}
	srcs, err := backup.PlanSources(s.snap, maxLag)
	if err != nil {
		return err
	}
	plan := backupPlanJSON{Location: store.Location().String(), DryRun: true}
	for _, src := range srcs {
		plan.Sources = append(plan.Sources, backupSrcJSON{Master: string(src.MasterID), Slots: src.Slots.String(),
			Node: string(src.NodeID), Addr: src.Addr, Role: string(src.Role), Fallback: src.Fallback})
	}
	if a.g.json {
		return a.printJSON(plan)
	}
	out := &textout.Writer{W: a.stdout}
	out.Printf("backup plan (dry run, nothing fetched) to %s:\n", plan.Location)
	for _, src := range plan.Sources {
		note := ""
		if src.Fallback != "" {
			note = " — " + src.Fallback
		}
		out.Printf("  slots %s: from %s %s (%s)%s\n", src.Slots, src.Role, src.Addr, shortID(src.Node), note)
	}
	return out.Err()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// writeBackupReport prints the finished backup.
func writeBackupReport(w io.Writer, r backupReport) error {
	m := r.Manifest
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	out := &textout.Writer{W: tw}
	out.Printf("backup complete: %s, %d shards, %d keys, %s in %.1fs (%s/s)\n", r.Location, len(m.Shards), m.TotalKeys(), mib(m.TotalSize()), r.Seconds, mib(int64(r.BytesPerSecond)))
	out.Printf("OBJECT\tSOURCE\tSLOTS\tKEYS\tSIZE\tSHA256\n")
	for _, sh := range m.Shards {
		out.Printf("%s\t%s %s\t%s\t%d\t%s\t%s\n", sh.Object, sh.SourceRole, sh.SourceAddr, sh.Slots.String(), sh.Keys, mib(sh.Size), sh.SHA256[:16])
	}
	if err := out.Err(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
