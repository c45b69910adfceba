package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/test/redisenv"
)

// outcome is the class of answer a bad invocation must get.
type outcome int

const (
	// usage: exit 2, one line naming the flag or argument, nothing contacted
	// or changed.
	usage outcome = iota
	// runtime: exit 1, one line saying what is wrong with the cluster or
	// the nodes named, nothing changed.
	runtime
)

func (o outcome) String() string {
	if o == usage {
		return "usage error (exit 2)"
	}
	return "runtime error (exit 1)"
}

// TestAdversarialInvocationsGetOneLineAndChangeNothing runs bad rcctl
// invocations, as an attacker or a tired operator at 3 a.m. would type
// them, against a real 3×1 cluster and its neighbours, and asserts for each
// the outcome class, a one-line message saying what is wrong, and that the
// normalised CLUSTER NODES of every node is the same before and after.
func TestAdversarialInvocationsGetOneLineAndChangeNothing(t *testing.T) {
	nodes := newCluster(t, 6, 1)
	loadKeys(t, nodes[0].Addr, 200)
	fresh := redisenv.Start(t, 1)[0]
	standalone := redisenv.Start(t, 1, redisenv.Standalone())[0]
	locked := redisenv.Start(t, 1, redisenv.WithPassword("right-pw"))[0]
	dead := redisenv.Start(t, 1)[0]
	dead.Kill()
	silent := redisenv.SilentListener(t)

	var masters, replicas []*redisenv.Node
	for _, n := range nodes {
		if self(t, n.Addr).IsMaster() {
			masters = append(masters, n)
		} else {
			replicas = append(replicas, n)
		}
	}
	if len(masters) != 3 || len(replicas) != 3 {
		t.Fatalf("cluster has %d masters and %d replicas, want 3 and 3", len(masters), len(replicas))
	}
	// Replication of the keys is asynchronous: let it finish, or a
	// replica's key count would change under the first cases.
	for _, r := range replicas {
		master := self(t, r.Addr).MasterID
		waitFor(t, "replica "+r.Addr+" to hold its master's keys", 30*time.Second, func() bool {
			for _, m := range masters {
				if self(t, m.Addr).ID == master {
					mk, err1 := client(t, m.Addr).DBSize(testCtx(t)).Result()
					rk, err2 := client(t, r.Addr).DBSize(testCtx(t)).Result()
					return err1 == nil && err2 == nil && mk == rk
				}
			}
			return false
		})
	}
	seed, m2 := masters[0].Addr, masters[1].Addr
	seedID := string(self(t, seed).ID)
	replica := replicas[0].Addr
	replicaOf := self(t, replica).MasterID.Short()
	bus := fmt.Sprintf("127.0.0.1:%d", nodes[0].BusPort)
	t.Setenv("RCCTL_WRONG_PW", "wrong-pw")
	t.Setenv("RCCTL_UNSET_PW", "")
	t.Setenv("REDISCLI_AUTH", "")

	watched := append(addrs(nodes), fresh.Addr, standalone.Addr, locked.Addr)
	dial := func(a string) *redis.Client {
		if a == locked.Addr {
			c := redis.NewClient(&redis.Options{Addr: a, Password: "right-pw", Protocol: 2, DisableIdentity: true})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		return client(t, a)
	}

	cases := []struct {
		name string
		args []string
		want outcome
		says string
	}{
		// The command line itself is wrong: exit 2, naming what.
		{"a mistyped command is a usage error", []string{"chekc", seed}, usage, `unknown command "chekc"`},
		{"an unknown flag is a usage error", []string{"check", seed, "--bogus"}, usage, "unknown flag: --bogus"},
		{"check without an address says it needs one", []string{"check"}, usage, "check needs 1 argument"},
		{"check with two addresses says it needs one", []string{"check", seed, m2}, usage, "check needs 1 argument(s), got 2"},
		{"an address without a port is refused", []string{"check", "127.0.0.1"}, usage, `"127.0.0.1" is not a host:port address`},
		{"an address without a host is refused", []string{"status", ":6379"}, usage, `":6379" is not a host:port address`},
		{"port 0 is refused", []string{"check", "127.0.0.1:0"}, usage, "port must be a number 1-65535"},
		{"port 65536 is refused", []string{"status", "127.0.0.1:65536"}, usage, "port must be a number 1-65535"},
		{"a named port is refused", []string{"status", "127.0.0.1:redis"}, usage, "port must be a number 1-65535"},
		{"a zero timeout is refused", []string{"status", seed, "--timeout", "0"}, usage, "--timeout 0s: must be positive"},
		{"a negative timeout is refused", []string{"check", seed, "--timeout", "-5s"}, usage, "--timeout -5s: must be positive"},
		{"a nanosecond timeout is refused", []string{"check", seed, "--timeout", "1ns"}, usage, "--timeout 1ns: must be at least 1ms"},
		{"a timeout that is no duration is refused", []string{"status", seed, "--timeout", "soon"}, usage, `invalid argument "soon" for "--timeout"`},
		{"negative expected replicas are refused", []string{"check", seed, "--replicas", "-1"}, usage, "--replicas -1: must not be negative"},
		{"a negative replica lag is refused", []string{"check", seed, "--max-lag", "-1"}, usage, "--max-lag -1: must not be negative"},
		{"a client certificate without its key is refused", []string{"status", seed, "--tls-cert", "client.pem"}, usage, "--tls-cert and --tls-key must be given together"},
		{"two password sources are refused", []string{"status", seed, "--password-env", "RCCTL_WRONG_PW", "--password-file", "pw.txt"}, usage, "--password-env and --password-file are mutually exclusive"},
		{"an unset password variable is refused", []string{"status", seed, "--password-env", "RCCTL_NEVER_SET_ANYWHERE"}, usage, "--password-env RCCTL_NEVER_SET_ANYWHERE: variable is not set"},
		{"an ACL user without a password is refused", []string{"status", seed, "--user", "admin"}, usage, "--user admin needs a password"},
		{"two masters are too few", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--masters", "2"}, usage, "--masters 2: a cluster needs at least 3 masters"},
		{"negative replicas to create are refused", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--replicas", "-1"}, usage, "--replicas must be >= 0"},
		{"a node listed twice is refused", []string{"create", fresh.Addr, fresh.Addr, standalone.Addr}, usage, fresh.Addr + " is listed twice"},
		{"too few nodes for the replicas asked", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--replicas", "1"}, usage, "too few nodes"},
		{"a hint for a node not being created is refused", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--hint", seed + "=h1"}, usage, "is not one of the nodes to create"},
		{"two hints for one node are refused", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--hint", fresh.Addr + "=h1", "--hint", fresh.Addr + "=h2"}, usage, "has a hint already"},
		{"a negative join timeout is refused", []string{"create", fresh.Addr, dead.Addr, standalone.Addr, "--join-node-timeout", "-1s"}, usage, "--join-node-timeout -1s: must not be negative"},
		{"reshard without a target is refused", []string{"reshard", seed, "--from", "all", "--slots", "5"}, usage, "reshard needs --from and --to"},
		{"zero slots to move are refused", []string{"reshard", seed, "--from", "all", "--to", m2, "--slots", "0"}, usage, "--slots must be 1-16384"},
		{"more slots than exist are refused", []string{"reshard", seed, "--from", "all", "--to", m2, "--slots", "16385"}, usage, "--slots must be 1-16384"},
		{"empty source entries are refused", []string{"reshard", seed, "--from", ",,", "--to", m2, "--slots", "5"}, usage, `--from ",,": an entry is empty`},
		{"all inside a source list is refused", []string{"reshard", seed, "--from", "all," + seed, "--to", m2, "--slots", "5"}, usage, `"all" stands alone`},
		{"a source listed twice is refused", []string{"reshard", seed, "--from", seed + "," + seed, "--to", m2, "--slots", "5"}, usage, seed + " is listed twice"},
		{"a target port out of range is refused", []string{"reshard", seed, "--from", "all", "--to", "127.0.0.1:99999", "--slots", "5"}, usage, "--to: \"127.0.0.1:99999\": port must be a number 1-65535"},
		{"one master as source and target is refused", []string{"reshard", seed, "--from", m2, "--to", m2, "--slots", "5"}, usage, "--from " + m2 + " and --to " + m2 + " name the same node"},
		{"a weight given twice is refused", []string{"rebalance", seed, "--weight", seed + "=1", "--weight", seed + "=3"}, usage, "--weight \"" + seed + "=3\": " + seed + " is given a weight twice"},
		{"one node weighed by ID and address is refused", []string{"rebalance", seed, "--weight", seedID + "=1", "--weight", seed + "=3"}, usage, "name the same node"},
		{"a NaN weight is refused", []string{"rebalance", seed, "--weight", seed + "=NaN"}, usage, "W a finite number >= 0"},
		{"a negative weight is refused", []string{"rebalance", seed, "--weight", seed + "=-1"}, usage, "W a finite number >= 0"},
		{"a weight without a node is refused", []string{"rebalance", seed, "--weight", "=2"}, usage, `--weight "=2"`},
		{"a negative threshold is refused", []string{"rebalance", seed, "--threshold", "-1"}, usage, "--threshold -1: must be a finite number >= 0"},
		{"a NaN threshold is refused", []string{"rebalance", seed, "--threshold", "NaN"}, usage, "--threshold NaN: must be a finite number >= 0"},
		{"a NaN rate is refused", []string{"rebalance", seed, "--rate", "NaN"}, usage, "--rate NaN: must be a finite number >= 0"},
		{"an infinite rate is refused", []string{"del-node", seed, replica, "--rate", "Inf"}, usage, "--rate +Inf: must be a finite number >= 0"},
		{"zero parallel pairs are refused", []string{"rebalance", seed, "--parallel", "0"}, usage, "--parallel must be >= 1"},
		{"an empty node to delete is refused", []string{"del-node", seed, ""}, usage, "NODE is empty"},
		{"a node address out of range to delete is refused", []string{"del-node", seed, "127.0.0.1:70000"}, usage, "NODE: \"127.0.0.1:70000\": port must be a number 1-65535"},
		{"force and takeover together are refused", []string{"failover", replica, "--force", "--takeover"}, usage, "--force and --takeover are mutually exclusive"},
		{"adding a node to itself is refused", []string{"add-node", fresh.Addr, fresh.Addr}, usage, "NEW_ADDR and EXISTING_ADDR are the same address"},
		{"the new node as its own master is refused", []string{"add-node", fresh.Addr, seed, "--replica-of", fresh.Addr}, usage, "--replica-of " + fresh.Addr + " is the node being added"},
		{"an empty master to replicate is refused", []string{"add-node", fresh.Addr, seed, "--replica-of", ""}, usage, "--replica-of is empty"},
		{"a zero forget-after is refused", []string{"heal", seed, "--forget-after", "0"}, usage, "--forget-after 0s: must be positive"},
		{"a host-of without a host is refused", []string{"heal", seed, "--host-of", seed}, usage, "want ADDR=HOST"},

		// The command line is well formed; the nodes say no: exit 1.
		{"a closed port is unreachable", []string{"check", dead.Addr}, runtime, dead.Addr + " is unreachable: connection refused"},
		{"a port that never answers fails at the timeout", []string{"check", silent, "--timeout", "1s"}, runtime, silent + " accepted the connection but did not reply within 1s (--timeout)"},
		{"status of a port that never answers fails at the timeout", []string{"status", silent, "--timeout", "1s"}, runtime, "did not reply within 1s"},
		{"a standalone redis is not a cluster", []string{"check", standalone.Addr}, runtime, standalone.Addr + " is not in cluster mode"},
		{"the cluster bus port is not taken for TLS", []string{"check", bus}, runtime, "does not speak TLS: is it a Redis client port? a cluster bus port"},
		{"TLS to a plain-text node says so", []string{"check", seed, "--tls", "--timeout", "2s"}, runtime, "the node serves plain text on this port, not TLS"},
		{"a missing CA file is named", []string{"check", seed, "--tls-ca", "/nonexistent/ca.pem"}, runtime, "read --tls-ca /nonexistent/ca.pem: no such file or directory"},
		{"a missing client key pair is named", []string{"status", seed, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, runtime, "load --tls-cert/--tls-key"},
		{"a missing password file is named", []string{"check", seed, "--password-file", "/nonexistent/pw"}, runtime, "read --password-file /nonexistent/pw: no such file or directory"},
		{"a wrong password is refused by the node", []string{"check", locked.Addr, "--password-env", "RCCTL_WRONG_PW"}, runtime, "WRONGPASS"},
		{"no password for a protected node is refused by it", []string{"status", locked.Addr}, runtime, "NOAUTH"},
		{"creating over an existing cluster is refused", []string{"create", seed, m2, replica}, runtime, "already belongs to a cluster"},
		{"creating with a standalone node is refused", []string{"create", fresh.Addr, standalone.Addr, locked.Addr}, runtime, "is not in cluster mode"},
		{"adding a member again is refused", []string{"add-node", replica, seed}, runtime, replica + " is already a member of this cluster"},
		{"adding a standalone node is refused", []string{"add-node", standalone.Addr, seed}, runtime, standalone.Addr + " is not in cluster mode"},
		{"adding a closed port is refused", []string{"add-node", dead.Addr, seed}, runtime, dead.Addr + " is unreachable"},
		{"replicating a replica names its master", []string{"add-node", fresh.Addr, seed, "--replica-of", replica}, runtime, "is a replica of " + replicaOf},
		{"replicating an unknown node ID is refused", []string{"add-node", fresh.Addr, seed, "--replica-of", "deadbeefdead"}, runtime, `--replica-of: unknown node ID "deadbeefdead"`},
		{"deleting an unknown node ID is refused", []string{"del-node", seed, strings.Repeat("0", 40)}, runtime, "unknown node ID"},
		{"deleting an address outside the cluster is refused", []string{"del-node", seed, dead.Addr}, runtime, "no node of the cluster has address " + dead.Addr},
		{"deleting a master with replicas is refused", []string{"del-node", seed, m2}, runtime, "still has 1 replica(s)"},
		{"deleting through a closed port is refused", []string{"del-node", dead.Addr, replica}, runtime, dead.Addr + " is unreachable"},
		{"failing over a master is refused", []string{"failover", seed}, runtime, "is a master already; name one of its replicas"},
		{"failing over a standalone redis is refused", []string{"failover", standalone.Addr}, runtime, "is not in cluster mode"},
		{"failing over a closed port is refused", []string{"failover", dead.Addr, "--force"}, runtime, "is unreachable"},
		{"resharding to a replica names its master", []string{"reshard", seed, "--from", "all", "--to", replica, "--slots", "5"}, runtime, "--to " + replica + ": node"},
		{"resharding from a replica names its master", []string{"reshard", seed, "--from", replica, "--to", m2, "--slots", "5"}, runtime, "is a replica of " + replicaOf},
		{"resharding to an unknown node ID is refused", []string{"reshard", seed, "--from", "all", "--to", "deadbeefdead", "--slots", "5"}, runtime, `--to: unknown node ID "deadbeefdead"`},
		{"resharding more slots than the sources hold is refused", []string{"reshard", seed, "--from", "all", "--to", m2, "--slots", "16384"}, runtime, "16384 slots to move but the sources hold"},
		{"weighing a replica names its master", []string{"rebalance", seed, "--weight", replica + "=2"}, runtime, "is a replica of " + replicaOf},
		{"weighing an unknown node ID is refused", []string{"rebalance", seed, "--weight", "deadbeefdead=2"}, runtime, `--weight: unknown node ID "deadbeefdead"`},
		{"fixing through a closed port is refused", []string{"fix", dead.Addr}, runtime, "is unreachable"},
		{"healing a standalone redis is refused", []string{"heal", standalone.Addr}, runtime, "is not in cluster mode"},
		{"rebalancing through a port that never answers fails at the timeout", []string{"rebalance", silent, "--timeout", "1s"}, runtime, "did not reply within 1s"},
	}

	counts := map[outcome]int{}
	var slowestName string
	var slowest time.Duration
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := clusterNodesState(t, watched, dial)
			start := time.Now()
			r := rcctl(t, c.args...)
			took := time.Since(start)
			code := ExitUsage
			if c.want == runtime {
				code = ExitFailure
			}
			oneLineErr(t, r, code, c.says)
			if c.want == usage && r.stdout != "" {
				t.Errorf("a usage error printed on stdout: %q", r.stdout)
			}
			if strings.Contains(r.stdout, "ok:") {
				t.Errorf("an error says ok: %q", r.stdout)
			}
			after := clusterNodesState(t, watched, dial)
			for _, a := range watched {
				if before[a] != after[a] {
					t.Errorf("CLUSTER NODES of %s changed:\nbefore:\n%s\nafter:\n%s", a, before[a], after[a])
				}
			}
			if took > slowest {
				slowest, slowestName = took, c.name+": rcctl "+strings.Join(c.args, " ")
			}
			counts[c.want]++
		})
	}
	t.Logf("slowest error invocation: %s (%s)", slowestName, slowest.Round(time.Millisecond))
	for _, o := range []outcome{usage, runtime} {
		t.Logf("%s: %d invocations", o, counts[o])
	}
	t.Logf("total: %d bad invocations, nothing changed", len(cases))
}
