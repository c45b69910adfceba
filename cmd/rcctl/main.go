// Command rcctl creates, checks, repairs and reshards a Redis Cluster.
// See docs/rcctl.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redkube/redkube/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
