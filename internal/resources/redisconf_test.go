package resources

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/auth"
)

// startupGuard bounds how long the tests wait for redis-server to answer
// or for a script to finish; reaching it fails the test (it is a hang guard,
// not a performance threshold).
const startupGuard = 30 * time.Second

// freeRedisPort returns a loopback port p such that p and p+10000 (the
// cluster bus) are both free and p+10000 is a valid port.
func freeRedisPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		bus, busErr := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		_ = l.Close()
		if busErr == nil {
			_ = bus.Close()
			if p+10000 <= 65535 {
				return p
			}
		}
	}
	t.Fatal("no free port pair for redis-server and its cluster bus")
	return 0
}

// localNode is one redis-server started from the builders' output.
type localNode struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startFromBuilders starts redis-server the way the shard StatefulSet's
// container does: the container's own args, with the rendered redis.conf.
// Only what the pod provides is substituted, for a test on loopback: the
// /data volume becomes a temp dir, port 6379 a free loopback port, $(POD_IP)
// 127.0.0.1 and $(REDISCLI_AUTH) the password; bind 127.0.0.1 keeps the
// server off other interfaces.
func startFromBuilders(t *testing.T, rc *redisv1alpha1.RedisCluster, password string) *localNode {
	t.Helper()
	sts, err := ShardStatefulSet(rc, 0, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	n := &localNode{port: freeRedisPort(t), dir: t.TempDir(), done: make(chan error, 1)}

	confPath := writeLocalConf(t, rc, n.port, n.dir, password)

	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		a = strings.ReplaceAll(a, ConfigDir+"/"+ConfigKey, confPath)
		a = strings.ReplaceAll(a, "$("+PodIPEnv+")", "127.0.0.1")
		a = strings.ReplaceAll(a, "$("+ReplicationPasswordEnv+")", testSystemPasswords.Replication)
		args = append(args, a)
	}
	if c.Command[0] != "redis-server" {
		t.Fatalf("container command is %q, want redis-server", c.Command)
	}
	n.log = filepath.Join(n.dir, "redis.log")
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command("redis-server", args...)
	n.cmd.Dir = n.dir
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	go func() { n.done <- n.cmd.Wait(); _ = logf.Close() }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill() // it may have exited already; Wait below tells
		// A killed server reports an *exec.ExitError; anything else means
		// Wait itself failed.
		var ee *exec.ExitError
		if err := <-n.done; err != nil && !errors.As(err, &ee) {
			t.Errorf("wait for redis-server: %v", err)
		}
	})
	n.waitReady(t, password)
	return n
}

// testSystemPasswords are the operator's users' passwords of the nodes the
// tests start.
var testSystemPasswords = auth.SystemPasswords{Operator: "op pw", Replication: "repl-pw", Monitor: "mon-pw"}

// writeLocalConf writes RedisConf(rc) into dir as the pod would get it,
// with the port and the data directory moved to port and dir and bind
// 127.0.0.1 added, and returns its path.
func writeLocalConf(t *testing.T, rc *redisv1alpha1.RedisCluster, port int, dir, password string) string {
	t.Helper()
	conf := RedisConf(rc)
	conf = strings.ReplaceAll(conf, "\nport 6379\n", fmt.Sprintf("\nport %d\n", port))
	conf = strings.ReplaceAll(conf, " "+DataDir+"\n", " "+dir+"\n")
	conf = strings.ReplaceAll(conf, " "+DataDir+"/", " "+dir+"/")
	// The users file a new cluster's pods start with: the operator's users
	// and the default user with password.
	users := filepath.Join(dir, UsersConfKey)
	if err := os.WriteFile(users, []byte(auth.RenderConf(auth.SystemUsers(testSystemPasswords, auth.DefaultUserWith(nonEmptyPassword(password), false)))), 0o600); err != nil {
		t.Fatal(err)
	}
	conf = strings.ReplaceAll(conf, " "+UsersFile+"\n", " "+users+"\n")
	conf += "bind 127.0.0.1\n"
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return confPath
}

// waitReady waits until the server answers PING, failing the test if it
// exits first.
func (n *localNode) waitReady(t *testing.T, password string) {
	t.Helper()
	cl := n.client(password)
	defer func() { _ = cl.Close() }()
	deadline := time.Now().Add(startupGuard)
	for {
		select {
		case err := <-n.done:
			n.done <- err
			b, _ := os.ReadFile(n.log)
			t.Fatalf("redis-server exited with the rendered config: %v\n%s", err, b)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cl.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(n.log)
			t.Fatalf("redis-server did not answer PING: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *localNode) client(password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(n.port), Password: password, MaxRetries: -1})
}

func TestRenderedConfigStartsRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	rc := fullCluster()
	const password = "s3cret with space"
	n := startFromBuilders(t, rc, password)
	ctx := context.Background()
	cl := n.client(password)
	defer func() { _ = cl.Close() }()

	want := map[string]string{
		"maxmemory":            "838860800", // 800mb
		"maxmemory-policy":     "allkeys-lru",
		"cluster-node-timeout": "3000",
		"save":                 "",
		"appendonly":           "yes",
		"cluster-enabled":      "yes",
		"cluster-announce-ip":  "127.0.0.1",
		"cluster-config-file":  filepath.Join(n.dir, NodesConfFile),
		"dir":                  n.dir,
		"protected-mode":       "no",
		"masteruser":           auth.ReplicationUser,
		"masterauth":           testSystemPasswords.Replication,
	}
	for key, v := range want {
		got, err := cl.ConfigGet(ctx, key).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", key, err)
		}
		if got[key] != v {
			t.Errorf("CONFIG GET %s = %q, want %q", key, got[key], v)
		}
	}
	info, err := cl.Info(ctx, "cluster").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cluster_enabled:1") {
		t.Errorf("INFO cluster = %q, want cluster_enabled:1", info)
	}
	if _, err := os.Stat(filepath.Join(n.dir, NodesConfFile)); err != nil {
		t.Errorf("nodes.conf not written in the data dir: %v", err)
	}

	anon := n.client("")
	defer func() { _ = anon.Close() }()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without password: err = %v, want NOAUTH", err)
	}
}

func TestDefaultConfigStartsRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
	redisv1alpha1.SetDefaults(rc)
	n := startFromBuilders(t, rc, "")
	cl := n.client("")
	defer func() { _ = cl.Close() }()
	got, err := cl.ConfigGet(context.Background(), "cluster-node-timeout").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["cluster-node-timeout"] != strconv.Itoa(NodeTimeoutMillis) {
		t.Errorf("cluster-node-timeout = %q, want %d", got["cluster-node-timeout"], NodeTimeoutMillis)
	}
}

// preStopCommand returns the container's preStop hook adapted to a node on
// port: the port it polls, and a deadline far beyond the test's guard so
// that an exit means the script decided, not that it gave up. Each poll
// prints "poll" so the test can see it waiting.
func preStopCommand(t *testing.T, c corev1.Container, port int) []string {
	t.Helper()
	h := c.Lifecycle.PreStop.Exec.Command
	if len(h) != 3 || h[0] != "sh" || h[1] != "-c" {
		t.Fatalf("preStop = %q, want sh -c <script>", h)
	}
	s := h[2]
	for old, repl := range map[string]string{
		fmt.Sprintf("-p %d ", RedisPort):                                            fmt.Sprintf("-p %d ", port),
		fmt.Sprintf("+ %d ))", TerminationGracePeriodSeconds-PreStopReserveSeconds): "+ 100000 ))",
		"  sleep 0.1\n": "  echo poll\n  sleep 0.1\n",
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("preStop script lacks %q:\n%s", old, s)
		}
		s = strings.ReplaceAll(s, old, repl)
	}
	return []string{"sh", "-c", s}
}

// runHook starts the adapted preStop hook with the container's password
// environment and returns a channel of poll notifications and its exit.
func runHook(t *testing.T, ctx context.Context, argv []string, password string) (polls <-chan struct{}, done <-chan error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), PasswordEnv+"="+password, MonitorPasswordEnv+"="+testSystemPasswords.Monitor)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := make(chan struct{}, 1024)
	d := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "poll" {
				p <- struct{}{}
			}
		}
		d <- cmd.Wait()
	}()
	return p, d
}

// TestPreStopHoldsMasterUntilFailover runs the container's real preStop hook
// (sh, redis-cli, awk) against a master with slots and a replica: on the
// replica it returns after one quiet second; on the master it keeps polling
// until a CLUSTER FAILOVER moves the role, then drains: it returns only once
// no client was redirected by the old master for a second.
func TestPreStopHoldsMasterUntilFailover(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "sh", "awk", "date"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	rc := fullCluster()
	const password = "pw"
	a := startFromBuilders(t, rc, password)
	b := startFromBuilders(t, rc, password)
	ctx, cancel := context.WithTimeout(context.Background(), 2*startupGuard)
	defer cancel()
	ca, cb := a.client(password), b.client(password)
	defer func() { _ = ca.Close() }()
	defer func() { _ = cb.Close() }()

	idA, err := ca.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ca.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(b.port)).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "replica knows the master", func() (bool, error) {
		nodes, err := cb.ClusterNodes(ctx).Result()
		return strings.Contains(nodes, idA), err
	})
	if err := cb.ClusterReplicate(ctx, idA).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "replication link up", func() (bool, error) {
		info, err := cb.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up"), err
	})
	waitFor(t, ctx, "master sees its replica", func() (bool, error) {
		nodes, err := ca.ClusterNodes(ctx).Result()
		return strings.Contains(nodes, "slave "+idA), err
	})

	sts, err := ShardStatefulSet(rc, 0, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	c := sts.Spec.Template.Spec.Containers[0]

	// On the replica the hook returns without waiting.
	_, done := runHook(t, ctx, preStopCommand(t, c, b.port), password)
	if err := <-done; err != nil {
		t.Fatalf("preStop on the replica: %v", err)
	}

	// On the master it polls...
	polls, done := runHook(t, ctx, preStopCommand(t, c, a.port), password)
	for i := range 3 {
		select {
		case <-polls:
		case err := <-done:
			t.Fatalf("preStop on the master returned after %d polls (err %v) while it still served slots", i, err)
		case <-ctx.Done():
			t.Fatal("preStop on the master never polled")
		}
	}
	// ...until the replica takes over; then it drains: it stays while a
	// client whose slot map still names this node is redirected by it...
	app := a.client(password)
	defer func() { _ = app.Close() }()
	appCtx, stopApp := context.WithCancel(ctx)
	appDone := make(chan struct{})
	go func() {
		defer close(appDone)
		for appCtx.Err() == nil {
			_ = app.Get(appCtx, "k").Err() // MOVED once the replica took over
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := cb.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("preStop on the demoted master returned (%v) while it still redirected a client", err)
	case <-time.After(2 * time.Second):
	}
	// ...and returns once no client was redirected for a second.
	stopApp()
	<-appDone
	quiet := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("preStop on the old master: %v", err)
		}
		t.Logf("the drain ended %v after the last redirection", time.Since(quiet).Round(10*time.Millisecond))
	case <-ctx.Done():
		t.Fatal("preStop on the master did not return after the failover and its clients' quiet")
	}
	role, err := ca.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if role[0] != "slave" {
		t.Errorf("old master's role = %v, want slave", role[0])
	}
}

// waitFor polls cond every 50 ms until it holds; ctx bounds the wait.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nonEmptyPassword is []string{password}, or nil for none.
func nonEmptyPassword(password string) []string {
	if password == "" {
		return nil
	}
	return []string{password}
}
