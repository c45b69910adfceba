package nodeagent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/resources"
)

// hookDir is where hook test pods mount their volume. It does not exist on
// the host, so a hook that writes there runs in the container's mount
// namespace.
const hookDir = "/var/lib/redkube-hooktest"

// trapTerm is a container command that records its PID, appends "start" to
// the volume's log, and appends "term" when SIGTERM arrives (then exits 0,
// or keeps running when ignore is set).
func trapTerm(ignore bool) string {
	onTerm := "echo term >> " + hookDir + "/log; exit 0"
	if ignore {
		onTerm = "echo term >> " + hookDir + "/log"
	}
	return "echo $$$$ > " + hookDir + "/ctrpid; trap '" + onTerm + "' TERM; echo start >> " + hookDir + "/log; while :; do sleep 0.1; done"
}

// hookPod is a busybox-like pod whose volume (at hookDir) is the host
// folder dir, with a preStop exec hook running script.
func hookPod(name, node, dir string, grace int64, preStop string, ignoreTerm bool) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		NodeName:                      node,
		TerminationGracePeriodSeconds: ptr.To(grace),
		Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sh", "-c", trapTerm(ignoreTerm)},
			Env:          []corev1.EnvVar{{Name: "HOOK_VAR", Value: "from-container-env"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: hookDir}},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"sh", "-c", preStop}},
			}},
		}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: dir}}}},
	}}
}

// logLines reads the ordered lines the pod's processes appended.
func logLines(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatalf("read the pod's log: %v", err)
	}
	return strings.Fields(string(data))
}

// waitLine waits until the pod's log holds line.
func waitLine(t *testing.T, dir, line string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		data, _ := os.ReadFile(filepath.Join(dir, "log"))
		return slices.Contains(strings.Fields(string(data)), line), nil
	})
	if err != nil {
		t.Fatalf("%q never appeared in %s/log", line, dir)
	}
}

// pidIn reads a PID a process wrote into the pod's volume.
func pidIn(t *testing.T, dir, file string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("bad pid in %s: %v", file, err)
	}
	return pid
}

func processAlive(pid int) bool {
	// A zombie still answers signal 0; its /proc state says Z.
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func (e *env) deletePod(name string, grace *int64) time.Time {
	e.t.Helper()
	start := time.Now()
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: grace}); err != nil {
		e.t.Fatal(err)
	}
	return start
}

func TestLifecycleHooks(t *testing.T) {
	e := newEnv(t)
	e.startAgent(false)
	node := e.cluster.Nodes[0]
	running := func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Running != nil
	}

	t.Run("preStop runs in the container with its env before SIGTERM, then the pod goes", func(t *testing.T) {
		dir := e.staticPV("hook-data")
		hook := "echo hook-start >> " + hookDir + "/log; echo $HOOK_VAR > " + hookDir + "/marker; sleep 2; echo hook-end >> " + hookDir + "/log"
		p := hookPod("prestop", node, "", 20, hook, false)
		p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "hook-data"}}
		e.create(p)
		e.waitPod("prestop", "Running", running)
		waitLine(t, dir, "start")
		start := e.deletePod("prestop", nil)
		e.waitGone("prestop")
		t.Logf("graceful delete with a 2 s preStop hook: %v until the pod was gone", time.Since(start))
		if got := logLines(t, dir); !slices.Equal(got, []string{"start", "hook-start", "hook-end", "term"}) {
			t.Errorf("log = %v, want start, hook-start, hook-end, term (SIGTERM only after the hook)", got)
		}
		if data, err := os.ReadFile(filepath.Join(dir, "marker")); err != nil || strings.TrimSpace(string(data)) != "from-container-env" {
			t.Errorf("marker = %q, %v; want the container's env value", data, err)
		}
		e.waitEvent("prestop", "Killing", "Stopping container c")
	})

	t.Run("a preStop hook that outlasts the grace period is cut off and the container killed", func(t *testing.T) {
		dir := t.TempDir()
		hook := "echo $$ > " + hookDir + "/hookpid; echo hook-start >> " + hookDir + "/log; sleep 120; echo hook-end >> " + hookDir + "/log"
		e.create(hookPod("overrun", node, dir, 2, hook, true))
		e.waitPod("overrun", "Running", running)
		waitLine(t, dir, "start")
		ctrPID := pidIn(t, dir, "ctrpid")
		e.deletePod("overrun", nil)
		e.waitGone("overrun")
		hookPID := pidIn(t, dir, "hookpid")
		if processAlive(hookPID) {
			t.Errorf("the hook's shell (pid %d) still runs after the pod was deleted", hookPID)
		}
		if processAlive(ctrPID) {
			t.Errorf("the container (pid %d), which ignores SIGTERM, still runs after the pod was deleted", ctrPID)
		}
		got := logLines(t, dir)
		if slices.Contains(got, "hook-end") {
			t.Errorf("log = %v: the hook was not cut off", got)
		}
		if !slices.Equal(got, []string{"start", "hook-start", "term"}) {
			t.Errorf("log = %v, want start, hook-start, term (SIGTERM after the cut-off, then SIGKILL)", got)
		}
	})

	t.Run("force deletion skips the preStop hook", func(t *testing.T) {
		dir := t.TempDir()
		e.create(hookPod("forced", node, dir, 30, "echo hook-start >> "+hookDir+"/log; sleep 120", false))
		e.waitPod("forced", "Running", running)
		waitLine(t, dir, "start")
		ctrPID := pidIn(t, dir, "ctrpid")
		e.deletePod("forced", ptr.To(int64(0)))
		err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return !processAlive(ctrPID), nil
		})
		if err != nil {
			t.Fatalf("container pid %d survived a force deletion", ctrPID)
		}
		if got := logLines(t, dir); !slices.Equal(got, []string{"start"}) {
			t.Errorf("log = %v, want only start (no hook, no SIGTERM)", got)
		}
	})

	t.Run("a failing preStop hook is reported and termination continues", func(t *testing.T) {
		dir := t.TempDir()
		e.create(hookPod("failing", node, dir, 20, "echo hook-start >> "+hookDir+"/log; exit 7", false))
		e.waitPod("failing", "Running", running)
		waitLine(t, dir, "start")
		e.deletePod("failing", nil)
		e.waitGone("failing")
		if got := logLines(t, dir); !slices.Equal(got, []string{"start", "hook-start", "term"}) {
			t.Errorf("log = %v, want start, hook-start, term", got)
		}
		e.waitEvent("failing", "FailedPreStopHook", "PreStopHook failed")
	})

	t.Run("a liveness failure runs the preStop hook before the restart", func(t *testing.T) {
		dir := t.TempDir()
		p := hookPod("liveness", node, dir, 5, "echo hook >> "+hookDir+"/log", false)
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "! grep -q start " + hookDir + "/log"}}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
		e.create(p)
		e.waitPod("liveness", "restarted by its liveness probe", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1
		})
		var got []string
		_ = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			got = logLines(t, dir)
			return len(got) >= 4, nil
		})
		if len(got) < 4 || !slices.Equal(got[:4], []string{"start", "hook", "term", "start"}) {
			t.Errorf("log = %v, want start, hook, term, start", got)
		}
		e.deletePod("liveness", ptr.To(int64(0)))
	})

	t.Run("postStart runs after the process starts; the container is Ready after it", func(t *testing.T) {
		dir := t.TempDir()
		p := hookPod("poststart", node, dir, 5, "true", false)
		p.Spec.Containers[0].Lifecycle.PostStart = &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "until grep -q start " + hookDir + "/log; do sleep 0.1; done; echo post-start >> " + hookDir + "/log"}},
		}
		e.create(p)
		e.waitPod("poststart", "Ready", ready)
		// Ready means the hook completed: its line is already there.
		if got := logLines(t, dir); !slices.Equal(got, []string{"start", "post-start"}) {
			t.Errorf("log = %v, want start, post-start", got)
		}
		e.deletePod("poststart", ptr.To(int64(0)))
	})

	t.Run("a failing postStart hook kills the container, which is restarted", func(t *testing.T) {
		dir := t.TempDir()
		p := hookPod("poststart-fail", node, dir, 5, "true", false)
		p.Spec.Containers[0].Lifecycle.PostStart = &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 3"}},
		}
		e.create(p)
		e.waitPod("poststart-fail", "restarted after its postStart hook failed", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && !cs[0].Ready
		})
		e.waitEvent("poststart-fail", "FailedPostStartHook", "PostStartHook failed")
		e.deletePod("poststart-fail", ptr.To(int64(0)))
	})

	t.Run("the RedisCluster preStop hook holds SIGTERM until the master role moved", func(t *testing.T) {
		testRedisPreStopHandover(t, e)
	})
}

// clusterRedisPod runs a cluster-enabled redis-server with the operator's
// preStop hook (resources.PreStopScript).
func clusterRedisPod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		NodeName:                      node,
		TerminationGracePeriodSeconds: ptr.To(int64(resources.TerminationGracePeriodSeconds)),
		Containers: []corev1.Container{{
			Name: "redis", Image: "redis", Command: []string{"redis-server"},
			Args: []string{"--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", "--cluster-enabled", "yes",
				"--cluster-config-file", "/data/nodes.conf", "--dir", "/data", "--cluster-announce-ip", "$(POD_IP)"},
			Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6379)}},
				PeriodSeconds: 1,
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"sh", "-c", resources.PreStopScript}},
			}},
		}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}}
}

func testRedisPreStopHandover(t *testing.T, e *env) {
	ctx := context.Background()
	e.create(clusterRedisPod("rc-master", e.cluster.Nodes[0]))
	e.create(clusterRedisPod("rc-replica", e.cluster.Nodes[1]))
	m := e.waitPod("rc-master", "Ready", ready)
	r := e.waitPod("rc-replica", "Ready", ready)
	mc, rcl := redisClient(m.Status.PodIP), redisClient(r.Status.PodIP)
	defer func() { _ = mc.Close() }()
	defer func() { _ = rcl.Close() }()
	if err := mc.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rcl.ClusterMeet(ctx, m.Status.PodIP, "6379").Err(); err != nil {
		t.Fatal(err)
	}
	masterID, err := mc.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return rcl.ClusterReplicate(ctx, masterID).Err() == nil, nil // once the replica knows the master
	})
	if err != nil {
		t.Fatal("CLUSTER REPLICATE never succeeded")
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		info, err := rcl.Info(ctx, "replication").Result()
		last = fmt.Sprintf("%q %v", info, err)
		return err == nil && strings.Contains(info, "master_link_status:up"), nil
	})
	if err != nil {
		t.Fatalf("the replica never synced with the master; last: %s", last)
	}
	// The master's view must list the replica as healthy for the hook to wait.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		nodes, err := mc.ClusterNodes(ctx).Result()
		return err == nil && strings.Contains(nodes, "slave "+masterID), nil
	})
	if err != nil {
		t.Fatal("the master never saw its replica")
	}
	if err := mc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	e.deletePod("rc-master", nil)
	// The hook holds SIGTERM while this is a master with a healthy replica:
	// the master keeps serving until the role moves.
	e.waitPod("rc-master", "Terminating", func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	for range 5 {
		time.Sleep(200 * time.Millisecond)
		if err := mc.Ping(ctx).Err(); err != nil {
			t.Fatalf("the master stopped answering before any failover: %v", err)
		}
	}
	// What the operator does on seeing the deletion.
	failover := time.Now()
	if err := rcl.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.waitGone("rc-master")
	t.Logf("CLUSTER FAILOVER -> master pod gone: %v", time.Since(failover))
	role, err := rcl.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("replica role after the handover = %v, %v", role, err)
	}
	if v, err := rcl.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET k on the new master = %q, %v", v, err)
	}
	e.deletePod("rc-replica", ptr.To(int64(0)))
}
