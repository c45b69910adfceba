package e2e

import (
	"context"
	"net"
	"os/exec"
	"testing"
)

// hostVantage runs clients on the host (temporary, until the outside
// network lands).
type hostVantage struct{}

func (hostVantage) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (hostVantage) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

func outsideVantage(t *testing.T, _ *opEnv) vantage { return hostVantage{} }
