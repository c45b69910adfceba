package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/pkg/backup"
)

// fetchShardReport is the JSON result of rcctl backup fetch-shard.
type fetchShardReport struct {
	Location string `json:"location"`
	Shard    int    `json:"shard"`
	// Placed is false when the node had a cluster state already and
	// nothing was written.
	Placed  bool    `json:"placed"`
	Path    string  `json:"path,omitempty"`
	Object  string  `json:"object,omitempty"`
	Slots   string  `json:"slots,omitempty"`
	Keys    int64   `json:"keys,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds"`
}

func (a *app) fetchShardCommand() *cobra.Command {
	var (
		so        storeOptions
		from, to  string
		redisConf string
		shard     int
		ordinal   int
	)
	cmd := &cobra.Command{
		Use:   "fetch-shard --from URL --shard I (--redis-conf FILE | --to FILE)",
		Short: "Write one shard's RDB of a backup where a fresh redis-server loads it at start",
		Long: `fetch-shard streams the RDB of shard I (in slot order, from 0) of the backup
at --from to a local file, checking its size and SHA-256 against the
manifest; the file is renamed into place only once it matched.

With --redis-conf, the file is where that redis-server loads its dataset:
the base file of its multi-part AOF (and the AOF manifest) when appendonly
is yes (Redis 7 then ignores dbfilename), dir/dbfilename otherwise; nothing
is written when the node's cluster-config-file exists (the node has started
before and its data is its own). Started with no nodes.conf, a cluster-mode
redis-server claims the slots it holds keys for; the rest of the shard's
slots are assigned when the cluster is formed (the operator's same-layout
restore does this).

With --to, the RDB is written to that file, whatever is there.

With --only-ordinal N (a StatefulSet's init container), nothing is done
unless this pod's name ($POD_NAME, else the host name) ends in -N: only the pod planned as the shard's
master starts on the RDB; its replicas start empty and sync from it.`,
		Example: `  rcctl backup fetch-shard --from s3://redis-backups/prod/2026-12-05 --shard 1 --redis-conf /etc/redis/redis.conf
  rcctl backup fetch-shard --from file:///backups/2026-12-05 --shard 0 --to /tmp/shard-0.rdb`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if shard < 0 {
				return usageErrorf("--shard %d: must be >= 0", shard)
			}
			if (to == "") == (redisConf == "") {
				return usageErrorf("give exactly one of --redis-conf and --to")
			}
			store, err := so.store(cmd, "--from", from, a.g.timeout)
			if err != nil {
				return err
			}
			if ordinal >= 0 {
				host, err := podName()
				if err != nil {
					return fmt.Errorf("--only-ordinal: %w", err)
				}
				if !strings.HasSuffix(host, "-"+strconv.Itoa(ordinal)) {
					a.infof("shard %d not placed: %s is not the pod of ordinal %d", shard, host, ordinal)
					return nil
				}
			}
			return a.runFetchShard(cmd.Context(), store, shard, to, redisConf)
		},
	}
	so.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the backup: file:///dir or s3://bucket/prefix (required)")
	cmd.Flags().IntVar(&shard, "shard", 0, "the shard, by its position in the manifest (slot order, from 0)")
	cmd.Flags().StringVar(&redisConf, "redis-conf", "", "the redis.conf of the node that will load the shard")
	cmd.Flags().StringVar(&to, "to", "", "write the RDB to this file instead")
	cmd.Flags().IntVar(&ordinal, "only-ordinal", -1, "do nothing unless $POD_NAME (else the host name) ends in -N (a StatefulSet pod's ordinal)")
	return cmd
}

func (a *app) runFetchShard(ctx context.Context, store backup.Store, shard int, to, redisConf string) error {
	rep := newTransferReporter(a.stderr, a.g.json || a.g.noProgress)
	opts := backup.FetchShardOptions{Progress: rep.callback()}
	start := time.Now()
	var res backup.PlaceResult
	var err error
	if redisConf != "" {
		var p backup.Placement
		p, err = readPlacement(redisConf)
		if err == nil {
			res, err = backup.PlaceShard(ctx, store, shard, p, opts)
		}
	} else {
		res.Path = to
		res.Shard, err = backup.FetchShard(ctx, store, shard, to, opts)
		res.Placed = err == nil
	}
	rep.finish()
	if err != nil {
		return err
	}
	r := fetchShardReport{Location: store.Location().String(), Shard: shard, Placed: res.Placed, Path: res.Path, Seconds: time.Since(start).Seconds()}
	if sh := res.Shard; sh != nil {
		r.Object, r.Slots, r.Keys, r.Bytes = sh.Object, sh.Slots.String(), sh.Keys, sh.Size
	}
	if a.g.json {
		return a.printJSON(r)
	}
	out := &textout.Writer{W: a.stdout}
	if !r.Placed {
		out.Printf("shard %d not placed: the node has a cluster state already (%s); its data is its own\n", shard, redisConf)
	} else {
		out.Printf("shard %d (%s, slots %s, %d keys, %s, checked) written to %s in %.1fs\n", shard, r.Object, r.Slots, r.Keys, mib(r.Bytes), r.Path, r.Seconds)
	}
	if err := out.Err(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// readPlacement reads where the node of the redis.conf at path loads its
// dataset.
func readPlacement(path string) (backup.Placement, error) {
	f, err := os.Open(path)
	if err != nil {
		return backup.Placement{}, fmt.Errorf("--redis-conf: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	p, err := backup.ReadPlacement(f)
	if err != nil {
		return backup.Placement{}, fmt.Errorf("--redis-conf %s: %w", path, err)
	}
	return p, nil
}

// podName is $POD_NAME (the downward API's metadata.name), else the host
// name (a StatefulSet pod's host name is its name).
func podName() (string, error) {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n, nil
	}
	return os.Hostname()
}
