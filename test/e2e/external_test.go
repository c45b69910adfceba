package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// vantage is where a client runs: it opens connections and runs programs
// from there.
type vantage interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
}

// TestExternalAccess runs a cluster with spec.externalAccess and uses it
// only from a network namespace whose routes lead to the nodes' addresses
// and the load balancer pool, never to the pod network: NodePort first,
// through the disruptions an operator must survive, then switched to
// LoadBalancer in place.
func TestExternalAccess(t *testing.T) {
	e := startOperatorEnvOn(t, "e2e-external", harness.Network("rkx", 247))
	out := outsideVantage(t, e)
	const name = "edge"
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			Config:         map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage:        redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			ExternalAccess: &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessNodePort},
		},
	}
	applied := time.Now()
	if err := e.cl.Create(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	e.waitExternal(t, name, applied, 3*time.Minute)
	t.Logf("timing: create with NodePort external access -> Ready and every endpoint announced: %v", time.Since(applied))

	if !t.Run("each node announces its node's address and its node ports, and clients outside use nothing else", func(t *testing.T) {
		got, err := e.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		pods, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range got.Status.ExternalAccess.Endpoints {
			host, _, _ := net.SplitHostPort(ep.Address)
			if p := pods[ep.Pod]; host != p.Status.HostIP {
				t.Errorf("%s announces %s, want its node's address %s", ep.Pod, ep.Address, p.Status.HostIP)
			}
		}
		for _, p := range pods {
			if c, err := out.DialContext(t.Context(), "tcp", net.JoinHostPort(p.Status.PodIP, "6379")); err == nil {
				_ = c.Close()
				t.Fatalf("pod IP %s is reachable from outside: the test would prove nothing", p.Status.PodIP)
			}
		}
		endpoints := e.endpoints(t, name)
		checkOutsideCluster(t, out, endpoints, 50000)
	}) {
		t.FailNow()
	}

	if !runOutsideDisruptions(t, e, out, name, "NodePort", "allkeys-lru") {
		t.FailNow()
	}
	t.Run("no external Service is left for the removed shard", func(t *testing.T) { wantExternalServices(t, e, name) })

	defer t.Run("a load balancer that never gets an address: the nodes keep their pod addresses and the cluster keeps serving", func(t *testing.T) {
		testLoadBalancerNeverAssigned(t, e, name)
	})

	if !t.Run("switched to LoadBalancer, the nodes announce their load balancers live, no pod restarted", func(t *testing.T) {
		before, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		at := e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
			s.ExternalAccess = &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessLoadBalancer}
		})
		e.waitExternal(t, name, at, 2*time.Minute)
		t.Logf("timing: NodePort -> LoadBalancer applied -> every node announces its load balancer: %v", time.Since(at))
		after, err := e.pods(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		for n, p := range before {
			if after[n].UID != p.UID {
				t.Errorf("pod %s was replaced", n)
			}
		}
		for _, ep := range e.endpoints(t, name) {
			if _, port, _ := net.SplitHostPort(ep); port != "6379" {
				t.Errorf("endpoint %s: want a load balancer address on port 6379", ep)
			}
		}
		checkOutsideCluster(t, out, e.endpoints(t, name), 50000)
	}) {
		t.FailNow()
	}
	if !runOutsideDisruptions(t, e, out, name, "LoadBalancer", "volatile-lru") {
		t.FailNow()
	}
	t.Run("no external Service is left for the removed shard, with load balancers", func(t *testing.T) { wantExternalServices(t, e, name) })
}

// runOutsideDisruptions runs, each under a go-redis writer in out, the
// disruptions a cluster reached from outside must survive: a master pod
// deleted and force-deleted, a rolling update (maxmemory-policy set to
// policy), all pods deleted at once, 3 -> 4 -> 3 shards. Nothing
// acknowledged may be lost (but with the force delete); each reports its
// worst write gap. It returns false when one failed.
func runOutsideDisruptions(t *testing.T, e *opEnv, out vantage, name, kind, policy string) bool {
	t.Helper()
	prefix := "x" + strings.ToLower(kind)
	disruptions := []struct {
		name    string
		disrupt func(t *testing.T) time.Time
		// lossless is false where acknowledged writes may be lost (a
		// process killed without a handover).
		lossless bool
	}{
		{"a master pod deleted (graceful handover)", func(t *testing.T) time.Time {
			victim := e.master(t, name, 0)
			at := time.Now()
			e.kubectl(t, "delete", "pod", victim, "--wait=false")
			return at
		}, true},
		{"a master pod force-deleted", func(t *testing.T) time.Time {
			victim := e.master(t, name, 2)
			at := time.Now()
			e.kubectl(t, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
			return at
		}, false},
		{"redis.conf changed (rolling update)", func(t *testing.T) time.Time {
			return e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
				s.Config["maxmemory-policy"] = redisv1alpha1.ConfigValue(policy)
			})
		}, true},
		{"all pods deleted at once", func(t *testing.T) time.Time {
			at := time.Now()
			e.kubectl(t, "delete", "pods", "-l", resources.LabelInstance+"="+name, "--wait=false")
			return at
		}, true},
		{"scaled out to 4 shards and back to 3", func(t *testing.T) time.Time {
			at := e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Masters = 4 })
			e.waitExternal(t, name, at, 3*time.Minute)
			t.Logf("timing: 3 -> 4 shards -> Ready and announced: %v", time.Since(at))
			checkOutsideCluster(t, out, e.endpoints(t, name), 0)
			return e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) { s.Masters = 3 })
		}, true},
	}
	for i, d := range disruptions {
		if !t.Run(kind+": "+d.name+" under a writer outside: nothing acknowledged is lost", func(t *testing.T) {
			p := fmt.Sprintf("%s%d", prefix, i)
			w := writeload.StartDialing(context.Background(), e.endpoints(t, name), p, out.DialContext)
			time.Sleep(time.Second)
			at := d.disrupt(t)
			e.waitExternal(t, name, at, 3*time.Minute)
			t.Logf("timing: %s -> Ready and every endpoint announced: %v", d.name, time.Since(at))
			time.Sleep(500 * time.Millisecond)
			res := w.Stop()
			lost, err := writeload.LostDialing(t.Context(), e.endpoints(t, name), p, res.Acked, out.DialContext)
			if err != nil {
				t.Fatalf("read back from outside: %v", err)
			}
			t.Logf("measured: external %s, %s: %d writes acknowledged, %d write errors (first: %v), worst gap %v starting %v after the disruption, %d acknowledged writes lost",
				kind, d.name, len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, res.GapStart.Sub(at), len(lost))
			if d.lossless && len(lost) > 0 {
				t.Errorf("%d acknowledged writes lost (first: %+v)", len(lost), lost[0])
			}
			waitAnnouncedAgree(t, out, func() []string { return e.endpoints(t, name) })
			checkOutsideCluster(t, out, e.endpoints(t, name), 0)
		}) {
			return false
		}
	}
	return true
}

// wantExternalServices checks that the RedisCluster name (3 shards, one
// replica each) has exactly one external Service per pod.
func wantExternalServices(t *testing.T, e *opEnv, name string) {
	t.Helper()
	list := &corev1.ServiceList{}
	if err := e.cl.List(t.Context(), list, client.InNamespace(opNS), client.MatchingLabels{resources.LabelInstance: name}); err != nil {
		t.Fatal(err)
	}
	var ext []string
	for _, s := range list.Items {
		if s.Labels[resources.LabelExternal] != "" {
			ext = append(ext, s.Name)
		}
	}
	slices.Sort(ext)
	var want []string
	for shard := range 3 {
		for ordinal := range 2 {
			want = append(want, fmt.Sprintf("%s-%d-%d-ext", name, shard, ordinal))
		}
	}
	if !slices.Equal(ext, want) {
		t.Errorf("external Services %v, want %v", ext, want)
	}
}

// testLoadBalancerNeverAssigned points the RedisCluster's load balancers at a
// class no controller serves: the Services are recreated (the class is
// immutable), get no address, the nodes go back to announcing their pod
// addresses and the cluster keeps serving clients inside Kubernetes, while
// ExternalAccessReady says why, with a Warning event.
func testLoadBalancerNeverAssigned(t *testing.T, e *opEnv, name string) {
	at := e.patchSpec(t, name, func(s *redisv1alpha1.RedisClusterSpec) {
		s.ExternalAccess = &redisv1alpha1.ExternalAccessSpec{Type: redisv1alpha1.ExternalAccessLoadBalancer,
			LoadBalancer: &redisv1alpha1.LoadBalancerSpec{LoadBalancerClass: ptr.To("example.com/nobody")}}
	})
	var reason, msg string
	opWait(t, 2*time.Minute, "ExternalAccessReady False, LoadBalancerPending", func(ctx context.Context) error {
		rc, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionExternalAccessReady))
		if c == nil || c.ObservedGeneration != rc.Generation || c.Reason != string(redisv1alpha1.ReasonLoadBalancerPending) {
			return fmt.Errorf("condition %+v", c)
		}
		reason, msg = c.Reason, c.Message
		return nil
	})
	t.Logf("ExternalAccessReady False %s: %s (%v after the change)", reason, msg, time.Since(at))
	rc := e.waitReady(t, name, time.Time{}, 2*time.Minute)
	if rc.Status.ExternalAccess != nil && len(rc.Status.ExternalAccess.Endpoints) > 0 {
		t.Errorf("status lists endpoints no client can use: %+v", rc.Status.ExternalAccess.Endpoints)
	}
	addrs := e.addrs(t, name)
	opWait(t, time.Minute, "every node announcing its pod address again", func(ctx context.Context) error {
		for _, a := range addrs {
			self := clusterView(t, a).Myself()
			if self.Addr != a {
				return fmt.Errorf("%s announces %s", a, self.Addr)
			}
		}
		return nil
	})
	referee(t, addrs[0])
	warned := false
	for _, ev := range clusterEvents(t, e, name, controller.EventExternalAccessPending).Items {
		warned = warned || (ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Message, "LoadBalancerPending"))
	}
	if !warned {
		t.Error("no Warning event ExternalAccessPending naming LoadBalancerPending")
	}
}

// testHostnames runs a cluster with spec.announce Hostname: a client that
// resolves names with the cluster DNS, as any pod does, is redirected to
// the nodes' DNS names and keeps writing through a master pod's deletion,
// which gives the pod a new IP under the same name.
func testHostnames(t *testing.T, e *opEnv) {
	const name = "named"
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1, Announce: redisv1alpha1.AnnounceHostname,
			Config:  map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage: redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
		},
	}
	applied := time.Now()
	if err := e.cl.Create(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, name, applied, 3*time.Minute)
	t.Logf("timing: create with hostnames -> Ready: %v", time.Since(applied))
	dns := e.h.Services.DNS.Addr.String()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Resolver: resolver}
		return d.DialContext(ctx, network, addr)
	}
	suffix := "." + name + "-nodes." + opNS + ".svc.cluster.local"
	var seeds []string
	opWait(t, time.Minute, "every node announcing its DNS name", func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: e.addrs(t, name)[0]})
		defer func() { _ = c.Close() }()
		shards, err := c.ClusterShards(ctx).Result()
		if err != nil {
			return err
		}
		seeds = seeds[:0]
		for _, sh := range shards {
			for _, n := range sh.Nodes {
				if !strings.HasSuffix(n.Endpoint, suffix) {
					return fmt.Errorf("CLUSTER SHARDS gives clients %s, not a name under %s", n.Endpoint, suffix)
				}
				seeds = append(seeds, net.JoinHostPort(n.Endpoint, strconv.FormatInt(n.Port, 10)))
			}
		}
		return nil
	})
	w := writeload.StartDialing(context.Background(), seeds, "named", dial)
	time.Sleep(time.Second)
	victim := e.master(t, name, 0)
	pods, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	oldIP := pods[victim].Status.PodIP
	deleted := time.Now()
	e.kubectl(t, "delete", "pod", victim, "--wait=false")
	e.waitReady(t, name, deleted, 2*time.Minute)
	time.Sleep(500 * time.Millisecond)
	res := w.Stop()
	lost, err := writeload.LostDialing(t.Context(), seeds, "named", res.Acked, dial)
	if err != nil {
		t.Fatal(err)
	}
	if pods, err = e.pods(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: hostnames, a master pod deleted (IP %s -> %s): %d writes acknowledged through DNS names, %d write errors (first: %v), worst gap %v, %d acknowledged writes lost",
		oldIP, pods[victim].Status.PodIP, len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost", len(lost))
	}
	if len(res.Acked) == 0 {
		t.Error("no write went through the DNS names")
	}
}

// checkOutsideCluster checks, from out, that CLUSTER SHARDS gives clients
// only the announced endpoints, that redis-cli -c sets and gets a key on every
// shard, and (keys > 0) that a go-redis ClusterClient writes and reads
// back that many keys; every announced endpoint must answer.
// waitAnnouncedAgree waits (up to a minute) until every node's CLUSTER
// SHARDS gives clients only the endpoints the status lists: right after a
// force-deletion the status may be Ready from a pass that has not yet
// written the recreated pod's endpoint, while the nodes already announce
// it. checkOutsideCluster then judges.
func waitAnnouncedAgree(t *testing.T, out vantage, endpoints func() []string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		eps := endpoints()
		agree := true
		for _, ep := range eps {
			c := redis.NewClient(&redis.Options{Addr: ep, Dialer: out.DialContext, DialTimeout: time.Second})
			shards, err := c.ClusterShards(t.Context()).Result()
			_ = c.Close()
			if err != nil {
				agree = false
				break
			}
			for _, sh := range shards {
				for _, n := range sh.Nodes {
					if !slices.Contains(eps, net.JoinHostPort(n.Endpoint, strconv.FormatInt(n.Port, 10))) {
						agree = false
					}
				}
			}
		}
		if agree {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkOutsideCluster(t *testing.T, out vantage, endpoints []string, keys int) {
	t.Helper()
	ctx := t.Context()
	for _, ep := range endpoints {
		c := redis.NewClient(&redis.Options{Addr: ep, Dialer: out.DialContext, DialTimeout: time.Second})
		shards, err := c.ClusterShards(ctx).Result()
		_ = c.Close()
		if err != nil {
			t.Fatalf("CLUSTER SHARDS from outside at %s: %v", ep, err)
		}
		for _, sh := range shards {
			for _, n := range sh.Nodes {
				if a := net.JoinHostPort(n.Endpoint, strconv.FormatInt(n.Port, 10)); !slices.Contains(endpoints, a) {
					t.Errorf("CLUSTER SHARDS at %s gives clients %s, not an announced endpoint %v", ep, a, endpoints)
				}
			}
		}
	}
	host, port, _ := net.SplitHostPort(endpoints[0])
	// {a}, {b} and {c} hash to slots 15495, 3300 and 7365: one per shard of
	// three (and of four).
	for _, k := range []string{"{a}x", "{b}x", "{c}x"} {
		cli := func(args ...string) string {
			cmd := out.Command(ctx, "redis-cli", append([]string{"-c", "-h", host, "-p", port}, args...)...)
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("redis-cli -c %s from outside: %v\n%s", strings.Join(args, " "), err, b)
			}
			return strings.TrimSpace(string(b))
		}
		if got := cli("SET", k, "outside"); got != "OK" {
			t.Errorf("redis-cli -c SET %s from outside: %q", k, got)
		}
		if got := cli("GET", k); got != "outside" {
			t.Errorf("redis-cli -c GET %s from outside: %q", k, got)
		}
	}
	if keys == 0 {
		return
	}
	cc := writeload.NewClient(endpoints, out.DialContext)
	defer func() { _ = cc.Close() }()
	began := time.Now()
	load := func(set bool) error {
		for lo := 0; lo < keys; lo += 1000 {
			cmds, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for k := lo; k < min(lo+1000, keys); k++ {
					if set {
						p.Set(ctx, fmt.Sprintf("ext:%d", k), k, 0)
					} else {
						p.Get(ctx, fmt.Sprintf("ext:%d", k))
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if set {
				continue
			}
			for i, c := range cmds {
				if v, err := c.(*redis.StringCmd).Int(); err != nil || v != lo+i {
					return fmt.Errorf("ext:%d = %d: %w", lo+i, v, err)
				}
			}
		}
		return nil
	}
	if err := load(true); err != nil {
		t.Fatalf("write %d keys from outside: %v", keys, err)
	}
	if err := load(false); err != nil {
		t.Fatalf("read %d keys back from outside: %v", keys, err)
	}
	t.Logf("measured: %d keys written and read back from outside through %d endpoints in %v", keys, len(endpoints), time.Since(began))
}

// waitExternal waits until the RedisCluster is Ready and
// ExternalAccessReady, both at or after since, and returns it.
func (e *opEnv) waitExternal(t *testing.T, name string, since time.Time, d time.Duration) *redisv1alpha1.RedisCluster {
	t.Helper()
	e.waitReady(t, name, since, d)
	var rc *redisv1alpha1.RedisCluster
	opWait(t, d, "ExternalAccessReady", func(ctx context.Context) error {
		var err error
		if rc, err = e.get(ctx, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionExternalAccessReady))
		switch {
		case c == nil:
			return errors.New("no ExternalAccessReady condition")
		case c.Status != metav1.ConditionTrue || c.ObservedGeneration != rc.Generation:
			return fmt.Errorf("ExternalAccessReady %s (generation %d of %d): %s: %s", c.Status, c.ObservedGeneration, rc.Generation, c.Reason, c.Message)
		case !meta.IsStatusConditionTrue(rc.Status.Conditions, string(redisv1alpha1.ConditionReady)):
			return errors.New("not Ready")
		}
		return nil
	})
	return rc
}

// endpoints returns the announced endpoints of the RedisCluster's nodes.
func (e *opEnv) endpoints(t *testing.T, name string) []string {
	t.Helper()
	rc, err := e.get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Status.ExternalAccess == nil || len(rc.Status.ExternalAccess.Endpoints) == 0 {
		t.Fatalf("status lists no external endpoint: %+v", rc.Status.ExternalAccess)
	}
	var out []string
	for _, ep := range rc.Status.ExternalAccess.Endpoints {
		out = append(out, ep.Address)
	}
	slices.Sort(out)
	return out
}

// master returns the pod serving shard's master role.
func (e *opEnv) master(t *testing.T, name string, shard int) string {
	t.Helper()
	rc, err := e.get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range rc.Status.Shards {
		if int(sh.Index) == shard && sh.MasterPod != "" {
			return sh.MasterPod
		}
	}
	t.Fatalf("no master of shard %d in %+v", shard, rc.Status.Shards)
	return ""
}

// patchSpec changes the RedisCluster's spec with a merge patch and returns
// when it did.
func (e *opEnv) patchSpec(t *testing.T, name string, change func(*redisv1alpha1.RedisClusterSpec)) time.Time {
	t.Helper()
	cur, err := e.get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	change(&cur.Spec)
	at := time.Now()
	if err := e.cl.Patch(t.Context(), cur, patch); err != nil {
		t.Fatalf("patch spec: %v", err)
	}
	return at
}
