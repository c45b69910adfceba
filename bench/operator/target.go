package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/harness"
)

// namespace holds every object of the benchmark.
const namespace = "default"

// target is one Redis Cluster under test: a RedisCluster managed by the
// operator, or the tutorial's StatefulSet.
type target struct {
	label    string // column heading
	rc       string // RedisCluster name; empty for the tutorial
	selector string // label selector of its pods
	size     int    // expected pods (3 masters x (1 + 1 replica))
	e        *env
	pool     *pool
}

// podInfo is what the benchmark needs of a pod.
type podInfo struct {
	name, ip, node string
	ready          bool
}

func (p podInfo) addr() string { return net.JoinHostPort(p.ip, harness.RedisPort) }

// livePods lists the target's pods that are not being deleted, by name.
func (t *target) livePods(ctx context.Context) ([]podInfo, error) {
	pods, err := t.e.LivePods(ctx, namespace, t.selector)
	if err != nil {
		return nil, fmt.Errorf("pods of %s: %w", t.label, err)
	}
	out := make([]podInfo, 0, len(pods))
	for _, p := range pods {
		out = append(out, podInfo{name: p.Name, ip: p.Status.PodIP, node: p.Spec.NodeName, ready: harness.PodReady(&p)})
	}
	return out, nil
}

// addrs returns the Redis addresses of the target's ready pods.
func (t *target) addrs(ctx context.Context) ([]string, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods {
		if p.ready {
			out = append(out, p.addr())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no ready pod", t.label)
	}
	return out, nil
}

// readySince reports whether the RedisCluster's Ready condition is True
// for its generation and became True at or after since (harness.Env.Ready).
func (t *target) readySince(ctx context.Context, since time.Time) (bool, error) {
	_, err := t.e.Ready(ctx, namespace, t.rc, since)
	if errors.Is(err, harness.ErrNotReady) {
		return false, nil
	}
	return err == nil, err
}

// pool keeps one plain client per Redis address, with short timeouts and
// no retries: the pollers ask often and must not wait on a dead node.
type pool struct {
	mu sync.Mutex
	m  map[string]*redis.Client
}

func newPool() *pool { return &pool{m: map[string]*redis.Client{}} }

func (p *pool) get(addr string) *redis.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.m[addr]
	if c == nil {
		c = redis.NewClient(&redis.Options{
			Addr: addr, DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
			WriteTimeout: 500 * time.Millisecond, MaxRetries: -1, PoolSize: 2,
		})
		p.m[addr] = c
	}
	return c
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.m {
		_ = c.Close()
	}
	p.m = map[string]*redis.Client{}
}

// view returns addr's CLUSTER NODES, parsed.
func (p *pool) view(ctx context.Context, addr string) (*topology.View, error) {
	text, err := p.get(addr).ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES at %s: %w", addr, err)
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		return nil, fmt.Errorf("parse CLUSTER NODES of %s: %w", addr, err)
	}
	return v, nil
}

// info returns one INFO section of addr as key/value pairs.
func (p *pool) info(ctx context.Context, addr, section string) (map[string]string, error) {
	text, err := p.get(addr).Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s at %s: %w", section, addr, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// health checks the target from outside: every expected pod Ready and
// answering; every node sees all of them connected at their current IPs,
// none failing, and the same slot owners; all 16384 slots covered by 3
// masters with one replica each, every replica's link up and not syncing;
// with placement, no master and its replica on the same Kubernetes node.
// It returns "" when
// healthy, else what is not.
func (t *target) health(ctx context.Context, placement bool) (string, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return "", err
	}
	if len(pods) != t.size {
		return fmt.Sprintf("%d pods, want %d", len(pods), t.size), nil
	}
	nodeOfIP := map[string]string{}
	for _, p := range pods {
		if !p.ready {
			return p.name + " not Ready", nil
		}
		nodeOfIP[p.ip] = p.node
	}
	var first [topology.SlotCount]topology.NodeID
	var firstView *topology.View
	for i, p := range pods {
		v, err := t.pool.view(ctx, p.addr())
		if err != nil {
			return err.Error(), nil
		}
		if len(v.Nodes) != t.size {
			return fmt.Sprintf("%s knows %d nodes", p.name, len(v.Nodes)), nil
		}
		for _, n := range v.Nodes {
			if n.Failing() {
				return fmt.Sprintf("%s flags %s failing", p.name, n.ID), nil
			}
			if !n.IsMyself() && !n.Connected {
				return fmt.Sprintf("%s not connected to %s", p.name, n.ID), nil
			}
			// A restarted node keeps reporting its own old IP until someone
			// MEETs it (Redis learns its own address only from a MEET);
			// staleSelf counts that separately.
			if _, ok := nodeOfIP[n.Host()]; !ok && !n.IsMyself() {
				return fmt.Sprintf("%s sees %s at %s, no pod's IP", p.name, n.ID, n.Addr), nil
			}
		}
		owners := v.SlotOwners()
		if i == 0 {
			first, firstView = owners, v
		} else if owners != first {
			return fmt.Sprintf("%s disagrees on slot owners", p.name), nil
		}
		if me := v.Myself(); me != nil && me.IsReplica() {
			inf, err := t.pool.info(ctx, p.addr(), "replication")
			if err != nil {
				return err.Error(), nil
			}
			if inf["master_link_status"] != "up" || inf["master_sync_in_progress"] != "0" {
				return fmt.Sprintf("%s replication link %s, syncing %s", p.name, inf["master_link_status"], inf["master_sync_in_progress"]), nil
			}
		}
	}
	if !firstView.Covered().IsFull() {
		return "slots not all covered", nil
	}
	serving := 0
	for _, m := range firstView.Masters() {
		if m.Slots.IsEmpty() {
			continue
		}
		serving++
		reps := firstView.ReplicasOf(m.ID)
		if len(reps) != 1 {
			return fmt.Sprintf("master %s has %d replicas", m.ID, len(reps)), nil
		}
		if placement && nodeOfIP[reps[0].Host()] == nodeOfIP[m.Host()] {
			return fmt.Sprintf("master %s and its replica share %s", m.ID, nodeOfIP[m.Host()]), nil
		}
	}
	if serving != t.size/2 {
		return fmt.Sprintf("%d masters serve slots", serving), nil
	}
	return "", nil
}

// served reports whether every address in survivors routes slot to the
// same live master: known to it as a master, not failing, and (unless it
// is the asked node itself) not at oldAddr but at the IP of a live pod. It
// returns that master's ID.
func (t *target) served(ctx context.Context, survivors []string, slot int, oldAddr string, live map[string]bool) (topology.NodeID, bool) {
	var owner topology.NodeID
	for _, a := range survivors {
		v, err := t.pool.view(ctx, a)
		if err != nil {
			return "", false
		}
		id := v.SlotOwners()[slot]
		n := v.Node(id)
		if n == nil || !n.IsMaster() || n.Failing() {
			return "", false
		}
		// A node's own line may show a stale IP (see health); it serves its
		// slots all the same.
		if !n.IsMyself() && (n.Addr == oldAddr || !live[n.Host()]) {
			return "", false
		}
		if owner != "" && owner != id {
			return "", false
		}
		owner = id
	}
	return owner, owner != ""
}

// liveIPs returns the IPs of the target's live pods.
func (t *target) liveIPs(ctx context.Context) (map[string]bool, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range pods {
		if p.ip != "" {
			out[p.ip] = true
		}
	}
	return out, nil
}

// syncMonitor records, per pod, the first time it answered as a replica
// with its link up and no sync in progress (its first sync finished), and
// the first time all expected pods were Ready.
type syncMonitor struct {
	t      *target
	mu     sync.Mutex
	first  map[string]time.Time
	podsUp time.Time
	// claimsBound is written and read by run only until stop.
	claimsBound time.Time
	cancel      context.CancelFunc
	finished    chan struct{}
}

func startSyncMonitor(ctx context.Context, t *target) *syncMonitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &syncMonitor{t: t, first: map[string]time.Time{}, cancel: cancel, finished: make(chan struct{})}
	go m.run(ctx)
	return m
}

func (m *syncMonitor) run(ctx context.Context) {
	defer close(m.finished)
	var pods []podInfo
	for i := 0; ctx.Err() == nil; i++ {
		if i%4 == 0 {
			if p, err := m.t.livePods(ctx); err == nil {
				pods = p
				ready := 0
				for _, x := range p {
					if x.ready {
						ready++
					}
				}
				m.mu.Lock()
				if ready == m.t.size && m.podsUp.IsZero() {
					m.podsUp = time.Now()
				}
				m.mu.Unlock()
			}
			if m.claimsBound.IsZero() {
				if list, err := m.t.e.Clientset.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{LabelSelector: m.t.selector}); err == nil {
					bound := 0
					for _, c := range list.Items {
						if c.Status.Phase == corev1.ClaimBound {
							bound++
						}
					}
					if bound == m.t.size {
						m.claimsBound = time.Now()
					}
				}
			}
		}
		for _, p := range pods {
			if p.ip == "" {
				continue
			}
			m.mu.Lock()
			_, done := m.first[p.name]
			m.mu.Unlock()
			if done {
				continue
			}
			inf, err := m.t.pool.info(ctx, p.addr(), "replication")
			if err == nil && inf["role"] == "slave" && inf["master_link_status"] == "up" && inf["master_sync_in_progress"] == "0" {
				m.mu.Lock()
				m.first[p.name] = time.Now()
				m.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the monitor and returns the time the last of n replicas
// finished its first sync (zero when fewer than n did), the time all pods
// were first Ready and the time all claims were first Bound.
func (m *syncMonitor) stop(n int) (lastSync, podsUp, claimsBound time.Time) {
	m.cancel()
	<-m.finished
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.first) >= n {
		for _, at := range m.first {
			if at.After(lastSync) {
				lastSync = at
			}
		}
	}
	return lastSync, m.podsUp, m.claimsBound
}

// mastersPerNode returns the largest number of slot-owning masters of t
// on one Kubernetes node.
func (t *target) mastersPerNode(ctx context.Context) (int, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return 0, err
	}
	if len(pods) == 0 {
		return 0, fmt.Errorf("%s: no pods", t.label)
	}
	nodeOf := map[string]string{}
	for _, p := range pods {
		nodeOf[p.ip] = p.node
	}
	v, err := t.pool.view(ctx, pods[0].addr())
	if err != nil {
		return 0, err
	}
	per := map[string]int{}
	worst := 0
	for _, m := range v.Masters() {
		if !m.Slots.IsEmpty() {
			per[nodeOf[m.Host()]]++
			worst = max(worst, per[nodeOf[m.Host()]])
		}
	}
	return worst, nil
}

// staleSelf returns the target's pods whose own CLUSTER NODES line shows
// an address other than their pod IP (what clients asking them get).
func (t *target) staleSelf(ctx context.Context) ([]string, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods {
		v, err := t.pool.view(ctx, p.addr())
		if err != nil {
			return nil, err
		}
		if me := v.Myself(); me != nil && me.Host() != p.ip {
			out = append(out, fmt.Sprintf("%s says %s", p.name, me.Addr))
		}
	}
	return out, nil
}
