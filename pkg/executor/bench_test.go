package executor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// benchKeys is the number of keys loaded (BENCH_KEYS overrides it; 0
// measures the per-slot cost of the protocol alone).
var benchKeys = 100000

func init() {
	if v, err := strconv.Atoi(os.Getenv("BENCH_KEYS")); err == nil {
		benchKeys = v
	}
}

// benchOptions reads optional tuning from the environment
// (BENCH_CHUNK_SLOTS, BENCH_INFLIGHT, BENCH_PARALLEL, BENCH_QUIET=1 for
// Options.QuietHandover) so settings can be compared.
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
	o.QuietHandover = os.Getenv("BENCH_QUIET") == "1"
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

// rebalanceRuns runs b.N executor rebalances onto an empty master of fresh
// clusters (started with envOpts) and returns the keys moved, the time the
// moves took and, with stats, the servers' CPU time during them.
func rebalanceRuns(b *testing.B, stats bool, envOpts ...redisenv.Option) (keys int64, elapsed, cpu time.Duration) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newCluster(b, 3, 0, benchOptions(), envOpts...)
		c.load(b, benchKeys)
		target := c.addEmptyMaster(b)
		plan := rebalancePlan(b, c, target)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var before serverStats
		if stats {
			before = c.serverStats(b)
		}
		b.StartTimer()
		start := time.Now()
		if err := c.ex.Run(ctx, plan); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if stats {
			cpu += c.serverStats(b).since(b, before)
		}
		keys += c.ex.CurrentProgress().KeysMoved
		cancel()
	}
	return keys, elapsed, cpu
}

// BenchmarkRebalanceOntoEmptyMaster measures keys/s moved when 100k small
// keys on 3 masters are rebalanced onto one new empty master, by the
// executor and, for comparison, by redis-cli --cluster rebalance
// --cluster-use-empty-masters on an identical cluster.
func BenchmarkRebalanceOntoEmptyMaster(b *testing.B) {
	b.Run("executor", func(b *testing.B) {
		keys, elapsed, cpu := rebalanceRuns(b, true)
		b.ReportMetric(float64(keys)/elapsed.Seconds(), "keys/s")
		b.ReportMetric(float64(keys)/float64(b.N), "keys/op")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "redis-cpu-ms/op")
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

// BenchmarkRebalanceTLSAgainstPlain measures keys/s of the executor's
// rebalance onto one empty master with every node on TLS (clients, the bus,
// replication and MIGRATE between nodes: redisenv.WithTLS) and on plain
// TCP, in one run, so the two can be compared (issue 11). One set of
// certificates serves every TLS iteration.
func BenchmarkRebalanceTLSAgainstPlain(b *testing.B) {
	certs := redisenv.NewCerts(b)
	for _, mode := range []struct {
		name string
		opts []redisenv.Option
	}{{"plain", nil}, {"tls", []redisenv.Option{redisenv.WithTLS(certs)}}} {
		b.Run(mode.name, func(b *testing.B) {
			keys, elapsed, _ := rebalanceRuns(b, false, mode.opts...)
			b.ReportMetric(float64(keys)/elapsed.Seconds(), "keys/s")
			b.ReportMetric(float64(keys)/float64(b.N), "keys/op")
		})
	}
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

// serverStats is INFO cpu and commandstats of every node of a cluster.
type serverStats map[string]map[string]string

func (c *testCluster) serverStats(b *testing.B) serverStats {
	out := serverStats{}
	for _, a := range c.addrs() {
		cl, err := c.pool.Node(a).Client()
		if err != nil {
			b.Fatal(err)
		}
		text, err := cl.Info(context.Background(), "cpu", "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		f := map[string]string{}
		for _, line := range strings.Split(text, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				f[k] = v
			}
		}
		out[a] = f
	}
	return out
}

// since logs each node's CPU time and busiest commands since before and
// returns the CPU time of all nodes together.
func (s serverStats) since(b *testing.B, before serverStats) time.Duration {
	var total time.Duration
	cpu := func(f map[string]string) float64 {
		u, _ := strconv.ParseFloat(f["used_cpu_user"], 64)
		y, _ := strconv.ParseFloat(f["used_cpu_sys"], 64)
		return u + y
	}
	for addr, f := range s {
		d := time.Duration((cpu(f) - cpu(before[addr])) * float64(time.Second))
		total += d
		var cmds []string
		for k, v := range f {
			if !strings.HasPrefix(k, "cmdstat_") {
				continue
			}
			calls := func(v string) (int64, int64) {
				var n, us int64
				for _, kv := range strings.Split(v, ",") {
					key, val, _ := strings.Cut(kv, "=")
					x, _ := strconv.ParseInt(val, 10, 64)
					switch key {
					case "calls":
						n = x
					case "usec":
						us = x
					}
				}
				return n, us
			}
			n1, u1 := calls(v)
			n0, u0 := calls(before[addr][k])
			if n1 > n0 {
				cmds = append(cmds, fmt.Sprintf("%s calls=%d usec=%d", strings.TrimPrefix(k, "cmdstat_"), n1-n0, u1-u0))
			}
		}
		sort.Strings(cmds)
		b.Logf("%s: cpu %v; %s", addr, d.Round(time.Millisecond), strings.Join(cmds, "; "))
	}
	return total
}
