package redisadmin

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestQuietLoggerIsAGoRedisLogger(t *testing.T) {
	// SetLogger takes go-redis's internal Logging interface: this compiles
	// only while QuietLogger satisfies it.
	redis.SetLogger(QuietLogger{})
	SilenceGoRedis()
	QuietLogger{}.Printf(t.Context(), "dropped %d", 1)
}
