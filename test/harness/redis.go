package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
)

// ErrCheckFailed is wrapped by ClusterCheck's error when redis-cli ran
// and found a problem.
var ErrCheckFailed = errors.New("redis-cli --cluster check found problems")

// ClusterCheck runs `redis-cli --cluster check` against addr once, as an
// outside referee: it passes when every slot is covered and there is no
// error and no warning. Its error carries redis-cli's output.
func ClusterCheck(ctx context.Context, addr string) error {
	out, err := exec.CommandContext(ctx, "redis-cli", "--cluster", "check", addr).CombinedOutput()
	s := string(out)
	if err != nil {
		return fmt.Errorf("redis-cli --cluster check %s: %w\n%s", addr, err, s)
	}
	if !strings.Contains(s, "[OK] All 16384 slots covered") || strings.Contains(s, "[ERR]") || strings.Contains(s, "[WARNING]") {
		return fmt.Errorf("%w at %s:\n%s", ErrCheckFailed, addr, s)
	}
	return nil
}

// ClusterView returns addr's CLUSTER NODES, parsed, asked on a connection
// of its own (dial within 1 s, reply within 2 s).
func ClusterView(ctx context.Context, addr string) (*topology.View, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer func() { _ = c.Close() }() // a one-off client: nothing to report on close
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES at %s: %w", addr, err)
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		return nil, fmt.Errorf("parse CLUSTER NODES of %s: %w", addr, err)
	}
	return v, nil
}
