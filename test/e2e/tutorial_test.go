package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/redkube/redkube/internal/cli"
	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/test/harness"
)

const (
	tutorialDir = "testdata/tutorial"
	ns          = "default"
	statefulSet = "redis-app"
	headlessSvc = "redis-service"
	replicas    = 6
	nodePort    = 30010
	redisPort   = 6379
	keyCount    = 1000
)

func podName(i int) string { return fmt.Sprintf("%s-%d", statefulSet, i) }

// bootstrapCluster makes a Redis Cluster of 3 masters with one replica each
// out of addrs (ip:port, in StatefulSet ordinal order) with `rcctl create`,
// where the tutorial ran redis-trib from an extra pod. hosts[i] is the
// Kubernetes node of addrs[i]: rcctl keeps each replica off its master's node.
func bootstrapCluster(t *testing.T, addrs, hosts []string) {
	t.Helper()
	args := append([]string{"create"}, addrs...)
	args = append(args, "--replicas", "1", "--no-progress")
	for i, a := range addrs {
		args = append(args, "--hint", a+"="+hosts[i])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if code := cli.Run(ctx, args, &out, &out); code != cli.ExitOK {
		t.Fatalf("rcctl %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
	t.Logf("rcctl create:\n%s", out.String())
}

// clusterCheck runs `redis-cli --cluster check` against addr as an outside
// referee, until it passes or a minute has gone by.
func clusterCheck(t *testing.T, addr string) {
	t.Helper()
	waitT(t, time.Minute, time.Second, "redis-cli --cluster check "+addr, func(ctx context.Context) error {
		return harness.ClusterCheck(ctx, addr)
	})
}

func TestTutorial(t *testing.T) {
	e := startEnv(t)
	ctx := t.Context()
	cs := e.Client

	// Step 2: six PVs; the NFS exports become directories of this test.
	pvRoot := t.TempDir()
	pvYAML, err := os.ReadFile(filepath.Join(tutorialDir, "pv.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pvFile := filepath.Join(t.TempDir(), "pv.yaml")
	if err := os.WriteFile(pvFile, []byte(strings.ReplaceAll(string(pvYAML), "${PV_ROOT}", pvRoot)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "apply", "-f", pvFile)
	// Steps 3 and 4: the ConfigMap and the headless Service.
	e.kubectl(t, "apply", "-f", filepath.Join(tutorialDir, "redis-conf.yaml"))
	e.kubectl(t, "apply", "-f", filepath.Join(tutorialDir, "headless-service.yaml"))

	// Watch the pods from before the StatefulSet exists, to see the order in
	// which they are created and become Ready.
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=redis,appCluster=redis-cluster"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Step 4: the StatefulSet.
	applied := time.Now()
	e.kubectl(t, "apply", "-f", filepath.Join(tutorialDir, "redis.yaml"))
	ips := waitOrderedReady(t, w)
	t.Logf("timing: StatefulSet applied -> all %d pods Ready: %v", replicas, time.Since(applied))
	defer e.logMemory(t)

	t.Run("claims bind to the nfs PVs", func(t *testing.T) {
		for i := range replicas {
			claim := "redis-data-" + podName(i)
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if pvc.Status.Phase != corev1.ClaimBound || !strings.HasPrefix(pvc.Spec.VolumeName, "nfs-pv") {
				t.Errorf("%s: phase %s, volume %q; want Bound to an nfs-pv", claim, pvc.Status.Phase, pvc.Spec.VolumeName)
			}
		}
	})

	// Step 5: bootstrap over the pod IPs.
	addrs := make([]string, replicas)
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip, fmt.Sprint(redisPort))
	}
	began := time.Now()
	hosts := make([]string, replicas)
	for i := range replicas {
		pod, err := cs.CoreV1().Pods(ns).Get(ctx, podName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = pod.Spec.NodeName
	}
	bootstrapCluster(t, addrs, hosts)
	clusterCheck(t, addrs[0])
	waitClusterOK(t, addrs)
	t.Logf("timing: bootstrap -> cluster check passes: %v", time.Since(began))

	t.Run("pod names resolve through the headless Service", func(t *testing.T) {
		for i, ip := range ips {
			name := podName(i) + "." + headlessSvc + "." + ns + ".svc." + kubenet.ClusterDomain + "."
			if got := lookup(t, e.DNS, name); !slices.Equal(got, []string{ip}) {
				t.Errorf("%s at %s = %v, want [%s]", name, e.DNS, got, ip)
			}
		}
		// The same through the kube-dns Service's ClusterIP (kube-proxy).
		kubeDNS := netip.AddrPortFrom(kubenet.MustAddr(kubenet.DNSServiceIP), 53)
		name := podName(0) + "." + headlessSvc + "." + ns + ".svc." + kubenet.ClusterDomain + "."
		if got := lookup(t, kubeDNS, name); !slices.Equal(got, []string{ips[0]}) {
			t.Errorf("%s at %s = %v, want [%s]", name, kubeDNS, got, ips[0])
		}
	})

	t.Run("a pod resolves redis-app-0.redis-service like the tutorial's nslookup", func(t *testing.T) {
		// The tutorial runs nslookup in a busybox pod; here getent runs in
		// redis-app-1's network and mount namespaces, so it reads the pod's
		// own resolv.conf (nameserver kube-dns, search default.svc...).
		pid := podPID(t, ips[1])
		var out []byte
		waitFor(t, 30*time.Second, "getent in redis-app-1", func(ctx context.Context) error {
			var err error
			out, err = exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(pid), "-n", "-m", "getent", "hosts", podName(0)+"."+headlessSvc).CombinedOutput()
			if err != nil {
				resolv, _ := exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(pid), "-m", "cat", "/etc/resolv.conf").CombinedOutput()
				return fmt.Errorf("%w: %s (pod resolv.conf: %s)", err, out, resolv)
			}
			return nil
		})
		if f := strings.Fields(string(out)); len(f) < 2 || f[0] != ips[0] || !strings.HasPrefix(f[1], podName(0)+"."+headlessSvc+"."+ns+".svc."+kubenet.ClusterDomain) {
			t.Errorf("getent hosts %s.%s in a pod = %q, want %s %s.%s.%s.svc.%s", podName(0), headlessSvc, out, ips[0], podName(0), headlessSvc, ns, kubenet.ClusterDomain)
		}
	})

	// Step 6: the access Service on NodePort 30010, from the host.
	e.kubectl(t, "apply", "-f", filepath.Join(tutorialDir, "redis-access-service.yaml"))
	nodePortAddr := net.JoinHostPort(e.Gateway.String(), fmt.Sprint(nodePort))
	t.Run("the access Service answers on NodePort 30010", func(t *testing.T) {
		waitFor(t, time.Minute, "cluster_state:ok through "+nodePortAddr, func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: nodePortAddr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
			defer func() { _ = c.Close() }()
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("cluster info: %s", info)
			}
			return nil
		})
	})

	// Write keys before the failover.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	defer func() { _ = cc.Close() }()
	for k := range keyCount {
		if err := cc.Set(ctx, fmt.Sprintf("key:%d", k), fmt.Sprintf("value-%d", k), 0).Err(); err != nil {
			t.Fatalf("SET key:%d: %v", k, err)
		}
	}

	// Section 5 of the tutorial: delete redis-app-0, a master.
	app0 := redis.NewClient(&redis.Options{Addr: addrs[0]})
	id0, err := app0.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	role, err := app0.Do(ctx, "ROLE").Slice()
	_ = app0.Close()
	if err != nil {
		t.Fatal(err)
	}
	if role[0] != "master" {
		t.Fatalf("redis-app-0 is %v after bootstrap; the tutorial deletes it as a master", role[0])
	}
	replicaID := replicaOf(t, addrs[1], id0)
	t.Logf("redis-app-0 is master %s at %s; its replica is %s", id0, ips[0], replicaID)

	// Here a deleted pod is back in about 3 s, sooner than Redis's
	// cluster-node-timeout (5 s) lets the replica take over, and the old
	// master would simply come back as master. To see the failover the
	// tutorial shows (its pod took longer to return), the nodes are cordoned
	// until the replica has been promoted.
	cordon(t, e.h, true)
	deleted := time.Now()
	e.kubectl(t, "delete", "pod", podName(0))
	waitFor(t, time.Minute, "the replica of redis-app-0 is promoted", func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: addrs[1]})
		defer func() { _ = c.Close() }()
		nodes, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(nodes, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == replicaID && strings.Contains(f[2], "master") {
				return nil
			}
		}
		return fmt.Errorf("%s is not a master yet", replicaID)
	})
	t.Logf("timing: delete redis-app-0 -> its replica is promoted: %v", time.Since(deleted))
	cordon(t, e.h, false)
	newIP := waitPodReadyNewIP(t, e, podName(0), ips[0])
	t.Logf("timing: delete redis-app-0 -> back Ready with IP %s (was %s): %v", newIP, ips[0], time.Since(deleted))

	t.Run("redis-app-0 returns with a new IP, the same node ID, as a replica", func(t *testing.T) {
		addr := net.JoinHostPort(newIP, fmt.Sprint(redisPort))
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer func() { _ = c.Close() }()
		id, err := c.ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if id != id0 {
			t.Errorf("node ID after restart = %s, want %s (from nodes.conf on its PV)", id, id0)
		}
		waitFor(t, time.Minute, "redis-app-0 replicates its former replica", func(ctx context.Context) error {
			role, err := c.Do(ctx, "ROLE").Slice()
			if err != nil {
				return err
			}
			if role[0] != "slave" {
				return fmt.Errorf("role %v", role[0])
			}
			master, err := masterOf(ctx, c, id0)
			if err != nil {
				return err
			}
			if master != replicaID {
				return fmt.Errorf("replicates %s, want the promoted %s", master, replicaID)
			}
			return nil
		})
		t.Logf("timing: delete redis-app-0 -> it replicates the promoted node: %v", time.Since(deleted))
		clusterCheck(t, addr)
		waitClusterOK(t, append([]string{addr}, addrs[1:]...))
		if got := lookup(t, e.DNS, podName(0)+"."+headlessSvc+"."+ns+".svc."+kubenet.ClusterDomain+"."); !slices.Equal(got, []string{newIP}) {
			t.Errorf("redis-app-0 resolves to %v after the restart, want [%s]", got, newIP)
		}
	})

	t.Run("data written before the failover is all there", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{net.JoinHostPort(newIP, fmt.Sprint(redisPort)), addrs[1]}})
		defer func() { _ = cc.Close() }()
		missing := 0
		for k := range keyCount {
			v, err := cc.Get(ctx, fmt.Sprintf("key:%d", k)).Result()
			if err != nil || v != fmt.Sprintf("value-%d", k) {
				missing++
				if missing <= 5 {
					t.Errorf("GET key:%d = %q, %v", k, v, err)
				}
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d keys lost", missing, keyCount)
		}
	})

	t.Run("a claim for a missing StorageClass stays Pending with the event", func(t *testing.T) {
		testMissingStorageClass(t, e)
	})
}

// podPID returns the PID of the redis-server whose network namespace holds
// ip (the pod with that IP).
func podPID(t *testing.T, ip string) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-x", "redis-server").Output()
	if err != nil {
		t.Fatalf("pgrep redis-server: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		addrs, err := exec.Command("nsenter", "-t", f, "-n", "ip", "-4", "-o", "addr", "show").Output()
		if err == nil && strings.Contains(string(addrs), " "+ip+"/") {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no redis-server runs in a network namespace holding %s", ip)
	return 0
}

// waitClusterOK waits until every node at addrs reports cluster_state:ok
// (redis-cli's check can pass a moment before the last node flips to ok).
func waitClusterOK(t *testing.T, addrs []string) {
	t.Helper()
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		waitFor(t, time.Minute, "cluster_state:ok at "+addr, func(ctx context.Context) error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errors.New("cluster_state is not ok")
			}
			return nil
		})
		_ = c.Close()
	}
}

// waitOrderedReady follows the pod watch until all replicas are Ready, and
// checks the OrderedReady rule: pod i is created only after pod i-1 is
// Ready. It returns the pod IPs by ordinal.
func waitOrderedReady(t *testing.T, w watch.Interface) []string {
	t.Helper()
	timeout := time.NewTimer(5 * time.Minute)
	defer timeout.Stop()
	created := map[string]int{} // pod -> event index when first seen
	ready := map[string]int{}   // pod -> event index when first Ready
	ips := make([]string, replicas)
	n := 0
	for len(ready) < replicas {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed")
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			n++
			if _, seen := created[pod.Name]; !seen {
				created[pod.Name] = n
			}
			if _, seen := ready[pod.Name]; !seen && podReady(pod) {
				ready[pod.Name] = n
				var i int
				if _, err := fmt.Sscanf(pod.Name, statefulSet+"-%d", &i); err != nil || i >= replicas {
					t.Fatalf("unexpected pod %s", pod.Name)
				}
				ips[i] = pod.Status.PodIP
				t.Logf("%s Ready on %s with IP %s", pod.Name, pod.Spec.NodeName, pod.Status.PodIP)
			}
		case <-timeout.C:
			t.Fatalf("pods not all Ready after 5m: created %v, ready %v", created, ready)
		}
	}
	for i := 1; i < replicas; i++ {
		if created[podName(i)] < ready[podName(i-1)] {
			t.Errorf("%s was created before %s was Ready", podName(i), podName(i-1))
		}
	}
	return ips
}

func podReady(p *corev1.Pod) bool { return harness.PodReady(p) }

// waitPodReadyNewIP waits until a pod called name (a new one) is Ready with
// an IP other than oldIP, and returns that IP.
func waitPodReadyNewIP(t *testing.T, e *env, name, oldIP string) string {
	t.Helper()
	var ip string
	waitFor(t, 3*time.Minute, name+" Ready with a new IP", func(ctx context.Context) error {
		p, err := e.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !podReady(p) || p.Status.PodIP == oldIP {
			return fmt.Errorf("ready %v, IP %q", podReady(p), p.Status.PodIP)
		}
		ip = p.Status.PodIP
		return nil
	})
	return ip
}

// replicaOf returns the ID of the one replica of master, asking at addr.
func replicaOf(t *testing.T, addr, master string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	// CLUSTER REPLICAS (Redis 5+) replaces the deprecated CLUSTER SLAVES;
	// go-redis v9.23 deprecates ClusterSlaves without a typed successor.
	reps, err := c.Do(t.Context(), "cluster", "replicas", master).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 {
		t.Fatalf("master %s has replicas %v, want one", master, reps)
	}
	return strings.Fields(reps[0])[0]
}

// masterOf returns the master ID that node id replicates, from c's view.
func masterOf(ctx context.Context, c *redis.Client, id string) (string, error) {
	nodes, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == id {
			return f[3], nil
		}
	}
	return "", fmt.Errorf("node %s not in CLUSTER NODES", id)
}

func lookup(t *testing.T, server netip.AddrPort, name string) []string {
	t.Helper()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server.String())
	}}
	var got []string
	waitFor(t, 30*time.Second, "resolve "+name, func(ctx context.Context) error {
		ips, err := r.LookupIP(ctx, "ip4", name)
		if err != nil {
			return err
		}
		got = got[:0]
		for _, ip := range ips {
			got = append(got, ip.String())
		}
		return nil
	})
	slices.Sort(got)
	return got
}

// waitFor retries try every 250 ms until it returns nil or d has gone by.
func waitFor(t *testing.T, d time.Duration, what string, try func(ctx context.Context) error) {
	t.Helper()
	waitT(t, d, 250*time.Millisecond, what, try)
}

// testMissingStorageClass reproduces the tutorial's question 2.
func testMissingStorageClass(t *testing.T, e *env) {
	e.kubectl(t, "apply", "-f", filepath.Join(tutorialDir, "missing-storageclass.yaml"))
	t.Cleanup(func() {
		e.kubectl(t, "delete", "--ignore-not-found", "--wait=false", "statefulset/redis-nosc", "pvc/redis-data-redis-nosc-0")
	})
	const claim = "redis-data-redis-nosc-0"
	const want = `storageclass.storage.k8s.io "nfs-missing" not found`
	waitFor(t, 2*time.Minute, "ProvisioningFailed event on "+claim, func(ctx context.Context) error {
		evs, err := e.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.kind", "PersistentVolumeClaim"),
			fields.OneTermEqualSelector("involvedObject.name", claim),
		).String()})
		if err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Reason == "ProvisioningFailed" && strings.Contains(ev.Message, want) {
				return nil
			}
		}
		return fmt.Errorf("no ProvisioningFailed event with %q among %d events", want, len(evs.Items))
	})
	pvc, err := e.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("%s is %s, want Pending", claim, pvc.Status.Phase)
	}
}
