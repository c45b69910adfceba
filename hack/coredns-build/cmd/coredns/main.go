// Command coredns is CoreDNS built as a library with only the plugins the
// local cluster's DNS uses (see internal/localkube/services): kubernetes
// serves the cluster domain from the API server; bind, cache, errors, log,
// health and ready are the usual companions. There is no forward plugin, so
// no query can leave the machine.
//
// hack/build-k8s.sh builds it into the control-plane binary folder.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins, registered by import; CoreDNS orders them by its own
	// directive list (core/dnsserver/zdirectives.go), not by this list.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
