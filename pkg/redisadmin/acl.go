package redisadmin

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ACLList returns ACL LIST: one line per user ("user NAME on #hash ~* ..."),
// in Redis's own normal form, passwords as hashes.
func (n *Node) ACLList(ctx context.Context) ([]string, error) {
	var lines []string
	err := n.call(ctx, "ACL LIST", func(ctx context.Context, c *redis.Client) error {
		var err error
		lines, err = c.Do(ctx, "acl", "list").StringSlice()
		return err
	})
	return lines, err
}

// ACLDelUser runs ACL DELUSER for the users (a missing one is not an
// error). Redis closes the connections authenticated as them.
func (n *Node) ACLDelUser(ctx context.Context, users ...string) error {
	if len(users) == 0 {
		return nil
	}
	return n.call(ctx, "ACL DELUSER", func(ctx context.Context, c *redis.Client) error {
		args := make([]any, 0, 2+len(users))
		args = append(args, "acl", "deluser")
		for _, u := range users {
			args = append(args, u)
		}
		return c.Do(ctx, args...).Err()
	})
}
