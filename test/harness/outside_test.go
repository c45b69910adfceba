package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redkube/redkube/internal/localkube/localkubetest"
	"github.com/redkube/redkube/internal/localkube/outside"
)

// netEnv is a running Env with one Redis pod on node-2, a NodePort and a
// LoadBalancer Service in front of it, and an outside namespace.
type netEnv struct {
	*Env
	pod    *corev1.Pod
	np, lb *corev1.Service
	lbIP   netip.Addr
	out    *outside.Namespace
	bridge string
}

func startNetEnv(t *testing.T) *netEnv {
	t.Helper()
	bin := localkubetest.SkipIfNoBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, the pod bridge and nftables")
	}
	network := Network("rkq", 250)
	var n *netEnv
	e, err := Start(t.Context(), Options{Name: "harness-outside", BinDir: bin, Network: network, Services: true, Logger: localkubetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.LogTails(30))
		}
		if err := e.Stop(); err != nil {
			t.Error(err)
		}
		leftNothing(t, e.Cluster.NodeNetwork().Link, n.out)
	})
	n = &netEnv{Env: e, bridge: network.Bridge}
	n.pod = n.redisPod(t, "echo", "node-2")
	n.np = n.service(t, "echo-np", corev1.ServiceTypeNodePort)
	if n.out, err = e.Outside(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	n.lb = n.service(t, "echo-lb", corev1.ServiceTypeLoadBalancer)
	n.lbIP = n.waitIngress(t, "echo-lb")
	t.Logf("measured: Service type LoadBalancer created -> address in status: %v", time.Since(began))
	if !e.Cluster.NodeNetwork().LoadBalancerPool.Contains(n.lbIP) {
		t.Errorf("load-balancer address %s is outside the pool %s", n.lbIP, e.Cluster.NodeNetwork().LoadBalancerPool)
	}
	if err := Wait(t.Context(), 30*time.Second, 20*time.Millisecond, "the load-balancer address answers from outside", func(ctx context.Context) error {
		// Short tries: before kube-proxy's rules exist a SYN is dropped,
		// and a long try would hide when they arrived.
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		return ping(ctx, addr(n.lbIP, 6379), n.out.DialContext)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: Service type LoadBalancer created -> PING through its address from outside: %v", time.Since(began))
	return n
}

func (n *netEnv) redisPod(t *testing.T, name, node string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{
				Name: "redis", Image: "redis", Command: []string{"redis-server"},
				Args:  []string{"--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no"},
				Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6379)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	if _, err := n.Clientset.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *corev1.Pod
	if err := Wait(t.Context(), time.Minute, 100*time.Millisecond, "pod "+name+" ready", func(ctx context.Context) error {
		var err error
		if got, err = n.Clientset.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		if !PodReady(got) {
			return errors.New("not ready")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func (n *netEnv) service(t *testing.T, name string, typ corev1.ServiceType) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: n.pod.Labels,
			Ports:    []corev1.ServicePort{{Port: 6379, TargetPort: intstr.FromInt32(6379)}},
		},
	}
	got, err := n.Clientset.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (n *netEnv) waitIngress(t *testing.T, name string) netip.Addr {
	t.Helper()
	var ip netip.Addr
	if err := Wait(t.Context(), 30*time.Second, 20*time.Millisecond, name+" load-balancer address", func(ctx context.Context) error {
		svc, err := n.Clientset.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return errors.New("no ingress yet")
		}
		ip, err = netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ip
}

// ping sends PING to addr over dial (nil: the host's) within 2 seconds.
func ping(ctx context.Context, addr string, dial func(context.Context, string, string) (net.Conn, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Dialer: dial, DialTimeout: 2 * time.Second, MaxRetries: -1})
	defer func() { _ = rdb.Close() }()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING %s: %w", addr, err)
	}
	return nil
}

// fromPod runs redis-cli PING against host:port inside pod's network
// namespace (the node agent's <bridge>-<uid>).
func (n *netEnv) fromPod(ctx context.Context, pod *corev1.Pod, host string, port int32) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", n.bridge+"-"+string(pod.UID), "redis-cli", "-h", host, "-p", fmt.Sprint(port), "PING").CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli -h %s -p %d PING from pod %s: %w: %s", host, port, pod.Name, err, out)
	}
	if strings.TrimSpace(string(out)) != "PONG" {
		return fmt.Errorf("redis-cli -h %s -p %d PING from pod %s answered %q", host, port, pod.Name, out)
	}
	return nil
}

func addr(a netip.Addr, port int32) string { return netip.AddrPortFrom(a, uint16(port)).String() }

func TestOutsideReachesNodesAndLoadBalancersButNotPods(t *testing.T) {
	n := startNetEnv(t)
	nodePort := n.np.Spec.Ports[0].NodePort
	nn := n.Cluster.NodeNetwork()

	t.Run("a pod IP is unreachable from outside", func(t *testing.T) {
		err := ping(t.Context(), net.JoinHostPort(n.pod.Status.PodIP, "6379"), n.out.DialContext)
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("pod IP from outside: %v, want network unreachable", err)
		}
	})
	t.Run("every node has its own address as InternalIP and its pods' hostIP", func(t *testing.T) {
		for i, name := range n.Cluster.Nodes {
			node, err := n.Clientset.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := nn.NodeAddr(i + 1).String()
			if !hasInternalIP(node, want) {
				t.Errorf("node %s addresses %v, want InternalIP %s", name, node.Status.Addresses, want)
			}
		}
		if want := nn.NodeAddr(2).String(); n.pod.Status.HostIP != want || len(n.pod.Status.HostIPs) != 1 || n.pod.Status.HostIPs[0].IP != want {
			t.Errorf("pod on node-2: hostIP %s hostIPs %v, want %s", n.pod.Status.HostIP, n.pod.Status.HostIPs, want)
		}
	})
	t.Run("a NodePort answers from outside on every node address", func(t *testing.T) {
		for i := range n.Cluster.Nodes {
			if err := ping(t.Context(), addr(nn.NodeAddr(i+1), nodePort), n.out.DialContext); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("the load-balancer address answers from outside, from the host and from another pod", func(t *testing.T) {
		if err := ping(t.Context(), addr(n.lbIP, 6379), n.out.DialContext); err != nil {
			t.Errorf("outside: %v", err)
		}
		if err := ping(t.Context(), addr(n.lbIP, 6379), nil); err != nil {
			t.Errorf("host: %v", err)
		}
		other := n.redisPod(t, "other", "node-3")
		if err := n.fromPod(t.Context(), other, n.lbIP.String(), 6379); err != nil {
			t.Error(err)
		}
		if err := n.fromPod(t.Context(), other, nn.NodeAddr(1).String(), nodePort); err != nil {
			t.Errorf("a pod through node-1's NodePort: %v", err)
		}
	})
	t.Run("a pod reaches its own Services through a node address and the load-balancer address", func(t *testing.T) {
		if err := n.fromPod(t.Context(), n.pod, nn.NodeAddr(2).String(), nodePort); err != nil {
			t.Errorf("hairpin through its own node: %v", err)
		}
		if err := n.fromPod(t.Context(), n.pod, nn.NodeAddr(3).String(), nodePort); err != nil {
			t.Errorf("hairpin through another node: %v", err)
		}
		if err := n.fromPod(t.Context(), n.pod, n.lbIP.String(), 6379); err != nil {
			t.Errorf("hairpin through the load-balancer address: %v", err)
		}
	})
	t.Run("loadBalancerSourceRanges keep out sources beyond them", func(t *testing.T) {
		n.sourceRanges(t, n.Cluster.NodeNetwork().CIDR.String())
		if err := Wait(t.Context(), 20*time.Second, 200*time.Millisecond, "outside refused", func(ctx context.Context) error {
			if err := ping(ctx, addr(n.lbIP, 6379), n.out.DialContext); err == nil {
				return errors.New("outside still answered")
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		n.sourceRanges(t, netip.PrefixFrom(n.out.Addr, 32).String())
		if err := Wait(t.Context(), 20*time.Second, 200*time.Millisecond, "outside admitted", func(ctx context.Context) error {
			return ping(ctx, addr(n.lbIP, 6379), n.out.DialContext)
		}); err != nil {
			t.Error(err)
		}
	})
	t.Run("kubectl logs still reach the pod's node", func(t *testing.T) {
		if _, err := n.Kubectl(t.Context(), "logs", "echo"); err != nil {
			t.Error(err)
		}
	})
}

func (n *netEnv) sourceRanges(t *testing.T, ranges ...string) {
	t.Helper()
	svc, err := n.Clientset.CoreV1().Services("default").Get(t.Context(), "echo-lb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.LoadBalancerSourceRanges = ranges
	if _, err := n.Clientset.CoreV1().Services("default").Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// leftNothing checks that the node link and the outside namespace are gone.
func leftNothing(t *testing.T, link string, out *outside.Namespace) {
	t.Helper()
	if b, err := exec.Command("ip", "link", "show", link).CombinedOutput(); err == nil {
		t.Errorf("node link %s left after Stop: %s", link, b)
	}
	if out == nil {
		return
	}
	if _, err := os.Stat(out.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("outside namespace %s left after Stop (stat: %v)", out.Path, err)
	}
}

func hasInternalIP(n *corev1.Node, ip string) bool {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address == ip {
			return true
		}
	}
	return false
}
