// Command localkube runs a small local Kubernetes made of the real
// control-plane components; see internal/localkube/localkubecli.
package main

import (
	"context"
	"os"

	"github.com/redkube/redkube/internal/localkube/localkubecli"
	"github.com/redkube/redkube/internal/podexec"
)

func main() {
	// Pods' container processes re-execute this binary as their init.
	podexec.MaybeInit()
	os.Exit(localkubecli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
