package harness

import (
	"fmt"
	"net/netip"

	"github.com/redkube/redkube/internal/localkube/outside"
	"github.com/redkube/redkube/internal/nodenet"
)

// nodeLinkPrefix starts the name of a run's node link; Start removes the
// links of runs whose process is gone.
const nodeLinkPrefix = "rknode"

// NodeNetwork is the node network of a run (nodenet.ForProcess with link
// prefix "rknode"): each node's own address on the host, its InternalIP and
// its pods' hostIP, where kube-proxy serves NodePorts, and the
// load-balancer pool the local load-balancer controller assigns from.
func NodeNetwork() nodenet.Config { return nodenet.ForProcess(nodeLinkPrefix) }

// Outside creates a network namespace standing for a client outside the
// cluster (internal/localkube/outside): its only routes lead to the
// nodes' addresses and the load-balancer pool, none to the pod network.
// Each call takes the next /30 of the run's outside range (32 in all);
// Stop closes what Close did not.
func (e *Env) Outside() (*outside.Namespace, error) {
	nn := e.Cluster.NodeNetwork()
	rng := nn.OutsideRange()
	k := len(e.outside)
	if k >= 1<<(30-rng.Bits()) {
		return nil, fmt.Errorf("outside namespace: the range %s has no /30 left after %d", rng, k)
	}
	a := rng.Masked().Addr()
	for range 4 * k {
		a = a.Next()
	}
	ns, err := outside.New(outside.Config{CIDR: netip.PrefixFrom(a, 30), Routes: nn.Routes()})
	if err != nil {
		return nil, fmt.Errorf("outside namespace: %w", err)
	}
	e.outside = append(e.outside, ns)
	return ns, nil
}
