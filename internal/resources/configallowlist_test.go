package resources

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// These tests ground the allow-list of spec.config (api/v1alpha1
// ConfigDirectives) in the real redis-server: every allowed directive with
// its example value starts a server through RedisConf, and the bad values
// the CRD refuses would have stopped one.

func configCluster(config redisv1alpha1.RedisConfig) *redisv1alpha1.RedisCluster {
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: "ns"}}
	redisv1alpha1.SetDefaults(rc)
	rc.Spec.Config = config
	return rc
}

// TestEveryAllowedDirectiveStartsRedis starts redis-server on a redis.conf
// rendered for a cluster whose spec.config sets every allowed directive
// (the directives in one server, their old names in another) and reads
// each back with CONFIG GET.
func TestEveryAllowedDirectiveStartsRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	for _, aliases := range []bool{false, true} {
		config := redisv1alpha1.RedisConfig{}
		for _, d := range redisv1alpha1.ConfigDirectives {
			if (d.AliasOf != "") == aliases {
				config[d.Name] = redisv1alpha1.ConfigValue(d.Example)
			}
		}
		if errs := redisv1alpha1.ValidateConfig(config); len(errs) > 0 {
			t.Fatalf("the examples are refused: %v", errs)
		}
		n := startFromBuilders(t, configCluster(config), "")
		cl := n.client("")
		ctx, cancel := context.WithTimeout(context.Background(), startupGuard)
		for key := range config {
			d, _ := redisv1alpha1.LookupConfigDirective(key)
			want := d.Example
			if d.ExampleGot != "" {
				want = d.ExampleGot
			}
			got, err := cl.ConfigGet(ctx, key).Result()
			if err != nil {
				t.Fatalf("CONFIG GET %s: %v", key, err)
			}
			if got[key] != want {
				t.Errorf("CONFIG GET %s = %q, want %q (set %q)", key, got[key], want, d.Example)
			}
		}
		cancel()
		_ = cl.Close()
		t.Logf("redis-server ran with %d directives of spec.config (aliases: %v)", len(config), aliases)
	}
}

// refusedValues are values the CRD refuses. crashes says redis-server
// itself exits on them (the rule only spares the pod a crash loop);
// otherwise why is the policy that refuses a value Redis would take.
var refusedValues = []struct {
	key, value string
	crashes    bool
	why        string
}{
	{key: "save", value: "sometimes", crashes: true},
	{key: "save", value: "3600 1 300", crashes: true},
	{key: "save", value: "0 1", crashes: true},
	{key: "save", value: `"3600 1`, crashes: true},
	{key: "maxmemory", value: "lots", crashes: true},
	{key: "maxmemory", value: "-1", crashes: true},
	{key: "maxmemory", value: "1tb", crashes: true},
	{key: "maxmemory", value: "1 gb", crashes: true},
	{key: "maxmemory-clients", value: "101%", crashes: true},
	{key: "client-query-buffer-limit", value: "1000", crashes: true},
	{key: "proto-max-bulk-len", value: "1kb", crashes: true},
	{key: "repl-backlog-size", value: "0", crashes: true},
	{key: "cluster-node-timeout", value: "-1", crashes: true},
	{key: "timeout", value: "5s", crashes: true},
	{key: "hz", value: "010", crashes: true},
	{key: "tcp-keepalive", value: "+60", crashes: true},
	{key: "maxmemory-samples", value: "2147483648", crashes: true},
	{key: "maxclients", value: "0", crashes: true},
	{key: "io-threads", value: "129", crashes: true},
	{key: "active-defrag-cycle-min", value: "0", crashes: true},
	{key: "slowlog-log-slower-than", value: "-2", crashes: true},
	{key: "appendonly", value: "true", crashes: true},
	{key: "maxmemory-policy", value: "lru", crashes: true},
	{key: "maxmemory-policy", value: `allkeys-lru"`, crashes: true},
	{key: "appendfsync", value: "sometimes", crashes: true},
	{key: "notify-keyspace-events", value: "Exq", crashes: true},
	{key: "client-output-buffer-limit", value: "master 0 0 0", crashes: true},
	{key: "client-output-buffer-limit", value: "pubsub 32mb 8mb", crashes: true},
	{key: "client-output-buffer-limit", value: "pubsub 32mb 8mb -1", crashes: true},
	{key: "cluster-node-timeout", value: "10", why: "below 100 ms healthy masters are marked failed"},
	{key: "hz", value: "501", why: "Redis clamps it to 500 silently"},
	{key: "maxclients", value: "1", why: "the operator, the exporter and the replicas need connections"},
	{key: "list-max-listpack-size", value: "-6", why: "outside Redis's documented -5..-1"},
	{key: "maxmemory", value: "1gb\nlogfile /tmp/smuggled.log", why: "a second line would smuggle in any directive"},
}

// TestRefusedValuesWouldStopRedis checks each refused value: the CRD's
// checks (ValidateConfig) refuse it, and redis-server started on the
// redis.conf RedisConf renders with it exits with a configuration error,
// unless the table names the policy that refuses it (then Redis runs).
func TestRefusedValuesWouldStopRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	for _, c := range refusedValues {
		t.Run(c.key+" "+c.value, func(t *testing.T) {
			config := redisv1alpha1.RedisConfig{c.key: redisv1alpha1.ConfigValue(c.value)}
			if errs := redisv1alpha1.ValidateConfig(config); len(errs) == 0 {
				t.Fatalf("ValidateConfig accepts %s %q", c.key, c.value)
			}
			if c.crashes == (c.why != "") {
				t.Fatalf("a case either crashes Redis or names the policy that refuses it")
			}
			// A value Redis refuses stops it while it reads its config; on a
			// loaded machine that can take longer than a second, so the
			// crash cases wait long (an exit ends the wait at once), the
			// others a second to see it keep running.
			wait := time.Second
			if c.crashes {
				wait = 20 * time.Second
			}
			exited, out := runUntilExit(t, configCluster(config), wait)
			switch {
			case c.crashes && !exited:
				t.Errorf("redis-server kept running with %s %q", c.key, c.value)
			case c.crashes && !strings.Contains(out, "FATAL CONFIG FILE ERROR"):
				t.Errorf("redis-server exited without a config error:\n%s", out)
			case !c.crashes && exited:
				t.Errorf("redis-server exited with %s %q, though it is refused by policy only (%s):\n%s", c.key, c.value, c.why, out)
			}
		})
	}
}

// runUntilExit starts redis-server on the rendered redis.conf of rc and
// reports whether it exited within wait, with its output.
func runUntilExit(t *testing.T, rc *redisv1alpha1.RedisCluster, wait time.Duration) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	conf := writeLocalConf(t, rc, freeRedisPort(t), dir, "")
	var out strings.Builder
	cmd := exec.Command("redis-server", conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) {
			t.Errorf("redis-server exited with %v, want a non-zero exit", err)
		}
		return true, out.String()
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		var ee *exec.ExitError
		if err := <-done; err != nil && !errors.As(err, &ee) {
			t.Errorf("wait for redis-server: %v", err)
		}
		return false, out.String()
	}
}
