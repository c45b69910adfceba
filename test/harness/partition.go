package harness

import (
	"fmt"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/redkube/redkube/internal/podnet"
)

// Partition cuts pod off the network (on) or joins it again (off) by
// taking the host end of its veth down or up: nothing reaches the pod and
// nothing leaves it (its peers, the operator and clients see a silent
// node), while its process keeps running with its data, as on the minority
// side of a real partition. The pod keeps its address and its connections
// (they time out or resume). The node agent names a pod's sandbox
// <bridge>-<pod UID> (internal/nodeagent).
func (e *Env) Partition(pod *corev1.Pod, on bool) error {
	name := podnet.HostVethName(e.network.Bridge + "-" + string(pod.UID))
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("pod %s: host veth %s: %w", pod.Name, name, err)
	}
	if on {
		err = netlink.LinkSetDown(link)
	} else {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("pod %s: set veth %s up=%v: %w", pod.Name, name, !on, err)
	}
	return nil
}
