package executor

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

const benchKeys = 100000

// benchOptions reads optional tuning from the environment
// (BENCH_CHUNK_SLOTS, BENCH_INFLIGHT, BENCH_PARALLEL) so defaults can be compared.
func benchOptions() Options {
	var o Options
	if v, err := strconv.Atoi(os.Getenv("BENCH_CHUNK_SLOTS")); err == nil {
		o.ChunkSlots = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_INFLIGHT")); err == nil {
		o.ChunksInFlight = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_PARALLEL")); err == nil {
		o.Parallel = v
	}
	return o
}

// rebalancePlan moves a quarter of each of the first three masters' slots
// to target, as a rebalance onto one empty master does.
func rebalancePlan(b *testing.B, c *testCluster, target topology.NodeID) planner.Plan {
	var plan planner.Plan
	for m := 0; m < 3; m++ {
		owned := c.ownedBy(b, c.nodes[m].Addr, c.ids[m])
		plan.Steps = append(plan.Steps, planner.MigrateSlots{Source: c.ids[m], Target: target, Slots: owned.TakeHighest(owned.Count() / 4)})
	}
	return plan
}

// BenchmarkRebalanceOntoEmptyMaster measures keys/s moved when 100k small
// keys on 3 masters are rebalanced onto one new empty master, by the
// executor and, for comparison, by redis-cli --cluster rebalance
// --cluster-use-empty-masters on an identical cluster.
func BenchmarkRebalanceOntoEmptyMaster(b *testing.B) {
	b.Run("executor", func(b *testing.B) {
		var keys int64
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			c := newCluster(b, 3, 0, benchOptions())
			c.load(b, benchKeys)
			target := c.addEmptyMaster(b)
			plan := rebalancePlan(b, c, target)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			b.StartTimer()
			start := time.Now()
			if err := c.ex.Run(ctx, plan); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			b.StopTimer()
			keys += c.ex.CurrentProgress().KeysMoved
			cancel()
		}
		b.ReportMetric(float64(keys)/elapsed.Seconds(), "keys/s")
		b.ReportMetric(float64(keys)/float64(b.N), "keys/op")
	})
	b.Run("redis-cli", func(b *testing.B) {
		var keys int64
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			c := newCluster(b, 3, 0, Options{})
			c.load(b, benchKeys)
			target := c.addEmptyMaster(b)
			b.StartTimer()
			start := time.Now()
			out, err := exec.Command("redis-cli", "--cluster", "rebalance", c.nodes[0].Addr, "--cluster-use-empty-masters").CombinedOutput()
			elapsed += time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatalf("redis-cli rebalance: %v\n%s", err, out)
			}
			k, err := c.pool.Node(c.masterAddr(target)).DBSize(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			keys += k
		}
		b.ReportMetric(float64(keys)/elapsed.Seconds(), "keys/s")
		b.ReportMetric(float64(keys)/float64(b.N), "keys/op")
	})
}

// BenchmarkCreate measures the time from a fresh set of 6 nodes to every
// node reporting cluster_state:ok with an agreed layout (3 masters x 1
// replica), for the executor and for redis-cli --cluster create, at two
// cluster-node-timeout settings. A master that had no slots counts as being
// in a minority partition and then waits min(max(node-timeout, 500 ms), 5 s)
// after it gets its slots before it reports ok (clusterUpdateState's rejoin
// delay), which bounds both tools from below.
func BenchmarkCreate(b *testing.B) {
	for _, timeout := range []time.Duration{500 * time.Millisecond, 5 * time.Second} {
		b.Run("node-timeout="+timeout.String()+"/executor", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c, ctx, cancel := freshNodes(b, timeout)
				snap, ids := discoverFresh(b, ctx, c.pool, c.nodes)
				ex := New(c.pool, Endpoints(snap), Options{PollInterval: 5 * time.Millisecond})
				plan := createPlan(ids, 3)
				b.StartTimer()
				if err := ex.Run(ctx, plan); err != nil {
					b.Fatal(err)
				}
				if err := ex.WaitConsistent(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cancel()
			}
		})
		b.Run("node-timeout="+timeout.String()+"/redis-cli", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c, ctx, cancel := freshNodes(b, timeout)
				args := append([]string{"--cluster", "create"}, c.addrs()...)
				args = append(args, "--cluster-replicas", "1", "--cluster-yes")
				b.StartTimer()
				if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
					b.Fatalf("redis-cli create: %v\n%s", err, out)
				}
				if err := WaitConsistent(ctx, c.pool, c.addrs(), 5*time.Millisecond); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cancel()
			}
		})
	}
}

// freshNodes starts 6 servers and waits out CLUSTER_WRITABLE_DELAY (a
// master reports ok no sooner than 2 s after it started; real servers are
// older than that).
func freshNodes(b *testing.B, nodeTimeout time.Duration) (*testCluster, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	nodes := redisenv.Start(b, 6, redisenv.WithNodeTimeout(nodeTimeout))
	time.Sleep(2500 * time.Millisecond)
	c := &testCluster{nodes: nodes, pool: newPool(b)}
	return c, ctx, cancel
}
