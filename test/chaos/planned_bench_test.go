package chaos

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/test/writeload"
)

// plannedOp is one planned operation of a run: edit makes the change for
// run i (each run changes something, so every run rolls or moves).
type plannedOp struct {
	name string
	edit func(rc *redisv1alpha1.RedisCluster, run int)
}

// plannedOps are the operations issue 13 asks to keep at 0 client errors:
// rolling updates of config, image and resources, scale out and in, and
// a replica count change up and down.
var plannedOps = []plannedOp{
	{"rolling update: config", func(rc *redisv1alpha1.RedisCluster, run int) {
		rc.Spec.Config = maps.Clone(rc.Spec.Config)
		if rc.Spec.Config == nil {
			rc.Spec.Config = map[string]redisv1alpha1.ConfigValue{}
		}
		rc.Spec.Config["slowlog-log-slower-than"] = redisv1alpha1.ConfigValue(strconv.Itoa(20000 + run))
	}},
	{"rolling update: image", func(rc *redisv1alpha1.RedisCluster, run int) {
		rc.Spec.Image = []string{"redis:7.0.15", "redis:7.0.16"}[run%2]
	}},
	{"rolling update: resources", func(rc *redisv1alpha1.RedisCluster, run int) {
		rc.Spec.Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(fmt.Sprintf("%dm", 20+run)),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		}
	}},
	{"scale out: masters 3 -> 4", func(rc *redisv1alpha1.RedisCluster, _ int) { rc.Spec.Masters = 4 }},
	{"scale in: masters 4 -> 3", func(rc *redisv1alpha1.RedisCluster, _ int) { rc.Spec.Masters = 3 }},
	{"replicas: replicasPerMaster 1 -> 2", func(rc *redisv1alpha1.RedisCluster, _ int) { rc.Spec.ReplicasPerMaster = 2 }},
	{"replicas: replicasPerMaster 2 -> 1", func(rc *redisv1alpha1.RedisCluster, _ int) { rc.Spec.ReplicasPerMaster = 1 }},
}

// plannedResult is one operation's outcome in one run.
type plannedResult struct {
	gap    time.Duration
	errors int
	acked  int
	lost   int
	ready  time.Duration
	first  error
	// around lists the cluster's events near the worst gap when it was
	// over the 200 ms goal.
	around []string
	// attempts are the writer's failed or slow calls during the worst gap
	// when it was over the 200 ms goal.
	attempts []writeload.Attempt
}

// gapGoal is the bound on a planned operation's worst gap.
const gapGoal = 200 * time.Millisecond

// BenchmarkPlannedOperations runs every planned operation under its own
// continuous go-redis writer, REDKUBE_PLANNED_RUNS times (default 3) on
// one 3x1 cluster, and prints per operation the worst gap between two
// acknowledged writes over the runs, the write errors, the acknowledged
// writes lost and the time to Ready. Run it with bench/planned-ops.sh
// (about 5 minutes a run). Lost writes fail it; gaps and errors are the
// measurement.
func BenchmarkPlannedOperations(b *testing.B) {
	runs := positiveEnv(b, "REDKUBE_PLANNED_RUNS", 3)
	ops := plannedOps
	// REDKUBE_PLANNED_OPS=scale runs only the operations whose name holds
	// that text.
	if only := os.Getenv("REDKUBE_PLANNED_OPS"); only != "" {
		ops = slices.DeleteFunc(slices.Clone(plannedOps), func(op plannedOp) bool { return !strings.Contains(op.name, only) })
		if len(ops) == 0 {
			b.Fatalf("REDKUBE_PLANNED_OPS=%q names no operation", only)
		}
	}
	e := startEnv(b)
	const name = "planned"
	e.create(b, name, 3)
	results := make([][]plannedResult, len(ops))
	b.ResetTimer()
	for range b.N {
		for run := range runs {
			for i, op := range ops {
				r := e.plannedOnce(b, name, op, run)
				results[i] = append(results[i], r)
				b.Logf("run %d/%d: %s: worst gap %v, %d errors (first: %v), %d acknowledged, %d lost, Ready after %v",
					run+1, runs, op.name, r.gap.Round(time.Millisecond), r.errors, r.first, r.acked, r.lost, r.ready.Round(100*time.Millisecond))
				if len(r.around) > 0 {
					b.Logf("events of %s around the worst gap:\n  %s", name, strings.Join(r.around, "\n  "))
				}
				if len(r.attempts) > 0 {
					b.Logf("the writer's failed or slow calls in that gap:\n  %s", attemptLines(r.attempts, 30))
				}
			}
		}
	}
	b.StopTimer()
	var out strings.Builder
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "operation\truns\tworst gap (worst run)\tworst gap per run\terrors\tacknowledged\tlost\tReady after (slowest)\n")
	var worst time.Duration
	var errs int
	for i, op := range ops {
		var gaps []string
		var maxGap, maxReady time.Duration
		var nErr, nAck, nLost int
		for _, r := range results[i] {
			gaps = append(gaps, r.gap.Round(time.Millisecond).String())
			maxGap, maxReady = max(maxGap, r.gap), max(maxReady, r.ready)
			nErr, nAck, nLost = nErr+r.errors, nAck+r.acked, nLost+r.lost
		}
		worst, errs = max(worst, maxGap), errs+nErr
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%d\t%d\t%d\t%v\n", op.name, len(results[i]), maxGap.Round(time.Millisecond),
			strings.Join(gaps, " "), nErr, nAck, nLost, maxReady.Round(100*time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Logf("planned operations under a continuous go-redis writer, %d runs each:\n%s", runs, out.String())
	b.ReportMetric(float64(worst.Milliseconds()), "worst-gap-ms")
	b.ReportMetric(float64(errs), "write-errors")
	b.ReportMetric(0, "ns/op")
}

// plannedOnce makes one planned change under a writer, waits until the
// cluster is Ready for it, and returns what the writer saw; verify fails
// b on a lost acknowledged write.
func (e *env) plannedOnce(b *testing.B, name string, op plannedOp, run int) plannedResult {
	b.Helper()
	prefix := fmt.Sprintf("planned-%d-%s", run, strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, op.name))
	w := writeload.Start(b.Context(), e.addrs(b, name), prefix)
	time.Sleep(time.Second)
	at := e.change(b, name, func(rc *redisv1alpha1.RedisCluster) { op.edit(rc, run) })
	if _, err := e.WaitReady(b.Context(), ns, name, at, 5*time.Minute); err != nil {
		w.Stop()
		b.Fatalf("run %d: not Ready after %s: %v", run+1, op.name, err)
	}
	ready := time.Since(at)
	time.Sleep(500 * time.Millisecond)
	res := e.verify(b, name, w, prefix, 0)
	lost, err := writeload.Lost(b.Context(), e.addrs(b, name), prefix, res.Acked)
	if err != nil {
		b.Fatalf("read back: %v", err)
	}
	r := plannedResult{gap: res.WorstGap, errors: res.Errors, acked: len(res.Acked), lost: len(lost), ready: ready, first: res.FirstErr}
	if res.WorstGap > gapGoal {
		r.attempts = res.GapAttempts
		r.around = e.eventsBetween(b, name, res.GapStart.Add(-3*time.Second), res.GapStart.Add(res.WorstGap+3*time.Second))
	}
	e.flush(b, name)
	return r
}

// attemptLines formats at most n attempts, one per line.
func attemptLines(as []writeload.Attempt, n int) string {
	lines := make([]string, 0, min(n, len(as))+1)
	for _, a := range as[:min(n, len(as))] {
		lines = append(lines, a.String())
	}
	if len(as) > n {
		lines = append(lines, fmt.Sprintf("... and %d more", len(as)-n))
	}
	return strings.Join(lines, "\n  ")
}

// flush empties the cluster after an operation was measured. Each
// operation's writer leaves millions of keys; kept, they made every later
// roll resynchronize gigabytes (a run where the third operation of the
// second round was still not Ready after 5 minutes, with 5 of 6 pods
// ready) and measured the data size rather than the operation.
func (e *env) flush(b *testing.B, name string) {
	b.Helper()
	cc := redis.NewClusterClient(writeload.ClientOptions(e.addrs(b, name), nil))
	defer func() { _ = cc.Close() }() // nothing left to report once FLUSHALL answered
	if err := cc.ForEachMaster(b.Context(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushAllAsync(ctx).Err()
	}); err != nil {
		b.Fatalf("flush the cluster between operations: %v", err)
	}
}

// eventsBetween lists the events of RedisCluster name last seen between
// from and to, oldest first, as "15:04:05.000 Reason: message".
func (e *env) eventsBetween(b *testing.B, name string, from, to time.Time) []string {
	b.Helper()
	list, err := e.Clientset.CoreV1().Events(ns).List(b.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		b.Fatalf("list events: %v", err)
	}
	type line struct {
		at   time.Time
		text string
	}
	var out []line
	for _, ev := range list.Items {
		at := ev.EventTime.Time
		if at.IsZero() {
			at = ev.LastTimestamp.Time
		}
		if at.Before(from) || at.After(to) {
			continue
		}
		out = append(out, line{at, fmt.Sprintf("%s %s: %s", at.UTC().Format("15:04:05.000"), ev.Reason, ev.Message)})
	}
	slices.SortFunc(out, func(a, b line) int { return a.at.Compare(b.at) })
	texts := make([]string, len(out))
	for i, l := range out {
		texts[i] = l.text
	}
	return texts
}
