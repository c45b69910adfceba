package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// The tests in this file run rcctl against TLS-only and ACL-protected
// servers. Every client of the test itself dials with the node's own
// credentials and client certificate (redisenv.Node), never through rcctl
// code.

// secureClient dials nd with its TLS configuration and credentials.
func secureClient(t *testing.T, nd *redisenv.Node) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: nd.Addr, Username: nd.Username, Password: nd.Password,
		TLSConfig: nd.ClientTLSConfig(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// secureClusterClient is a cluster client seeded at nd with nd's TLS
// configuration and credentials (every node of a test shares them).
func secureClusterClient(t *testing.T, nd *redisenv.Node) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nd.Addr}, Username: nd.Username, Password: nd.Password,
		TLSConfig: nd.ClientTLSConfig(), Protocol: 2, DisableIdentity: true, MaxRedirects: 16})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// secureWorld is worldState for nodes that need TLS or credentials.
func secureWorld(t *testing.T, nodes []*redisenv.Node) map[string]nodeFacts {
	t.Helper()
	byAddr := map[string]*redisenv.Node{}
	for _, nd := range nodes {
		byAddr[nd.Addr] = nd
	}
	return worldStateWith(t, addrs(nodes), func(a string) *redis.Client { return secureClient(t, byAddr[a]) })
}

// secureSelf returns the CLUSTER NODES myself line of nd.
func secureSelf(t *testing.T, nd *redisenv.Node) *topology.Node {
	t.Helper()
	text, err := secureClient(t, nd).ClusterNodes(testCtx(t)).Result()
	if err != nil {
		t.Fatalf("cluster nodes %s: %v", nd.Addr, err)
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return v.Myself()
}

// secureReferee runs `redis-cli --cluster check` with nd's TLS files and
// credentials (the password through REDISCLI_AUTH) and fails the test
// unless the outside tool is satisfied.
func secureReferee(t *testing.T, nd *redisenv.Node) {
	t.Helper()
	args := []string{"--cluster", "check", nd.Addr}
	if nd.TLS != nil {
		args = append(args, "--tls", "--cacert", nd.TLS.CAFile, "--cert", nd.TLS.ClientCertFile, "--key", nd.TLS.ClientKeyFile)
	}
	if nd.Username != "" {
		args = append(args, "--user", nd.Username)
	}
	cmd := exec.Command("redis-cli", args...)
	cmd.Env = os.Environ()
	if nd.Password != "" {
		cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+nd.Password)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "[ERR]") || strings.Contains(string(out), "[WARNING]") ||
		!strings.Contains(string(out), "[OK] All 16384 slots covered") {
		t.Fatalf("redis-cli %s failed (%v):\n%s", strings.Join(args, " "), err, out)
	}
}

// tlsFlags are rcctl's flags for the certificates of certs.
func tlsFlags(certs *redisenv.Certs) []string {
	return []string{"--tls-ca", certs.CAFile, "--tls-cert", certs.ClientCertFile, "--tls-key", certs.ClientKeyFile}
}

func args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// countRoles counts masters serving slots and replicas.
func countRoles(t *testing.T, nodes []*redisenv.Node) (masters, replicas int) {
	t.Helper()
	for _, nd := range nodes {
		me := secureSelf(t, nd)
		switch {
		case me.IsMaster() && !me.Slots.IsEmpty():
			masters++
		case me.IsReplica():
			replicas++
		}
	}
	return masters, replicas
}

// addAndRebalance adds spare as an empty master through seed, rebalances
// with --use-empty-masters and checks that spare took a quarter of the
// slots and exactly the keys rcctl reports moved.
func addAndRebalance(t *testing.T, seed, spare *redisenv.Node, flags []string) {
	t.Helper()
	mustRcctl(t, args([]string{"add-node", spare.Addr, seed.Addr, "--no-progress"}, flags)...)
	r := mustRcctl(t, args([]string{"rebalance", seed.Addr, "--use-empty-masters", "--json"}, flags)...)
	var rep struct{ SlotsMoved, KeysMoved int64 }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rebalance --json: %v\n%s", err, r.stdout)
	}
	if rep.SlotsMoved != 4096 {
		t.Errorf("rebalance moved %d slots, want 4096", rep.SlotsMoved)
	}
	if got := secureSelf(t, spare).Slots.Count(); got != 4096 {
		t.Fatalf("new master serves %d slots, want 4096", got)
	}
	size, err := secureClient(t, spare).DBSize(testCtx(t)).Result()
	if err != nil || size == 0 || size != rep.KeysMoved {
		t.Fatalf("new master holds %d keys (%v), rebalance reported %d moved", size, err, rep.KeysMoved)
	}
}

func TestTLSCreateCheckAndRebalanceKeepEveryKey(t *testing.T) {
	const n = 20000
	certs := redisenv.NewCerts(t)
	nodes := redisenv.Start(t, 6, redisenv.WithTLS(certs))
	flags := tlsFlags(certs)
	seed := nodes[0]

	mustRcctl(t, args([]string{"create", "--replicas", "1", "--wait", "--no-progress"}, addrs(nodes), flags)...)
	mustRcctl(t, args([]string{"check", seed.Addr, "--replicas", "1"}, flags)...)
	secureReferee(t, seed)
	if m, r := countRoles(t, nodes); m != 3 || r != 3 {
		t.Fatalf("found %d masters with slots and %d replicas, want 3 and 3", m, r)
	}

	// MIGRATE between the nodes runs over TLS (tls-cluster yes): the source
	// dials the target's TLS port with its own certificate.
	spare := redisenv.Start(t, 1, redisenv.WithTLS(certs))[0]
	loadKeysWith(t, secureClusterClient(t, seed), n)
	addAndRebalance(t, seed, spare, flags)
	verifyKeysWith(t, secureClusterClient(t, seed), n)
	mustRcctl(t, args([]string{"check", seed.Addr}, flags)...)
	secureReferee(t, seed)

	// --insecure-skip-verify trusts any server certificate; the client
	// certificate is still needed (tls-auth-clients yes).
	mustRcctl(t, "status", seed.Addr, "--insecure-skip-verify", "--tls-cert", certs.ClientCertFile, "--tls-key", certs.ClientKeyFile)
}

func TestTLSRefusesWrongCAMissingCertificateAndPlainTextChangingNothing(t *testing.T) {
	certs := redisenv.NewCerts(t)
	other := redisenv.NewCerts(t)
	nodes := redisenv.Start(t, 3, redisenv.WithTLS(certs))
	before := secureWorld(t, nodes)
	cases := []struct {
		name  string
		flags []string
		want  string
	}{
		{"CA that did not sign the servers", []string{"--tls-ca", other.CAFile, "--tls-cert", certs.ClientCertFile, "--tls-key", certs.ClientKeyFile},
			"certificate is not trusted (check --tls-ca): x509: certificate signed by unknown authority"},
		{"no client certificate", []string{"--tls-ca", certs.CAFile}, "check --tls-cert"},
		{"plain text to a TLS-only node", nil, "if it serves TLS only, add --tls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rcctl(t, args([]string{"create", "--replicas", "0"}, addrs(nodes), c.flags)...)
			oneLineErr(t, r, ExitFailure, c.want)
			if !strings.Contains(r.stderr, nodes[0].Addr) && !strings.Contains(r.stderr, nodes[1].Addr) && !strings.Contains(r.stderr, nodes[2].Addr) {
				t.Errorf("error does not name the node: %q", r.stderr)
			}
			r = rcctl(t, args([]string{"check", nodes[0].Addr}, c.flags)...)
			oneLineErr(t, r, ExitFailure, c.want)
		})
	}
	assertUnchanged(t, before, secureWorld(t, nodes))
}

func TestTLSToPlainTextNodesSaysSoAndChangesNothing(t *testing.T) {
	certs := redisenv.NewCerts(t)
	nodes := newCluster(t, 3, 0)
	seed := nodes[0].Addr
	before := worldState(t, addrs(nodes))
	want := "rcctl: TLS handshake with " + seed + " got no answer: the node serves plain text on this port, not TLS (drop --tls"
	flagSets := map[string][]string{"CA": {"--tls-ca", certs.CAFile}, "system CAs": {"--tls"}, "CA and client certificate": tlsFlags(certs)}
	for name, flags := range flagSets {
		for _, cmd := range [][]string{{"check", seed}, {"status", seed}, {"rebalance", seed}} {
			t.Run(cmd[0]+" with "+name, func(t *testing.T) {
				oneLineErr(t, rcctl(t, args(cmd, flags)...), ExitFailure, want)
			})
		}
	}
	assertUnchanged(t, before, worldState(t, addrs(nodes)))

	// A node that answers nothing at all (stopped: the kernel still
	// accepts the connection) fails at --timeout, naming the handshake.
	stopped := redisenv.Start(t, 1)[0]
	pid := stopped.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop redis-server: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("continue redis-server: %v", err)
		}
	})
	oneLineErr(t, rcctl(t, "check", stopped.Addr, "--tls-ca", certs.CAFile, "--timeout", "1s"), ExitFailure,
		"rcctl: TLS handshake with "+stopped.Addr+" got no answer within 1s: is the node serving TLS on this port?")
}

func TestACLUserCreateCheckAndRebalanceWithPasswordFromEnvAndFile(t *testing.T) {
	const (
		user   = "admin"
		secret = "acl-s3cret-pw"
		n      = 20000
	)
	nodes := redisenv.Start(t, 6, redisenv.WithACLUser(user, secret))
	seed := nodes[0]
	var out strings.Builder
	run := func(a ...string) result {
		t.Helper()
		r := mustRcctl(t, a...)
		out.WriteString(r.stdout + r.stderr)
		return r
	}

	// The password from REDISCLI_AUTH, the variable rcctl reads by default.
	t.Setenv("REDISCLI_AUTH", secret)
	run(args([]string{"create", "--user", user, "--replicas", "1", "--wait"}, addrs(nodes))...)
	run("check", seed.Addr, "--user", user, "--replicas", "1")
	secureReferee(t, seed)
	// --wait returned, so every replica synced: replication authenticated
	// as the ACL user.
	if m, r := countRoles(t, nodes); m != 3 || r != 3 {
		t.Fatalf("found %d masters with slots and %d replicas, want 3 and 3", m, r)
	}

	// The password from a file and from a variable named by --password-env.
	t.Setenv("REDISCLI_AUTH", "")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("check", seed.Addr, "--user", user, "--password-file", pwFile)
	t.Setenv("RCCTL_TEST_PW", secret)
	run("status", seed.Addr, "--user", user, "--password-env", "RCCTL_TEST_PW")

	// A wrong password, or the right one for the default user, is refused
	// in one line and changes nothing.
	spare := redisenv.Start(t, 1, redisenv.WithACLUser(user, secret))[0]
	all := append(nodes[:len(nodes):len(nodes)], spare)
	before := secureWorld(t, all)
	t.Setenv("REDISCLI_AUTH", "wrong-pw")
	oneLineErr(t, rcctl(t, "add-node", spare.Addr, seed.Addr, "--user", user), ExitFailure, "WRONGPASS")
	oneLineErr(t, rcctl(t, "rebalance", seed.Addr, "--user", user, "--use-empty-masters"), ExitFailure, "WRONGPASS")
	t.Setenv("REDISCLI_AUTH", secret)
	oneLineErr(t, rcctl(t, "add-node", spare.Addr, seed.Addr), ExitFailure, "WRONGPASS")
	t.Setenv("REDISCLI_AUTH", "")
	// go-redis sends no AUTH without a password, so the commands would run
	// as the default user: a usage error, before any node is contacted.
	oneLineErr(t, rcctl(t, "add-node", spare.Addr, seed.Addr, "--user", user), ExitUsage, "--user "+user+" needs a password")
	assertUnchanged(t, before, secureWorld(t, all))

	// Slot migration authenticates MIGRATE to the target as the ACL user.
	loadKeysWith(t, secureClusterClient(t, seed), n)
	t.Setenv("REDISCLI_AUTH", secret)
	addAndRebalance(t, seed, spare, []string{"--user", user})
	verifyKeysWith(t, secureClusterClient(t, seed), n)
	run("check", seed.Addr, "--user", user)
	secureReferee(t, seed)

	if strings.Contains(out.String(), secret) {
		t.Fatalf("the password appears in rcctl's output")
	}
}
