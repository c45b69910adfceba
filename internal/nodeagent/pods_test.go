package nodeagent_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

func TestAgentRunsPodsOnALocalCluster(t *testing.T) {
	e := newEnv(t)
	e.startAgent(true)
	t.Cleanup(func() {
		// The last agent kills whatever is left (KeepPodsOnExit=false).
		e.stopAgent()
		e.startAgent(false)
		e.stopAgent()
		if left := netnsFiles(t, e.net); len(left) > 0 {
			t.Errorf("netns files left behind: %v", left)
		}
	})
	ctx := context.Background()
	node1, node2 := e.cluster.Nodes[0], e.cluster.Nodes[1]

	// Bad input first: the agent must keep serving the good pod after it.
	badImage := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bad-image"}, Spec: corev1.PodSpec{
		NodeName:   node2,
		Containers: []corev1.Container{{Name: "c", Image: "example.com/nosuch:1.0"}},
	}}
	e.create(badImage)
	noConfig := redisPod("no-config", node2, "")
	noConfig.Spec.Volumes[0].ConfigMap.Name = "missing-conf"
	e.create(noConfig)
	crasher := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crasher"}, Spec: corev1.PodSpec{
		NodeName:   node2,
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "echo dying; exit 3"}}},
	}}
	e.create(crasher)

	e.configMap()
	dataDir := e.staticPV("data-0")
	created := e.create(redisPod("redis-0", node1, "data-0"))
	p := e.waitPod("redis-0", "Ready", ready)
	t.Logf("redis pod create -> Ready: %v", time.Since(created))

	t.Run("redis pod is Running and Ready with an honest status", func(t *testing.T) {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase = %s", p.Status.Phase)
		}
		if !e.net.CIDR.Contains(mustAddr(t, p.Status.PodIP)) {
			t.Errorf("podIP %q not in %s", p.Status.PodIP, e.net.CIDR)
		}
		if len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP || p.Status.HostIP == "" || p.Status.StartTime == nil {
			t.Errorf("podIPs=%v hostIP=%q startTime=%v", p.Status.PodIPs, p.Status.HostIP, p.Status.StartTime)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || cs[0].Started == nil || !*cs[0].Started ||
			!strings.HasPrefix(cs[0].ContainerID, "redkube://") || cs[0].Image != "redis" || cs[0].RestartCount != 0 {
			t.Errorf("container status = %+v", cs)
		}
		want := map[corev1.PodConditionType]bool{corev1.PodScheduled: true, corev1.PodInitialized: true, corev1.ContainersReady: true, corev1.PodReady: true}
		for _, c := range p.Status.Conditions {
			if want[c.Type] && c.Status == corev1.ConditionTrue {
				delete(want, c.Type)
			}
		}
		if len(want) > 0 {
			t.Errorf("conditions not True: %v (all: %+v)", want, p.Status.Conditions)
		}
		e.waitEvent("redis-0", "Started", "Started container redis")
	})

	t.Run("redis answers on the pod IP with its config, env and data volume", func(t *testing.T) {
		rdb := redisClient(p.Status.PodIP)
		defer func() { _ = rdb.Close() }()
		got, err := rdb.ConfigGet(ctx, "cluster-announce-ip").Result()
		if err != nil || got["cluster-announce-ip"] != p.Status.PodIP {
			t.Errorf("cluster-announce-ip = %v, %v; want the pod IP %s (downward API + $(VAR) expansion)", got, err, p.Status.PodIP)
		}
		if got, err := rdb.ConfigGet(ctx, "appendonly").Result(); err != nil || got["appendonly"] != "yes" {
			t.Errorf("appendonly = %v, %v; the ConfigMap file was not used", got, err)
		}
		if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Save(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "dump.rdb")); err != nil {
			t.Errorf("PV directory did not get dump.rdb: %v", err)
		}
	})

	t.Run("bad image waits with ImageNotMapped", func(t *testing.T) {
		bp := e.waitPod("bad-image", "ImageNotMapped", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ImageNotMapped"
		})
		if bp.Status.Phase != corev1.PodPending || !strings.Contains(bp.Status.ContainerStatuses[0].State.Waiting.Message, "nosuch") {
			t.Errorf("phase=%s waiting=%+v", bp.Status.Phase, bp.Status.ContainerStatuses[0].State.Waiting)
		}
		e.waitEvent("bad-image", "Failed", "nosuch")
	})

	t.Run("missing ConfigMap leaves the pod ContainerCreating with FailedMount", func(t *testing.T) {
		e.waitEvent("no-config", "FailedMount", `configmap "missing-conf" not found`)
		np := e.waitPod("no-config", "ContainerCreating", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ContainerCreating"
		})
		if np.Status.Phase != corev1.PodPending {
			t.Errorf("phase = %s", np.Status.Phase)
		}
	})

	t.Run("a command that exits at once goes into CrashLoopBackOff with restarts", func(t *testing.T) {
		cp := e.waitPod("crasher", "in CrashLoopBackOff after 2 restarts", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		last := cp.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
			t.Errorf("last termination = %+v", last)
		}
		if cp.Status.Phase != corev1.PodRunning {
			t.Errorf("phase = %s (kubelet reports Running for a restarting pod)", cp.Status.Phase)
		}
		e.waitEvent("crasher", "BackOff", "Back-off restarting failed container c")
	})

	t.Run("a restarted agent adopts the running redis", func(t *testing.T) {
		before := e.waitPod("redis-0", "Ready", ready)
		e.stopAgent()
		if !dialable(before.Status.PodIP) {
			t.Fatal("redis died with the agent although KeepPodsOnExit")
		}
		e.startAgent(true)
		// Still the same process: same container ID, no restart, data there.
		after := e.waitPod("redis-0", "Ready", ready)
		if after.Status.PodIP != before.Status.PodIP ||
			after.Status.ContainerStatuses[0].ContainerID != before.Status.ContainerStatuses[0].ContainerID ||
			after.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("after adoption ip=%s id=%s restarts=%d; before ip=%s id=%s", after.Status.PodIP,
				after.Status.ContainerStatuses[0].ContainerID, after.Status.ContainerStatuses[0].RestartCount,
				before.Status.PodIP, before.Status.ContainerStatuses[0].ContainerID)
		}
		rdb := redisClient(after.Status.PodIP)
		defer func() { _ = rdb.Close() }()
		if v, err := rdb.Get(ctx, "greeting").Result(); err != nil || v != "hello" {
			t.Errorf("GET greeting = %q, %v", v, err)
		}
	})

	t.Run("graceful delete stops redis, removes the sandbox and the pod; data stays", func(t *testing.T) {
		ip := e.waitPod("redis-0", "Ready", ready).Status.PodIP
		start := time.Now()
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, "redis-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone("redis-0")
		t.Logf("graceful delete of redis (grace 20s) took %v", time.Since(start))
		if dialable(ip) {
			t.Error("redis still answers after its pod was deleted")
		}
		if _, err := os.Stat(filepath.Join(dataDir, "appendonlydir")); err != nil {
			t.Errorf("data directory lost its AOF: %v", err)
		}
	})

	t.Run("a recreated pod gets a new IP and finds its data", func(t *testing.T) {
		old := p.Status.PodIP
		e.create(redisPod("redis-0", node1, "data-0"))
		np := e.waitPod("redis-0", "Ready", ready)
		if np.Status.PodIP == old {
			t.Errorf("recreated pod reused IP %s", old)
		}
		rdb := redisClient(np.Status.PodIP)
		defer func() { _ = rdb.Close() }()
		if v, err := rdb.Get(ctx, "greeting").Result(); err != nil || v != "hello" {
			t.Errorf("GET greeting after recreation = %q, %v", v, err)
		}
	})

	t.Run("force delete kills at once, and the process's connections close before its network goes", func(t *testing.T) {
		ip := e.waitPod("redis-0", "Ready", ready).Status.PodIP
		// A peer's connection: it must see the close (as a Redis replica
		// sees its master's link go down), not hang because the pod's
		// network vanished before the process exited.
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "6379"), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, "redis-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a connection to the force-deleted pod: read = %v; want it closed by the dying process", err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return !dialable(ip), nil
		})
		if err != nil {
			t.Error("redis still answers after force deletion")
		}
	})

	t.Run("node stop kills pods and makes the node NotReady; start restarts them with a new IP", func(t *testing.T) {
		e.create(redisPod("redis-1", node1, ""))
		before := e.waitPod("redis-1", "Ready", ready)
		if err := e.agent.StopNode(ctx, node1); err != nil {
			t.Fatal(err)
		}
		if dialable(before.Status.PodIP) {
			t.Error("redis still answers on a stopped node")
		}
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := e.client.CoreV1().Nodes().Get(ctx, node1, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // retried
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status != corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("node %s never became NotReady", node1)
		}
		if err := e.agent.StartNode(ctx, node1); err != nil {
			t.Fatal(err)
		}
		after := e.waitPod("redis-1", "Ready again with a new IP", func(p *corev1.Pod) bool {
			return ready(p) && p.Status.PodIP != before.Status.PodIP
		})
		if rc := after.Status.ContainerStatuses[0].RestartCount; rc != 1 {
			t.Errorf("restartCount after node restart = %d, want 1", rc)
		}
		err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := e.client.CoreV1().Nodes().Get(ctx, node1, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // retried
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Errorf("node %s never became Ready again", node1)
		}
	})

	t.Run("init containers run to completion before the main container", func(t *testing.T) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "with-init"}, Spec: corev1.PodSpec{
			NodeName: node2,
			InitContainers: []corev1.Container{{
				Name: "write-conf", Image: "busybox",
				Command:      []string{"sh", "-c", "printf 'port 6380\\nbind 0.0.0.0\\nprotected-mode no\\n' > /conf/redis.conf"},
				VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/conf"}},
			}},
			Containers: []corev1.Container{{
				Name: "redis", Image: "redis", Args: []string{"/conf/redis.conf"},
				VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/conf"}},
				// Without a probe the container is Ready as soon as it runs,
				// before redis listens.
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6380)}},
					PeriodSeconds: 1,
				},
			}},
			Volumes: []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		}}
		e.create(p)
		got := e.waitPod("with-init", "Ready", ready)
		ics := got.Status.InitContainerStatuses
		if len(ics) != 1 || ics[0].State.Terminated == nil || ics[0].State.Terminated.Reason != "Completed" || !ics[0].Ready {
			t.Errorf("init container status = %+v", ics)
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(got.Status.PodIP, "6380"), 2*time.Second)
		if err != nil {
			t.Fatalf("redis configured by the init container does not answer on 6380: %v", err)
		}
		_ = c.Close()
	})

	t.Run("a restartPolicy Never pod whose command succeeds is Succeeded", func(t *testing.T) {
		e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job-like"}, Spec: corev1.PodSpec{
			NodeName:      node2,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "test \"$MY_NAME\" = job-like"},
				Env: []corev1.EnvVar{{Name: "MY_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		}})
		got := e.waitPod("job-like", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		cs := got.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 || cs[0].RestartCount != 0 {
			t.Errorf("container status = %+v", cs)
		}
	})

	t.Run("a StatefulSet with provisioned volumes comes up in order and keeps data across pod recreation", func(t *testing.T) {
		tmpl := redisPod("", "", "")
		tmpl.Spec.NodeName = ""
		tmpl.Spec.Volumes = tmpl.Spec.Volumes[:1] // the claim template supplies redis-data
		tmpl.Spec.Subdomain = ""
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "sts"},
			Spec: appsv1.StatefulSetSpec{
				ServiceName: "sts",
				Replicas:    ptr.To(int32(2)),
				Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sts"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "sts"}},
					Spec:       tmpl.Spec,
				},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "redis-data"},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}},
			},
		}
		if _, err := e.client.AppsV1().StatefulSets(e.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p0 := e.waitPod("sts-0", "Ready", ready)
		p1 := e.waitPod("sts-1", "Ready", ready)
		if p0.Status.PodIP == p1.Status.PodIP {
			t.Fatalf("both replicas have IP %s", p0.Status.PodIP)
		}
		rdb := redisClient(p0.Status.PodIP)
		if err := rdb.Set(ctx, "who", "sts-0", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_ = rdb.Close()
		if err := e.client.CoreV1().Pods(e.ns).Delete(ctx, "sts-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		np := e.waitPod("sts-0", "recreated and Ready", func(p *corev1.Pod) bool { return p.UID != p0.UID && ready(p) })
		if np.Status.PodIP == p0.Status.PodIP {
			t.Errorf("recreated sts-0 kept IP %s", np.Status.PodIP)
		}
		rdb = redisClient(np.Status.PodIP)
		defer func() { _ = rdb.Close() }()
		if v, err := rdb.Get(ctx, "who").Result(); err != nil || v != "sts-0" {
			t.Errorf("GET who on the recreated replica = %q, %v (AOF on the claim's volume)", v, err)
		}
	})

	t.Run("a failing liveness probe restarts the container", func(t *testing.T) {
		e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unhealthy"}, Spec: corev1.PodSpec{
			NodeName:                      node2,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
				LivenessProbe: &corev1.Probe{
					ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 1"}}},
					PeriodSeconds:    1,
					FailureThreshold: 2,
				},
			}},
		}})
		got := e.waitPod("unhealthy", "restarted by its liveness probe", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1
		})
		last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 128+15 {
			t.Errorf("last termination = %+v, want the SIGTERM exit (143)", last)
		}
		e.waitEvent("unhealthy", "Killing", "failed liveness probe")
		e.waitEvent("unhealthy", "Unhealthy", "Liveness probe failed")
	})

	t.Run("a ConfigMap update reaches the running pod's volume", func(t *testing.T) {
		p := e.waitPod("redis-1", "Ready", ready)
		cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(ctx, "redis-conf", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["redis.conf"] = redisConf + "# updated\n"
		if _, err := e.client.CoreV1().ConfigMaps(e.ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The volume folder is bind-mounted into the container, so the
		// host-side file is what the container reads.
		file := filepath.Join(e.state, "pods", string(p.UID), "volumes", "redis-conf", "redis.conf")
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			data, err := os.ReadFile(file)
			return err == nil && strings.HasSuffix(string(data), "# updated\n"), nil
		})
		if err != nil {
			t.Errorf("%s never got the updated ConfigMap", file)
		}
	})
}
