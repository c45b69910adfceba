package cli

import (
	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/backup"
)

// deleteBackupReport is the JSON result of rcctl delete-backup.
type deleteBackupReport struct {
	Location string `json:"location"`
	// Deleted is false when the location held no complete backup.
	Deleted bool     `json:"deleted"`
	Objects []string `json:"objects,omitempty"`
}

func (a *app) deleteBackupCommand() *cobra.Command {
	var (
		so   storeOptions
		from string
	)
	cmd := &cobra.Command{
		Use:   "delete-backup --from URL",
		Short: "Delete a backup: its manifest first, then every shard's object",
		Long: `delete-backup removes the backup at --from: the manifest first, so the
location stops being a complete backup at once (a restore refuses it), then
the RDB object of every shard the manifest names. Nothing else at the
location is touched. A location without a manifest holds no complete backup
and is left as it is (exit 0, "deleted": false). No Redis node is contacted.`,
		Example: `  rcctl delete-backup --from file:///backups/2026-12-05
  rcctl delete-backup --from s3://redis-backups/prod/2026-12-05 --s3-endpoint https://s3.eu-west-1.amazonaws.com`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := so.store(cmd, "--from", from, a.g.timeout)
			if err != nil {
				return err
			}
			m, err := backup.Delete(cmd.Context(), store)
			if err != nil {
				return err
			}
			r := deleteBackupReport{Location: store.Location().String(), Deleted: m != nil}
			if m != nil {
				for _, sh := range m.Shards {
					r.Objects = append(r.Objects, sh.Object)
				}
			}
			if a.g.json {
				return a.printJSON(r)
			}
			out := &textout.Writer{W: a.stdout}
			if !r.Deleted {
				out.Printf("%s holds no complete backup (no %s): nothing deleted\n", r.Location, backup.ManifestName)
			} else {
				out.Printf("deleted the backup at %s: %s and %d objects\n", r.Location, backup.ManifestName, len(r.Objects))
			}
			return out.Err()
		},
	}
	so.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the backup: file:///dir or s3://bucket/prefix (required)")
	return cmd
}
