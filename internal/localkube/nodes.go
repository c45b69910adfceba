package localkube

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// Node labels set at registration.
const (
	LabelHostname = corev1.LabelHostname     // kubernetes.io/hostname
	LabelZone     = corev1.LabelTopologyZone // topology.kubernetes.io/zone
	LabelRegion   = corev1.LabelTopologyRegion
	// Region is the single region all nodes are in.
	Region = "local"
)

// nodeObject builds the Node registered for the i-th node (1-based) with
// internalIP as its InternalIP.
func nodeObject(i int, internalIP netip.Addr, kubeletVersion string, now time.Time) *corev1.Node {
	name := NodeName(i)
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(NodeCapacity.CPU),
		corev1.ResourceMemory: resource.MustParse(NodeCapacity.Memory),
		corev1.ResourcePods:   resource.MustParse(NodeCapacity.Pods),
	}
	ts := metav1.NewTime(now)
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: ts, LastTransitionTime: ts}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				LabelHostname:          name,
				LabelZone:              NodeZone(i),
				LabelRegion:            Region,
				corev1.LabelOSStable:   runtime.GOOS,
				corev1.LabelArchStable: runtime.GOARCH,
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "registered by localkube"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "registered by localkube"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "registered by localkube"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "registered by localkube"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: internalIP.String()},
				{Type: corev1.NodeHostName, Address: name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:  kubeletVersion,
				OperatingSystem: runtime.GOOS,
				Architecture:    runtime.GOARCH,
			},
		},
	}
}

// registerNodes creates the Node objects, Ready, with the API server's
// version as kubelet version.
func (c *Cluster) registerNodes(ctx context.Context) error {
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("read API server version: %w", err)
	}
	now := time.Now()
	for i := 1; i <= len(c.Nodes); i++ {
		n := nodeObject(i, c.nodeAddr(i), v.GitVersion, now)
		_, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && c.reuse != nil {
			err = c.reregisterNode(ctx, n)
		}
		if err != nil {
			return fmt.Errorf("register node %s: %w", n.Name, err)
		}
	}
	c.log.Info("nodes registered", "count", len(c.Nodes))
	return nil
}

// reregisterNode refreshes the Node kept by a reused cluster as a kubelet
// registering again does: its labels, addresses, capacity and conditions
// (Ready, with a fresh heartbeat) are set again, what else it carries
// (taints, annotations, other addresses) is kept for the node agent and the
// node lifecycle controller to settle.
func (c *Cluster) reregisterNode(ctx context.Context, want *corev1.Node) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		maps.Copy(n.Labels, want.Labels)
		if n, err = c.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return err
		}
		n.Status.Capacity, n.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
		n.Status.Conditions, n.Status.NodeInfo = want.Status.Conditions, want.Status.NodeInfo
		n.Status.Addresses = want.Status.Addresses
		_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// waitNodesSchedulable waits until no node carries the not-ready or
// unreachable taint, so pods can be scheduled as soon as Start returns. The
// nodes are registered Ready and untainted, so this normally passes at once;
// it guards against a node agent that reports a node not ready.
func (c *Cluster) waitNodesSchedulable(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, name := range c.Nodes {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // transient; retried until ctx ends
			}
			for _, t := range n.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes to lose the not-ready taint: %w", err)
	}
	return nil
}

// startAgent builds and runs the node agent.
func (c *Cluster) startAgent(ctx, bgCtx context.Context) error {
	env := AgentEnv{
		Nodes:             append([]string(nil), c.Nodes...),
		Admin:             rest.CopyConfig(c.Config),
		NodeConfigs:       make(map[string]*rest.Config, len(c.Nodes)),
		StateDir:          c.path(dirAgent),
		VolumesDir:        c.VolumesDir(),
		HeartbeatInterval: heartbeatInterval(c.opts.NodeMonitorGracePeriod),
		Logger:            c.log.With("part", "nodeagent"),
		Kubelet:           c.KubeletTLS(),
		PodRoutes:         c.podRoutes(),
	}
	if c.opts.Binaries != "" {
		env.Images, env.Commands = ProjectImages(c.opts.Binaries)
	}
	for _, n := range c.Nodes {
		cfg, err := c.NodeConfig(n)
		if err != nil {
			return err
		}
		env.NodeConfigs[n] = cfg
	}
	agent, err := c.opts.NodeAgent(ctx, env)
	if err != nil {
		return fmt.Errorf("create node agent: %w", err)
	}
	c.agent = agent
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		if err := agent.Run(bgCtx); err != nil && bgCtx.Err() == nil {
			c.log.Error("node agent failed", "err", err)
			c.fail(fmt.Errorf("node agent: %w", err))
		}
	}()
	return nil
}

// waitControllersRunning waits for the "default" ServiceAccount of the
// default namespace. The ServiceAccount admission plugin rejects pods until
// it exists, and the controller manager creates it only once its shared
// informers run, which is when its other controllers (PV binder, StatefulSet,
// node lifecycle) start working too.
func (c *Cluster) waitControllersRunning(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the controller manager to create the default ServiceAccount: %w", err)
	}
	return nil
}

// KubeletTLS returns the files a node agent serves kubelet endpoints with:
// per node a serving certificate of the cluster CA, and the CA and identity
// of the API server's kubelet client certificate.
func (c *Cluster) KubeletTLS() KubeletTLS {
	k := KubeletTLS{
		Serving:    make(map[string]TLSFiles, len(c.pki.KubeletServing)),
		ClientCA:   c.pki.CA.Cert,
		ClientUser: KubeletClientUser,
	}
	for n, f := range c.pki.KubeletServing {
		k.Serving[n] = TLSFiles(f)
	}
	return k
}
