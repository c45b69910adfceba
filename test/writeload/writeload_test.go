package writeload_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
	"github.com/redkube/redkube/test/writeload"
)

// cluster starts three masters without replicas (node timeout 500 ms),
// each owning a third of the slots, and waits until every node reports
// cluster_state:ok with all slots assigned.
func cluster(t *testing.T) ([]*redisenv.Node, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	nodes := redisenv.Start(t, 3, redisenv.WithNodeTimeout(500*time.Millisecond))
	pool := redisadmin.NewPool(redisadmin.Options{})
	t.Cleanup(func() { _ = pool.Close() })
	addrs := make([]string, len(nodes))
	per := topology.SlotCount / len(nodes)
	for i, nd := range nodes {
		addrs[i] = nd.Addr
		hi := (i+1)*per - 1
		if i == len(nodes)-1 {
			hi = topology.SlotCount - 1
		}
		n := pool.Node(nd.Addr)
		if err := n.SetConfigEpoch(ctx, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		if err := n.AddSlots(ctx, topology.RangeSet(i*per, hi)); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := n.Meet(ctx, "127.0.0.1", nodes[0].Port, nodes[0].BusPort); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "cluster ok on every node", func() bool {
		for _, a := range addrs {
			ci, err := pool.Node(a).ClusterInfo(ctx)
			if err != nil || !ci.StateOK || ci.KnownNodes != len(nodes) || ci.SlotsAssigned != topology.SlotCount {
				return false
			}
		}
		return true
	})
	return nodes, addrs
}

// waitFor polls cond every 20 ms for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clusterState returns addr's cluster_state.
func clusterState(ctx context.Context, addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	text, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err.Error()
	}
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "cluster_state:"); ok {
			return v
		}
	}
	return ""
}

func TestHealthyClusterAcknowledgesEveryWriteAndLosesNone(t *testing.T) {
	_, addrs := cluster(t)
	w := writeload.Start(t.Context(), addrs, "healthy")
	waitFor(t, "1000 acknowledged writes", func() bool { n, _ := w.Progress(); return n >= 1000 })
	res := w.Stop()

	if res.Errors != 0 || res.FirstErr != nil {
		t.Fatalf("%d errors on a healthy cluster, first: %v", res.Errors, res.FirstErr)
	}
	for i, n := range res.Acked {
		if n != i {
			t.Fatalf("acknowledged write %d is number %d; want every write 0..%d in order", i, n, len(res.Acked)-1)
		}
	}
	if res.WorstGap <= 0 || res.LongestCall <= 0 || res.GapStart.IsZero() {
		t.Errorf("worst gap %v from %v, longest call %v: want all recorded", res.WorstGap, res.GapStart, res.LongestCall)
	}
	if again := w.Stop(); len(again.Acked) != len(res.Acked) {
		t.Errorf("a second Stop saw %d acknowledged writes, the first %d", len(again.Acked), len(res.Acked))
	}
	lost, err := writeload.Lost(t.Context(), addrs, "healthy", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 0 {
		t.Fatalf("lost %d acknowledged writes on a healthy cluster, first %+v", len(lost), lost[0])
	}
}

func TestLostListsMissingAndOverwrittenKeys(t *testing.T) {
	_, addrs := cluster(t)
	w := writeload.Start(t.Context(), addrs, "k")
	waitFor(t, "20 acknowledged writes", func() bool { n, _ := w.Progress(); return n >= 20 })
	res := w.Stop()
	cc := writeload.NewClient(addrs, nil)
	defer func() { _ = cc.Close() }()
	if err := cc.Del(t.Context(), writeload.Key("k", 3)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cc.Set(t.Context(), writeload.Key("k", 11), "eleven", 0).Err(); err != nil {
		t.Fatal(err)
	}

	lost, err := writeload.Lost(t.Context(), addrs, "k", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	want := []writeload.Loss{{N: 3, Found: ""}, {N: 11, Found: "eleven"}}
	if !slices.Equal(lost, want) {
		t.Fatalf("lost = %+v, want %+v", lost, want)
	}
}

func TestLostFailsWhenNothingAnswers(t *testing.T) {
	nodes, addrs := cluster(t)
	for _, nd := range nodes {
		nd.Kill()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if lost, err := writeload.Lost(ctx, addrs, "k", []int{0, 1, 2}); err == nil {
		t.Fatalf("Lost on a cluster with no live node = %+v, nil error; want an error", lost)
	}
}

// A master without replica is killed and, once the whole cluster refuses
// writes, restarted empty (no persistence) on the same port with its
// nodes.conf: the writer's worst gap must cover the outage, and Lost must
// name exactly the writes that master had acknowledged before.
func TestMasterOutageShowsAsGapErrorsAndLostWrites(t *testing.T) {
	nodes, addrs := cluster(t)
	ctx := t.Context()
	w := writeload.Start(ctx, addrs, "o")
	waitFor(t, "300 acknowledged writes", func() bool { n, _ := w.Progress(); return n >= 300 })

	victim := nodes[2] // slots 10922-16383
	victim.Kill()
	waitFor(t, "cluster_state:fail on the survivors", func() bool {
		return clusterState(ctx, nodes[0].Addr) == "fail" && clusterState(ctx, nodes[1].Addr) == "fail"
	})
	// One more failed write: the write in flight when the survivors turned
	// to fail (if any) has been recorded, so no acknowledgement is
	// recorded after refusing.
	_, errsBefore := w.Progress()
	waitFor(t, "a write refused by the failed cluster", func() bool { _, e := w.Progress(); return e > errsBefore })
	refusing := time.Now()
	ackedBeforeRestart, errsRefusing := w.Progress()
	waitFor(t, "3 more refused writes", func() bool { _, e := w.Progress(); return e >= errsRefusing+3 })
	restarted := time.Now()
	victim.Restart()
	waitFor(t, "100 more acknowledged writes after the restart", func() bool {
		n, _ := w.Progress()
		return n >= ackedBeforeRestart+100
	})
	res := w.Stop()

	if res.Errors == 0 || res.FirstErr == nil {
		t.Errorf("errors %d, first %v: want the outage's failed writes counted", res.Errors, res.FirstErr)
	}
	// No write can be acknowledged between refusing and restarted, so some
	// gap between two acknowledgements spans that window.
	if outage := restarted.Sub(refusing); res.WorstGap < outage {
		t.Errorf("worst gap %v (from %v) is shorter than the window without acknowledgements, %v (%v to %v)",
			res.WorstGap, res.GapStart, outage, refusing, restarted)
	}

	// The gap is explained by the calls it is made of: the victim's
	// refused dials or the survivors' CLUSTERDOWN replies.
	if len(res.GapAttempts) == 0 {
		t.Errorf("no failed call recorded during the worst gap of %v", res.WorstGap)
	}
	for _, a := range res.GapAttempts {
		if a.At.Add(a.Took).Before(res.GapStart) || a.At.After(res.GapStart.Add(res.WorstGap)) {
			t.Errorf("attempt %s lies outside the gap %v from %v", a, res.WorstGap, res.GapStart)
		}
	}
	t.Logf("the gap's first calls: %v", res.GapAttempts[:min(3, len(res.GapAttempts))])

	// Every write the victim acknowledged before its restart is gone.
	slots := keySlots(t, addrs[0], "o", res.Acked[:ackedBeforeRestart])
	var want []writeload.Loss
	for i, n := range res.Acked[:ackedBeforeRestart] {
		if slots[i] >= 2*(topology.SlotCount/3) {
			want = append(want, writeload.Loss{N: n})
		}
	}
	if len(want) == 0 {
		t.Fatal("the victim acknowledged no write before the outage; the check below would prove nothing")
	}
	lost, err := writeload.Lost(ctx, addrs, "o", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lost, want) {
		t.Fatalf("lost %d writes, want the %d the victim acknowledged before its restart (first lost %v, first wanted %v)",
			len(lost), len(want), first(lost), first(want))
	}
}

// keySlots returns the hash slot of each write's key (CLUSTER KEYSLOT).
func keySlots(t *testing.T, addr, prefix string, ns []int) []int64 {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	cmds := make([]*redis.IntCmd, len(ns))
	if _, err := c.Pipelined(t.Context(), func(p redis.Pipeliner) error {
		for i, n := range ns {
			cmds[i] = p.ClusterKeySlot(t.Context(), writeload.Key(prefix, n))
		}
		return nil
	}); err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	out := make([]int64, len(ns))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out
}

func first(l []writeload.Loss) string {
	if len(l) == 0 {
		return "none"
	}
	return fmt.Sprintf("%+v", l[0])
}
