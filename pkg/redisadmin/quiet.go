package redisadmin

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// QuietLogger is a go-redis logger that drops every line. go-redis logs
// failed dials and pool events on its own, through a process-wide logger;
// every redkube program reports Redis errors itself (rcctl in one line,
// the operator in status and events, tests and benchmarks as counts), so
// those lines are noise.
type QuietLogger struct{}

// Printf drops the line.
func (QuietLogger) Printf(context.Context, string, ...any) {}

// SilenceGoRedis installs QuietLogger as go-redis's process-wide logger.
// Call it once at start-up, before any client is made.
func SilenceGoRedis() { redis.SetLogger(QuietLogger{}) }
