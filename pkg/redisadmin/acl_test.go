package redisadmin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/auth"
	"github.com/redkube/redkube/test/redisenv"
)

// TestUsersFromTheFileMatchUsersSetLive starts one node with a users file
// rendered by auth.RenderConf (what a restarted pod includes) and sets the
// same users on another with ACL SETUSER (what the operator does live):
// both list them in the same normal form, so one node's ACL LIST can judge
// the others; every password logs in, the rules hold, a rule Redis rejects
// changes nothing, and ACL DELUSER removes a user.
func TestUsersFromTheFileMatchUsersSetLive(t *testing.T) {
	rules, err := auth.ParseRules("~app:* +@read +@write -flushall")
	if err != nil {
		t.Fatal(err)
	}
	users := []auth.User{
		{Name: "app", Enabled: true, Passwords: []string{"first-pass", "second-pass"}, Rules: rules},
		{Name: "retired", Enabled: false, Passwords: []string{"old"}, Rules: []string{"+@all"}},
	}
	file := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(file, []byte(auth.RenderConf(users)), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithPassword("admin"), redisenv.WithConfig("include", file))[0]
	live := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithPassword("admin"))[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := NewPool(Options{Password: "admin", MaxRetries: -1})
	defer func() { _ = pool.Close() }()

	for _, u := range users {
		if err := pool.Node(live.Addr).ACLSetUser(ctx, u.Name, auth.SetUserArgs(u)...); err != nil {
			t.Fatalf("ACL SETUSER %s: %v", u.Name, err)
		}
	}
	lines := func(addr string) map[string]string {
		t.Helper()
		l, err := pool.Node(addr).ACLList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return auth.ACLLines(l)
	}
	names := []string{"app", "retired", "absent"}
	ref := lines(fromFile.Addr)
	if auth.OutOfSync(lines(live.Addr), ref, names) != "" {
		t.Fatalf("users set live differ from the file's:\nlive: %v\nfile: %v", lines(live.Addr), ref)
	}
	for _, l := range ref {
		if strings.Contains(l, "first-pass") {
			t.Errorf("ACL LIST shows a password: %s", l)
		}
	}

	for _, pw := range []string{"first-pass", "second-pass"} {
		c := redis.NewClient(&redis.Options{Addr: fromFile.Addr, Username: "app", Password: pw, MaxRetries: -1})
		if err := c.Set(ctx, "app:k", "v", 0).Err(); err != nil {
			t.Errorf("app with password %q: SET app:k: %v", pw, err)
		}
		if err := c.Set(ctx, "other:k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("app: SET other:k = %v, want NOPERM", err)
		}
		_ = c.Close()
	}
	off := redis.NewClient(&redis.Options{Addr: fromFile.Addr, Username: "retired", Password: "old", MaxRetries: -1})
	if err := off.Ping(ctx).Err(); err == nil {
		t.Error("a disabled user logged in")
	}
	_ = off.Close()

	err = pool.Node(live.Addr).ACLSetUser(ctx, "app", auth.SetUserArgs(auth.User{Name: "app", Enabled: true, Rules: []string{"+nosuchcommand"}})...)
	if err == nil {
		t.Fatal("ACL SETUSER with an unknown command succeeded")
	}
	if errors.Is(err, ErrUnreachable) {
		t.Fatalf("a rejected rule was classified as unreachable: %v", err)
	}
	if got := lines(live.Addr)["app"]; got != ref["app"] {
		t.Errorf("a rejected SETUSER changed the user: %q, was %q", got, ref["app"])
	}

	if err := pool.Node(live.Addr).ACLDelUser(ctx, "retired", "absent"); err != nil {
		t.Fatal(err)
	}
	if _, ok := lines(live.Addr)["retired"]; ok {
		t.Error("ACL DELUSER left the user")
	}
}

// TestSystemUsersServeTheirRolesWithTheDefaultUserOff starts a master and a
// replica from a users file holding only the operator's users and the
// default user switched off: the replica syncs as the replication user,
// the operator's user administers, the monitor user reads INFO and
// CLUSTER NODES and nothing else, and a client without a user is refused.
func TestSystemUsersServeTheirRolesWithTheDefaultUserOff(t *testing.T) {
	pw := auth.SystemPasswords{Operator: "op-pw", Replication: "repl-pw", Monitor: "mon-pw"}
	file := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(file, []byte(auth.RenderConf(auth.SystemUsers(pw, auth.DefaultUserWith(nil, true)))), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []redisenv.Option{redisenv.WithConfig("include", file), redisenv.WithConfig("masteruser", auth.ReplicationUser), redisenv.WithConfig("masterauth", pw.Replication)}
	master := redisenv.Start(t, 1, common...)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := NewPool(Options{Username: auth.OperatorUser, Password: pw.Operator, MaxRetries: -1})
	defer func() { _ = op.Close() }()
	replica := redisenv.Start(t, 1, common...)[0]
	masterID, err := op.Node(master.Addr).MyID(ctx)
	if err != nil {
		t.Fatalf("the operator's user: CLUSTER MYID: %v", err)
	}
	if err := op.Node(replica.Addr).Meet(ctx, "127.0.0.1", master.Port, master.BusPort); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := op.Node(replica.Addr).Replicate(ctx, masterID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CLUSTER REPLICATE: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		r, err := op.Node(replica.Addr).InfoReplication(ctx)
		if err == nil && r.MasterLinkUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not sync as %s: %+v, %v\n%s", auth.ReplicationUser, r, err, replica.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	mon := redis.NewClient(&redis.Options{Addr: master.Addr, Username: auth.MonitorUser, Password: pw.Monitor, MaxRetries: -1})
	defer func() { _ = mon.Close() }()
	if err := mon.Info(ctx, "all").Err(); err != nil {
		t.Errorf("monitor: INFO: %v", err)
	}
	if err := mon.ClusterNodes(ctx).Err(); err != nil {
		t.Errorf("monitor: CLUSTER NODES: %v", err)
	}
	for _, cmd := range [][]any{{"get", "k"}, {"config", "get", "maxmemory"}, {"cluster", "failover"}} {
		if err := mon.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("monitor: %v = %v, want NOPERM", cmd, err)
		}
	}
	anon := redis.NewClient(&redis.Options{Addr: master.Addr, MaxRetries: -1})
	defer func() { _ = anon.Close() }()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Error("a client without a user was let in with the default user off")
	}
}

// TestTheDefaultUserHoldsSeveralPasswordsFromTheFileAndLive starts a node
// whose users file gives the default user two passwords (what a pod
// includes at start, no requirepass), then sets another pair live: each
// time exactly the current passwords log in, a connection that logged in
// with a password since removed keeps working, and the nopass form lets a
// client in without one.
func TestTheDefaultUserHoldsSeveralPasswordsFromTheFileAndLive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(file, []byte(auth.RenderConf([]auth.User{auth.DefaultUserWith([]string{"one", "two"}, false)})), 0o600); err != nil {
		t.Fatal(err)
	}
	node := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithConfig("include", file))[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logsIn := func(pw string) error {
		c := redis.NewClient(&redis.Options{Addr: node.Addr, Password: pw, MaxRetries: -1})
		defer func() { _ = c.Close() }()
		return c.Set(ctx, "k", pw, 0).Err()
	}
	want := func(accepted, refused []string) {
		t.Helper()
		for _, pw := range accepted {
			if err := logsIn(pw); err != nil {
				t.Errorf("password %q: %v, want accepted", pw, err)
			}
		}
		for _, pw := range refused {
			if err := logsIn(pw); err == nil || !strings.Contains(err.Error(), "WRONGPASS") && !strings.Contains(err.Error(), "NOAUTH") {
				t.Errorf("password %q: %v, want refused", pw, err)
			}
		}
	}
	want([]string{"one", "two"}, []string{"", "three"})

	held := redis.NewClient(&redis.Options{Addr: node.Addr, Password: "one", MaxRetries: -1, PoolSize: 1})
	defer func() { _ = held.Close() }()
	if err := held.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	pool := NewPool(Options{Password: "two", MaxRetries: -1})
	defer func() { _ = pool.Close() }()
	if err := pool.Node(node.Addr).ACLSetUser(ctx, auth.DefaultUser, auth.SetUserArgs(auth.DefaultUserWith([]string{"two", "three"}, false))...); err != nil {
		t.Fatal(err)
	}
	want([]string{"two", "three"}, []string{"one", ""})
	if err := held.Set(ctx, "held", "v", 0).Err(); err != nil {
		t.Errorf("a connection logged in with a removed password was dropped: %v", err)
	}

	if err := pool.Node(node.Addr).ACLSetUser(ctx, auth.DefaultUser, auth.SetUserArgs(auth.DefaultUserWith(nil, false))...); err != nil {
		t.Fatal(err)
	}
	if err := logsIn(""); err != nil {
		t.Errorf("no password after nopass: %v", err)
	}
}

// TestTheOperatorsUsersCompareEqualAcrossServers sets the operator's own
// users on six servers: each process lists the command rules in its own
// hash order, and auth.ACLLines still finds them all in sync (before it
// put the lines in canonical form, pods restarted by a roll were "repaired"
// on every pass).
func TestTheOperatorsUsersCompareEqualAcrossServers(t *testing.T) {
	nodes := redisenv.Start(t, 6, redisenv.Standalone())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := NewPool(Options{MaxRetries: -1})
	defer func() { _ = pool.Close() }()
	users := auth.SystemUsers(auth.SystemPasswords{Operator: "o", Replication: "r", Monitor: "m", Backup: "b"}, auth.DefaultUserWith(nil, false))
	names := make([]string, 0, len(users))
	raw := map[string]bool{}
	var ref map[string]string
	for i, nd := range nodes {
		for _, u := range users {
			if err := pool.Node(nd.Addr).ACLSetUser(ctx, u.Name, auth.SetUserArgs(u)...); err != nil {
				t.Fatalf("ACL SETUSER %s: %v", u.Name, err)
			}
			if i == 0 {
				names = append(names, u.Name)
			}
		}
		list, err := pool.Node(nd.Addr).ACLList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		raw[strings.Join(list, "\n")] = true
		lines := auth.ACLLines(list)
		if ref == nil {
			ref = lines
			continue
		}
		if name := auth.OutOfSync(lines, ref, names); name != "" {
			t.Errorf("server %d: user %s differs:\n  %s\n  %s", i, name, lines[name], ref[name])
		}
	}
	t.Logf("%d different ACL LIST texts from %d servers", len(raw), len(nodes))
}
