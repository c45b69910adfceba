package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redkube/redkube/internal/proc"
)

// scratch is a private redis-server that loaded one shard's RDB with the
// real parser: no TCP port (a unix socket in a private directory), no
// persistence, not a cluster node. Restore reads the keys back from it.
type scratch struct {
	proc   *proc.Process
	client *redis.Client
	sock   string
}

// startScratch starts bin on the RDB file rdb (its directory is the
// server's dir) and waits until the dataset is loaded.
func startScratch(ctx context.Context, bin, rdb, name string) (*scratch, error) {
	// A socket path must fit in 108 bytes; the RDB's directory may not.
	sockDir, err := os.MkdirTemp("", "rk-")
	if err != nil {
		return nil, fmt.Errorf("scratch redis-server: %w", err)
	}
	sock := filepath.Join(sockDir, "redis.sock")
	args := []string{
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", filepath.Dir(rdb), "--dbfilename", filepath.Base(rdb),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--cluster-enabled", "no", "--maxmemory", "0", "--logfile", "",
	}
	p, err := proc.Start(bin, args, proc.Options{Name: name, LogPath: rdb + ".log", Truncate: true})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("scratch redis-server: %w", err), os.RemoveAll(sockDir))
	}
	c := redis.NewClient(&redis.Options{
		Network: "unix", Addr: sock, Protocol: 2, DisableIdentity: true,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolSize: 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	s := &scratch{proc: p, client: c, sock: sock}
	// PING answers LOADING until the whole RDB is in memory; an RDB the
	// server cannot parse makes it exit, and Err carries its log.
	ready := func(ctx context.Context) error {
		if _, err := os.Stat(sock); err != nil {
			return err // not listening yet; spares go-redis's dial-retry log lines
		}
		return c.Ping(ctx).Err()
	}
	if err := p.WaitReady(ctx, ready); err != nil {
		return nil, errors.Join(fmt.Errorf("scratch redis-server for %s: %w", filepath.Base(rdb), err), s.stop(ctx))
	}
	return s, nil
}

// stop ends the server and removes its socket directory; it runs to the
// end even when ctx has ended.
func (s *scratch) stop(ctx context.Context) error {
	cerr := s.client.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	serr := s.proc.Stop(ctx, 5*time.Second)
	return errors.Join(cerr, serr, os.RemoveAll(filepath.Dir(s.sock)))
}
