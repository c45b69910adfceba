package redisadmin

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// ServerVersion returns the node's redis_version (INFO server).
func (n *Node) ServerVersion(ctx context.Context) (string, error) {
	var text string
	err := n.call(ctx, "INFO server", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.Info(ctx, "server").Result()
		return err
	})
	if err != nil {
		return "", err
	}
	v := infoFields(text)["redis_version"]
	if v == "" {
		return "", wrap(n.addr, "INFO server", errors.New("no redis_version field"))
	}
	return v, nil
}
