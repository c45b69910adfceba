package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// result is what one rcctl invocation produced.
type result struct {
	stdout, stderr string
	code           int
}

// rcctl runs the command tree in-process.
func rcctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, args, &out, &errb)
	t.Logf("rcctl %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRcctl runs rcctl and fails the test unless it exits 0.
func mustRcctl(t *testing.T, args ...string) result {
	t.Helper()
	r := rcctl(t, args...)
	if r.code != 0 {
		t.Fatalf("rcctl %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// rcctlBinary builds cmd/rcctl once per test binary into a temp dir.
func rcctlBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "rcctl-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rcctl")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/redkube/redkube/cmd/rcctl")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("go build rcctl: %w: %s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func addrs(nodes []*redisenv.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr
	}
	return out
}

func client(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterClient(t *testing.T, seed string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seed}, Protocol: 2, DisableIdentity: true, MaxRedirects: 16})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// referee runs `redis-cli --cluster check` and fails the test unless the
// outside tool is satisfied.
func referee(t *testing.T, addr string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-cli", "--cluster", "check", host+":"+port).CombinedOutput()
	if err != nil || strings.Contains(string(out), "[ERR]") || strings.Contains(string(out), "[WARNING]") {
		t.Fatalf("redis-cli --cluster check %s failed (%v):\n%s", addr, err, out)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// key and value name the test data.
func key(i int) string   { return fmt.Sprintf("k:%d", i) }
func value(i int) string { return fmt.Sprintf("v:%d", i) }

// loadKeys writes k:0..n-1 through a cluster client.
func loadKeys(t *testing.T, seed string, n int) {
	t.Helper()
	loadKeysWith(t, clusterClient(t, seed), n)
}

// loadKeysWith writes k:0..n-1 through c.
func loadKeysWith(t *testing.T, c *redis.ClusterClient, n int) {
	t.Helper()
	ctx := testCtx(t)
	for lo := 0; lo < n; lo += 5000 {
		pipe := c.Pipeline()
		for i := lo; i < min(lo+5000, n); i++ {
			pipe.Set(ctx, key(i), value(i), 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("load keys: %v", err)
		}
	}
}

// verifyKeys reads k:0..n-1 back and fails on any missing or wrong value.
func verifyKeys(t *testing.T, seed string, n int) {
	t.Helper()
	verifyKeysWith(t, clusterClient(t, seed), n)
}

// verifyKeysWith reads k:0..n-1 back through c.
func verifyKeysWith(t *testing.T, c *redis.ClusterClient, n int) {
	t.Helper()
	ctx := testCtx(t)
	bad := 0
	for lo := 0; lo < n; lo += 5000 {
		pipe := c.Pipeline()
		var cmds []*redis.StringCmd
		for i := lo; i < min(lo+5000, n); i++ {
			cmds = append(cmds, pipe.Get(ctx, key(i)))
		}
		_, _ = pipe.Exec(ctx)
		for j, cmd := range cmds {
			if v, err := cmd.Result(); err != nil || v != value(lo+j) {
				if bad < 5 {
					t.Errorf("key %s: got %q, %v", key(lo+j), v, err)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d keys missing or wrong", bad, n)
	}
}

// nodeFacts is what "nothing changed" compares: per node, its ID, role,
// master, slots, the set of node IDs it knows, open slots and key count.
type nodeFacts struct {
	ID, Role, Master, Slots, Known, Open string
	Keys                                 int64
}

// worldState observes every address directly (no rcctl code involved).
func worldState(t *testing.T, addrs []string) map[string]nodeFacts {
	t.Helper()
	return worldStateWith(t, addrs, func(a string) *redis.Client { return client(t, a) })
}

// worldStateWith is worldState with clients from dial (for nodes that need
// TLS or credentials).
func worldStateWith(t *testing.T, addrs []string, dial func(addr string) *redis.Client) map[string]nodeFacts {
	t.Helper()
	ctx := testCtx(t)
	out := map[string]nodeFacts{}
	for _, a := range addrs {
		c := dial(a)
		f := nodeFacts{}
		if text, err := c.ClusterNodes(ctx).Result(); err == nil {
			v, err := topology.ParseClusterNodes(text)
			if err != nil {
				t.Fatalf("parse CLUSTER NODES of %s: %v", a, err)
			}
			me := v.Myself()
			f.ID, f.Master, f.Slots = string(me.ID), string(me.MasterID), me.Slots.String()
			f.Role = me.Flags.String()
			var known []string
			for _, n := range v.Nodes {
				known = append(known, string(n.ID))
			}
			sort.Strings(known)
			f.Known = strings.Join(known, ",")
			f.Open = fmt.Sprint(me.Migrating, me.Importing)
		} else {
			f.Role = "no-cluster: " + err.Error()
		}
		n, err := c.DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("dbsize %s: %v", a, err)
		}
		f.Keys = n
		out[a] = f
	}
	return out
}

func assertUnchanged(t *testing.T, before, after map[string]nodeFacts) {
	t.Helper()
	for a, b := range before {
		if after[a] != b {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v", a, b, after[a])
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// self returns the CLUSTER NODES myself line of addr.
func self(t *testing.T, addr string) *topology.Node {
	t.Helper()
	text, err := client(t, addr).ClusterNodes(testCtx(t)).Result()
	if err != nil {
		t.Fatalf("cluster nodes %s: %v", addr, err)
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return v.Myself()
}

// oneLineErr asserts that an invocation failed with code and exactly one
// line on stderr starting with "rcctl: " and containing want.
func oneLineErr(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d", r.code, code)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "rcctl: ") {
		t.Errorf("want one error line, got %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("error %q does not mention %q", r.stderr, want)
	}
}

type redisPool = redisadmin.Pool

func newTestPool() *redisadmin.Pool { return redisadmin.NewPool(redisadmin.Options{}) }

// clusterNodesState is the normalised CLUSTER NODES of each address: per
// listed node its ID, flags, master and slots with open-slot markers,
// sorted by ID, plus the node's key count. Ping/pong times, epochs and
// link states, which tick on their own, are left out. An address that does
// not answer CLUSTER NODES is recorded with the error (a standalone node).
func clusterNodesState(t *testing.T, addrs []string, dial func(addr string) *redis.Client) map[string]string {
	t.Helper()
	ctx := testCtx(t)
	out := map[string]string{}
	for _, a := range addrs {
		c := dial(a)
		var b strings.Builder
		if text, err := c.ClusterNodes(ctx).Result(); err != nil {
			fmt.Fprintf(&b, "no cluster: %v\n", err)
		} else {
			v, err := topology.ParseClusterNodes(text)
			if err != nil {
				t.Fatalf("parse CLUSTER NODES of %s: %v", a, err)
			}
			lines := make([]string, 0, len(v.Nodes))
			for _, n := range v.Nodes {
				lines = append(lines, fmt.Sprintf("%s %s %s master=%s slots=%s migrating=%v importing=%v",
					n.ID, n.Addr, n.Flags, n.MasterID, n.Slots, n.Migrating, n.Importing))
			}
			sort.Strings(lines)
			b.WriteString(strings.Join(lines, "\n"))
		}
		keys, err := c.DBSize(ctx).Result()
		if err != nil {
			fmt.Fprintf(&b, "\nkeys: %v", err)
		} else {
			fmt.Fprintf(&b, "\nkeys: %d", keys)
		}
		out[a] = b.String()
	}
	return out
}
