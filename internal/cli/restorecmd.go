package cli

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/backup"
)

// restoreReport is the JSON result of rcctl restore.
type restoreReport struct {
	Location string `json:"location"`
	DryRun   bool   `json:"dryRun,omitempty"`
	// Shards, Keys and Bytes describe the backup (the manifest).
	Shards int   `json:"shards"`
	Keys   int64 `json:"keys"`
	Bytes  int64 `json:"bytes"`
	// KeysRestored counts the keys written (keys expired since the backup
	// are not); Seconds is the whole restore, VerifySeconds its first
	// phase (download and checksums).
	KeysRestored  int64   `json:"keysRestored"`
	Seconds       float64 `json:"seconds"`
	VerifySeconds float64 `json:"verifySeconds"`
	KeysPerSecond float64 `json:"keysPerSecond"`
}

func (a *app) restoreCommand() *cobra.Command {
	var (
		so          storeOptions
		from        string
		force       bool
		parallel    int
		workDir     string
		redisServer string
	)
	cmd := &cobra.Command{
		Use:   "restore ADDR --from URL [--force]",
		Short: "Restore a backup into a cluster of any number of shards",
		Long: `restore copies every key of a backup into the cluster at ADDR, whatever its
number of shards. It first downloads every object and checks its size and
SHA-256 against the manifest, and refuses a target that holds keys unless
--force; nothing in the target changes before these checks pass. Then each
shard's RDB is loaded into a scratch redis-server (the real parser, on a
unix socket, no persistence) and its keys are written into the target with
pipelined RESTORE … REPLACE ABSTTL, TTLs kept, grouped by the master that
owns each key's slot.

It needs redis-server (at least the backup's Redis version) on this machine,
room in --work-dir for the whole backup, and memory for --parallel shards'
datasets. With --force, keys of the backup replace keys of the same name and
other keys stay.`,
		Example: `  rcctl restore 10.0.1.1:6379 --from file:///backups/2026-12-05
  rcctl restore 10.0.1.1:6379 --from s3://redis-backups/prod/2026-12-05 --s3-endpoint https://s3.eu-west-1.amazonaws.com --force`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if parallel < 1 {
				return usageErrorf("--parallel %d: must be >= 1", parallel)
			}
			if _, _, err := parseAddr(args[0]); err != nil {
				return err
			}
			if _, err := exec.LookPath(redisServer); err != nil {
				return usageErrorf("--redis-server %s: %v (restore loads each RDB into a scratch redis-server)", redisServer, err)
			}
			store, err := so.store(cmd, "--from", from, a.g.timeout)
			if err != nil {
				return err
			}
			opts := backup.RestoreOptions{Force: force, Parallel: parallel, WorkDir: workDir, RedisServer: redisServer}
			return a.runRestore(cmd.Context(), args[0], store, opts)
		},
	}
	so.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the backup: file:///dir or s3://bucket/prefix (required)")
	cmd.Flags().BoolVar(&force, "force", false, "restore into a cluster that holds keys (keys of the backup replace them)")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "shards loaded at once, each into its own scratch redis-server")
	cmd.Flags().StringVar(&workDir, "work-dir", "", "where objects are downloaded and scratch servers run (default: the system temp directory)")
	cmd.Flags().StringVar(&redisServer, "redis-server", "redis-server", "the redis-server binary of the scratch servers")
	return cmd
}

func (a *app) runRestore(ctx context.Context, seed string, store backup.Store, opts backup.RestoreOptions) error {
	s, err := a.open(ctx, seed)
	if err != nil {
		return err
	}
	defer s.close()
	if a.g.dryRun {
		return a.showRestorePlan(ctx, s, store, opts.Force)
	}
	rep := newTransferReporter(a.stderr, a.g.json || a.g.noProgress)
	opts.Progress = rep.callback()
	start := time.Now()
	res, err := backup.Restore(ctx, s.pool, s.snap, store, opts)
	rep.finish()
	if err != nil {
		return err
	}
	m := res.Manifest
	secs := time.Since(start).Seconds()
	r := restoreReport{Location: store.Location().String(), Shards: len(m.Shards), Keys: m.TotalKeys(), Bytes: m.TotalSize(),
		KeysRestored: res.Restore.Keys, Seconds: secs, VerifySeconds: res.Verify.Elapsed.Seconds(), KeysPerSecond: float64(res.Restore.Keys) / secs}
	if a.g.json {
		return a.printJSON(r)
	}
	out := &textout.Writer{W: a.stdout}
	out.Printf("restore complete: %d keys from %d shards of %s (%s, checked) into %d masters in %.1fs (%.0f keys/s)\n",
		r.KeysRestored, r.Shards, r.Location, mib(r.Bytes), len(s.snap.IDs()), r.Seconds, r.KeysPerSecond)
	if r.KeysRestored < r.Keys {
		out.Printf("%d keys fewer than the manifest counts: keys that expired since the backup are not restored\n", r.Keys-r.KeysRestored)
	}
	if err := out.Err(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// showRestorePlan reads and checks the manifest and the target without
// downloading anything or changing the target.
func (a *app) showRestorePlan(ctx context.Context, s *session, store backup.Store, force bool) error {
	m, err := backup.ReadManifest(ctx, store)
	if err != nil {
		return err
	}
	if err := backup.CheckTarget(s.snap, force); err != nil {
		return err
	}
	r := restoreReport{Location: store.Location().String(), DryRun: true, Shards: len(m.Shards), Keys: m.TotalKeys(), Bytes: m.TotalSize()}
	if a.g.json {
		return a.printJSON(r)
	}
	out := &textout.Writer{W: a.stdout}
	out.Printf("restore plan (dry run, nothing downloaded or written): %d keys from %d shards of %s (%s, taken %s)\n",
		r.Keys, r.Shards, r.Location, mib(r.Bytes), m.Started.Format(time.RFC3339))
	for _, sh := range m.Shards {
		out.Printf("  %s: slots %s, %d keys, Redis %s, from %s %s\n", sh.Object, sh.Slots.String(), sh.Keys, sh.RedisVersion, sh.SourceRole, sh.SourceAddr)
	}
	return out.Err()
}
