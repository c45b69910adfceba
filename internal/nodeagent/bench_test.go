package nodeagent_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestMeasureRedisPodStartAndAgentCost measures create -> Ready of a tutorial-like
// Redis pod (ConfigMap volume, emptyDir, exec readiness probe polled every
// second) on a local cluster, then the CPU and memory the agent's process
// uses with six Ready Redis pods. It logs numbers and asserts nothing.
func TestMeasureRedisPodStartAndAgentCost(t *testing.T) {
	if os.Getenv("NODEAGENT_MEASURE") == "" {
		t.Skip("measurement, not a test: set NODEAGENT_MEASURE=1")
	}
	e := newEnv(t)
	e.refresh = 0 // the default, as in production
	e.startAgent(false)
	t.Cleanup(e.stopAgent)
	e.configMap()
	ctx := context.Background()

	const rounds = 10
	var total, worst, toRunning time.Duration
	for i := range rounds {
		name := fmt.Sprintf("lat-%d", i)
		p := redisPod(name, e.cluster.Nodes[i%2], "")
		p.Spec.Containers[0].ReadinessProbe.PeriodSeconds = 1
		start := e.create(p)
		e.waitPod(name, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		toRunning += time.Since(start)
		e.waitPod(name, "Ready", ready)
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		e.waitGone(name)
	}
	t.Logf("MEASURE redis pod over %d pods: create->Running mean %v; create->Ready mean %v, worst %v", rounds, toRunning/rounds, total/rounds, worst)

	for i := range 6 {
		e.create(redisPod(fmt.Sprintf("idle-%d", i), e.cluster.Nodes[i%2], ""))
	}
	for i := range 6 {
		e.waitPod(fmt.Sprintf("idle-%d", i), "Ready", ready)
	}
	var r0, r1, c0, c1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &r0)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &c0)
	const window = 30 * time.Second
	time.Sleep(window)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &r1)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &c1)
	cpu := func(a, b unix.Rusage) time.Duration {
		return time.Duration(b.Utime.Nano()+b.Stime.Nano()-a.Utime.Nano()-a.Stime.Nano()) * time.Nanosecond
	}
	t.Logf("MEASURE with 6 Ready redis pods (exec readiness every 1s, TCP liveness every 2s) over %v: process CPU %v (%.1f%% of one core), reaped children CPU %v, test process RSS %s",
		window, cpu(r0, r1), 100*cpu(r0, r1).Seconds()/window.Seconds(), cpu(c0, c1), vmRSS())
}

func vmRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if kb, err := strconv.Atoi(f[0]); err == nil {
				return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
			}
		}
	}
	return "?"
}

// TestMeasurePreStopHookOverhead measures a graceful delete (grace 20 s) of
// a Redis pod until the pod object is gone, alternating pods without a
// preStop hook and pods whose preStop hook is a no-op exec (`true`), so the
// difference is what running an exec hook costs on the deletion path. It
// logs numbers and asserts nothing.
func TestMeasurePreStopHookOverhead(t *testing.T) {
	if os.Getenv("NODEAGENT_MEASURE") == "" {
		t.Skip("measurement, not a test: set NODEAGENT_MEASURE=1")
	}
	e := newEnv(t)
	e.startAgent(false)
	t.Cleanup(e.stopAgent)
	e.configMap()
	ctx := context.Background()
	const rounds = 10
	var took [2]time.Duration
	for i := range 2 * rounds {
		withHook := i % 2
		name := fmt.Sprintf("hook-%d", i)
		p := redisPod(name, e.cluster.Nodes[i%2], "")
		if withHook == 1 {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}},
			}}
		}
		e.create(p)
		e.waitPod(name, "Ready", ready)
		start := time.Now()
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone(name)
		took[withHook] += time.Since(start)
	}
	t.Logf("MEASURE graceful delete -> pod gone over %d pods each: no hook mean %v; no-op exec preStop hook mean %v",
		rounds, took[0]/rounds, took[1]/rounds)
}
