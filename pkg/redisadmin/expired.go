package redisadmin

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Expired counts the keys a node dropped because their TTL had passed.
type Expired struct {
	// AtLoad is rdb_last_load_keys_expired (INFO persistence): keys of the
	// RDB it started on that had expired and were not loaded.
	AtLoad int64
	// Since is expired_keys (INFO stats): keys expired since it started.
	Since int64
}

// Total is every key the node dropped as expired since it was started on
// its data.
func (e Expired) Total() int64 { return e.AtLoad + e.Since }

// ParseExpired parses the fields of Expired from an INFO reply holding
// the stats and persistence sections.
func ParseExpired(text string) (Expired, error) {
	p := fieldParser{m: infoFields(text)}
	e := Expired{AtLoad: p.int64("rdb_last_load_keys_expired"), Since: p.int64("expired_keys")}
	if p.err != nil {
		return Expired{}, fmt.Errorf("parse info stats and persistence: %w", p.err)
	}
	return e, nil
}

// ExpiredKeys returns the keys the node dropped as expired (a restore's
// key check allows a shard fewer keys than its backup by these only).
func (n *Node) ExpiredKeys(ctx context.Context) (Expired, error) {
	var text string
	err := n.call(ctx, "INFO stats persistence", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.Info(ctx, "stats", "persistence").Result()
		return err
	})
	if err != nil {
		return Expired{}, err
	}
	e, err := ParseExpired(text)
	if err != nil {
		return Expired{}, wrap(n.addr, "INFO stats persistence", err)
	}
	return e, nil
}
