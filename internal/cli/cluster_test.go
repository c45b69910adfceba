package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/test/redisenv"
)

// newCluster starts n servers and creates a cluster of them with rcctl.
func newCluster(t *testing.T, n, replicas int, opts ...redisenv.Option) []*redisenv.Node {
	t.Helper()
	nodes := redisenv.Start(t, n, opts...)
	args := append([]string{"create", "--replicas", itoa(replicas), "--wait", "--no-progress"}, addrs(nodes)...)
	mustRcctl(t, args...)
	return nodes
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCreateThreeByOnePassesBothChecks(t *testing.T) {
	nodes := redisenv.Start(t, 6)
	all := addrs(nodes)
	r := mustRcctl(t, append([]string{"create", "--replicas", "1", "--wait", "--json"}, all...)...)
	var rep createReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("create --json output is not JSON: %v\n%s", err, r.stdout)
	}
	if len(rep.Shards) != 3 {
		t.Fatalf("create reported %d shards, want 3", len(rep.Shards))
	}
	for _, s := range rep.Shards {
		if len(s.Replicas) != 1 {
			t.Errorf("shard of %s has replicas %v, want 1", s.Master, s.Replicas)
		}
	}

	// Every node agrees: rcctl check passes, and so does the outside referee.
	mustRcctl(t, "check", all[0])
	referee(t, all[0])

	// The world: 3 masters with slots, 3 replicas each linked to one of them.
	masters, replicas := 0, 0
	for _, a := range all {
		me := self(t, a)
		switch {
		case me.IsMaster() && !me.Slots.IsEmpty():
			masters++
		case me.IsReplica():
			replicas++
		}
	}
	if masters != 3 || replicas != 3 {
		t.Fatalf("found %d masters with slots and %d replicas, want 3 and 3", masters, replicas)
	}

	// status: a table and its JSON twin.
	st := mustRcctl(t, "status", all[0], "--json")
	var sr statusReport
	if err := json.Unmarshal([]byte(st.stdout), &sr); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	if len(sr.Shards) != 3 || !sr.StateOK {
		t.Fatalf("status: %d shards, stateOK %v", len(sr.Shards), sr.StateOK)
	}
	for _, s := range sr.Shards {
		if len(s.Replicas) != 1 || s.Replicas[0].Link != "up" {
			t.Errorf("shard %d replicas %+v, want one with link up", s.Shard, s.Replicas)
		}
	}
	table := mustRcctl(t, "status", all[0]).stdout
	for _, col := range []string{"SHARD", "ROLE", "master", "replica", "SLOTS", "KEYS", "MEMORY", "LINK", "cluster state: ok"} {
		if !strings.Contains(table, col) {
			t.Errorf("status table lacks %q:\n%s", col, table)
		}
	}

	// check --json on a healthy cluster.
	var cr struct {
		OK       bool
		Nodes    int
		Problems []any
	}
	if err := json.Unmarshal([]byte(mustRcctl(t, "check", all[0], "--json", "--replicas", "1").stdout), &cr); err != nil {
		t.Fatal(err)
	}
	if !cr.OK || len(cr.Problems) != 0 || cr.Nodes != 6 {
		t.Fatalf("check --json = %+v", cr)
	}

	// create's temporary cluster-node-timeout is restored.
	got, err := client(t, all[0]).ConfigGet(testCtx(t), "cluster-node-timeout").Result()
	if err != nil || got["cluster-node-timeout"] != "5000" {
		t.Fatalf("cluster-node-timeout after create = %v (%v), want 5000", got, err)
	}
}

func TestCreateRefusesBadInputAndChangesNothing(t *testing.T) {
	nodes := redisenv.Start(t, 8)
	standalone := redisenv.Start(t, 1, redisenv.Standalone())[0]
	all := addrs(nodes)
	fresh := all[:6]

	// A free port nobody listens on.
	dead := redisenv.Start(t, 1)[0]
	dead.Kill()

	// Two nodes that already met form "another cluster".
	ctx := testCtx(t)
	if err := client(t, all[6]).Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nodes[7].Port, nodes[7].BusPort).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the two nodes to meet", 10*time.Second, func() bool {
		for _, a := range all[6:8] {
			text, _ := client(t, a).ClusterNodes(ctx).Result()
			if strings.Count(text, "\n") != 2 || strings.Contains(text, "handshake") {
				return false
			}
		}
		return true
	})

	before := worldState(t, all)
	defer func() { assertUnchanged(t, before, worldState(t, all)) }()
	cases := []struct {
		name  string
		nodes []string
		code  int
		want  string
	}{
		{"unreachable address", append(fresh[:5:5], dead.Addr), ExitFailure, "unreachable"},
		{"node not in cluster mode", append(fresh[:5:5], standalone.Addr), ExitFailure, "not in cluster mode"},
		{"node already in another cluster", append(fresh[:5:5], all[6]), ExitFailure, "already belongs to a cluster"},
		{"too few nodes for the replicas", fresh[:5], ExitUsage, "too few nodes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rcctl(t, append([]string{"create", "--replicas", "1"}, c.nodes...)...)
			oneLineErr(t, r, c.code, c.want)
		})
	}
	t.Run("node holding keys", func(t *testing.T) {
		// Cluster mode refuses writes to slots nobody serves: let the node
		// serve the slot of "foo" alone for a moment, write, and take the
		// slot away again. The node then holds a key and serves nothing.
		c := client(t, fresh[0])
		for _, kv := range [][2]string{{"cluster-require-full-coverage", "no"}, {"cluster-node-timeout", "500"}} {
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTS", "12182").Err(); err != nil { // slot of "foo"
			t.Fatal(err)
		}
		waitFor(t, "the slot to be served", 20*time.Second, func() bool { return c.Set(ctx, "foo", "bar", 0).Err() == nil })
		if err := c.Do(ctx, "CLUSTER", "DELSLOTS", "12182").Err(); err != nil {
			t.Fatal(err)
		}
		before := worldState(t, all)
		r := rcctl(t, append([]string{"create", "--replicas", "1"}, fresh...)...)
		oneLineErr(t, r, ExitFailure, "holds 1 keys")
		assertUnchanged(t, before, worldState(t, all))
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for _, kv := range [][2]string{{"cluster-require-full-coverage", "yes"}, {"cluster-node-timeout", "5000"}} {
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("conflicting password flags", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := rcctl(t, append([]string{"create", "--replicas", "1", "--password-env", "REDISCLI_AUTH", "--password-file", pw}, fresh...)...)
		oneLineErr(t, r, ExitUsage, "mutually exclusive")
	})
	t.Run("dry run prints the plan", func(t *testing.T) {
		r := mustRcctl(t, append([]string{"create", "--replicas", "1", "--dry-run"}, fresh...)...)
		for _, want := range []string{"assign", "introduce", "replica of", "SHARD"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("dry-run output lacks %q", want)
			}
		}
	})
}

func TestPasswordIsUsedAndNeverPrinted(t *testing.T) {
	const secret = "s3cret-pw-xyz"
	nodes := redisenv.Start(t, 3, redisenv.WithPassword(secret))
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDISCLI_AUTH", "")
	var out strings.Builder
	for _, args := range [][]string{
		{"create", "--dry-run", "--json"},
		{"create", "--dry-run"},
		{"create", "--json"},
	} {
		r := mustRcctl(t, append(append(args, "--password-file", pw), addrs(nodes)...)...)
		out.WriteString(r.stdout + r.stderr)
	}
	r := mustRcctl(t, "status", nodes[0].Addr, "--password-file", pw)
	out.WriteString(r.stdout + r.stderr)
	if strings.Contains(out.String(), secret) {
		t.Fatalf("the password appears in rcctl's output")
	}
	// Without the password the node refuses us, in one line.
	r = rcctl(t, "status", nodes[0].Addr)
	oneLineErr(t, r, ExitFailure, "NOAUTH")
	// The environment variable works too.
	t.Setenv("REDISCLI_AUTH", secret)
	mustRcctl(t, "check", nodes[0].Addr)
}
