package v1alpha1_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// TestCRDHoldsConfigRules checks that the generated CRD carries exactly
// the CEL rules ConfigRules renders from the directive table, in order, on
// spec.config (hack/configgen writes them as markers; a stale CRD or a
// hand-edited marker fails here).
func TestCRDHoldsConfigRules(t *testing.T) {
	b, err := os.ReadFile(crdDir + "/redis.redkube.io_redisclusters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	config := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["config"]
	got := config.XValidations
	want := redisv1alpha1.ConfigRules()
	if len(got) != len(want) {
		t.Fatalf("CRD has %d rules on spec.config, ConfigRules %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Rule != want[i].Rule || got[i].MessageExpression != want[i].MessageExpression {
			t.Errorf("rule %d differs:\nCRD:  %s\n      %s\nwant: %s\n      %s", i, got[i].Rule, got[i].MessageExpression, want[i].Rule, want[i].MessageExpression)
		}
	}
	if config.MaxProperties == nil || *config.MaxProperties != 64 {
		t.Errorf("spec.config maxProperties = %v, want 64 (the CEL cost estimate counts on it)", config.MaxProperties)
	}
	if ml := config.AdditionalProperties.Schema.MaxLength; ml == nil || *ml != 256 {
		t.Errorf("spec.config values maxLength = %v, want 256 (the CEL cost estimate counts on it)", ml)
	}
}

// refusedByDesign are directives that must never be on the allow-list:
// they take a path, touch authentication or would break the operator.
var refusedByDesign = []string{
	"logfile", "loadmodule", "dir", "dbfilename", "appendfilename", "appenddirname", "unixsocket",
	"unixsocketperm", "aclfile", "pidfile", "include", "tls-cert-file", "tls-key-file",
	"tls-ca-cert-file", "tls-ca-cert-dir", "tls-dh-params-file", "tls-client-cert-file",
	"tls-client-key-file", "tls-key-file-pass", "tls-port", "tls-cluster", "tls-replication",
	"user", "requirepass", "masterauth", "masteruser", "rename-command", "enable-debug-command",
	"enable-module-command", "enable-protected-configs", "acllog-max-len", "acl-pubsub-default",
	"databases", "shutdown-on-sigterm", "shutdown-on-sigint", "shutdown-timeout",
	"cluster-announce-ip", "cluster-announce-port", "cluster-announce-bus-port",
	"cluster-announce-tls-port", "cluster-announce-hostname", "cluster-preferred-endpoint-type",
	"replica-announce-ip", "replica-announce-port", "slave-announce-ip", "replica-announced",
	"replicaof", "slaveof", "port", "bind", "bind-source-addr", "protected-mode", "daemonize",
	"supervised", "cluster-enabled", "cluster-config-file", "cluster-port", "syslog-enabled",
	"syslog-ident", "syslog-facility", "proc-title-template", "ignore-warnings", "server_cpulist",
	"bio_cpulist", "aof_rewrite_cpulist", "bgsave_cpulist", "socket-mark-id",
}

func TestDirectiveTable(t *testing.T) {
	ds := redisv1alpha1.ConfigDirectives
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
		if d.Name != strings.ToLower(d.Name) {
			t.Errorf("%s: names are lower case", d.Name)
		}
		if d.Example == "" && d.Kind != redisv1alpha1.KindSave {
			t.Errorf("%s: no example value", d.Name)
		}
		if errs := redisv1alpha1.ValidateConfig(map[string]redisv1alpha1.ConfigValue{d.Name: redisv1alpha1.ConfigValue(d.Example)}); len(errs) > 0 {
			t.Errorf("%s: its example %q is refused: %v", d.Name, d.Example, errs)
		}
		if d.AliasOf != "" {
			target, ok := redisv1alpha1.LookupConfigDirective(d.AliasOf)
			if !ok || target.AliasOf != "" || target.Kind != d.Kind || target.Min != d.Min || target.Max != d.Max {
				t.Errorf("%s: alias of %q, which is missing, an alias itself or of another type", d.Name, d.AliasOf)
			}
		}
		if (d.Kind == redisv1alpha1.KindInteger || d.Kind == redisv1alpha1.KindMemory) && d.Min > d.Max {
			t.Errorf("%s: min %d > max %d", d.Name, d.Min, d.Max)
		}
		if slices.Contains(redisv1alpha1.ForbiddenConfigKeys, d.Name) || slices.Contains(refusedByDesign, d.Name) {
			t.Errorf("%s is allowed, but the operator owns it or it is refused by design", d.Name)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("ConfigDirectives must be sorted and unique: %v", names)
	}
	if len(ds) < 100 {
		t.Errorf("%d directives; the table covers what people tune on Redis 7.0 (about 110)", len(ds))
	}
}

type cfg = map[string]redisv1alpha1.ConfigValue

// configCase is one spec.config and the messages it must get (none: valid).
type configCase struct {
	name   string
	config cfg
	want   []string
}

// configCases are shared by the Go validator's test and the API server's.
var configCases = []configCase{
	// Accepted: what people set.
	{name: "maxmemory in gb", config: cfg{"maxmemory": "2gb"}},
	{name: "maxmemory in bytes and upper-case unit", config: cfg{"maxmemory": "4294967296", "MaxMemory-Policy": "ALLKEYS-LRU"}},
	{name: "maxmemory 100MB", config: cfg{"maxmemory": "100MB"}},
	{name: "eviction policy", config: cfg{"maxmemory-policy": "allkeys-lru"}},
	{name: "no snapshots", config: cfg{"save": ""}},
	{name: "no snapshots as redis.conf writes it", config: cfg{"save": `""`}},
	{name: "snapshot points", config: cfg{"save": "3600 1 300 100 60 10000"}},
	{name: "expiry events", config: cfg{"notify-keyspace-events": "Ex"}},
	{name: "all keyspace events", config: cfg{"notify-keyspace-events": "KEA"}},
	{name: "pubsub output buffer", config: cfg{"client-output-buffer-limit": "pubsub 32mb 8mb 60"}},
	{name: "all output buffer classes", config: cfg{"client-output-buffer-limit": "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"}},
	{name: "node timeout", config: cfg{"cluster-node-timeout": "3000"}},
	{name: "slowlog off", config: cfg{"slowlog-log-slower-than": "-1"}},
	{name: "list size in bytes class", config: cfg{"list-max-listpack-size": "-5"}},
	{name: "client memory as percentage", config: cfg{"maxmemory-clients": "10%"}},
	{name: "yes in capitals", config: cfg{"appendonly": "YES", "lazyfree-lazy-eviction": "yes"}},
	{name: "old replica names", config: cfg{"slave-read-only": "yes", "repl-ping-slave-period": "5"}},
	// Refused: each class the probe found.
	{name: "logfile", config: cfg{"logfile": "/tmp/x.log"}, want: []string{"spec.config: logfile is not a directive redkube lets you set"}},
	{name: "loadmodule", config: cfg{"loadmodule": "/usr/lib/redis/modules/x.so"}, want: []string{"spec.config: loadmodule is not a directive redkube lets you set"}},
	{name: "user line round the password", config: cfg{"user": "default on nopass ~* +@all"}, want: []string{"spec.config: user is not a directive redkube lets you set"}},
	{name: "rename-command", config: cfg{"rename-command": "CONFIG \"\""}, want: []string{"spec.config: rename-command is not a directive"}},
	{name: "unknown directive", config: cfg{"maxmemroy": "1gb"}, want: []string{"spec.config: maxmemroy is not a directive redkube lets you set"}},
	{name: "directive newer than 7.0", config: cfg{"locale-collate": "C"}, want: []string{"spec.config: locale-collate is not a directive"}},
	{name: "owned key keeps its message", config: cfg{"Dir": "/tmp"}, want: []string{"spec.config must not set Dir: the operator manages it"}},
	{name: "save garbage", config: cfg{"save": "sometimes"}, want: []string{`spec.config: save must be "" or pairs of <seconds> <changes>`}},
	{name: "save odd count", config: cfg{"save": "3600 1 300"}, want: []string{"spec.config: save must be"}},
	{name: "save zero seconds", config: cfg{"save": "0 1"}, want: []string{"spec.config: save must be"}},
	{name: "maxmemory lots", config: cfg{"maxmemory": "lots"}, want: []string{"spec.config: maxmemory must be a memory size (bytes, or a number with k, kb, m, mb, g or gb)"}},
	{name: "maxmemory negative", config: cfg{"maxmemory": "-1"}, want: []string{"spec.config: maxmemory must be a memory size"}},
	{name: "maxmemory in tb", config: cfg{"maxmemory": "1tb"}, want: []string{"spec.config: maxmemory must be a memory size"}},
	{name: "query buffer under 1mb", config: cfg{"client-query-buffer-limit": "1000"}, want: []string{"spec.config: client-query-buffer-limit must be a memory size (bytes, or a number with k, kb, m, mb, g or gb) from 1mb"}},
	{name: "cluster-node-timeout -1", config: cfg{"cluster-node-timeout": "-1"}, want: []string{"spec.config: cluster-node-timeout must be an integer from 100 to 3600000"}},
	{name: "cluster-node-timeout 10 ms", config: cfg{"cluster-node-timeout": "10"}, want: []string{"spec.config: cluster-node-timeout must be an integer from 100 to 3600000"}},
	{name: "integer with a unit", config: cfg{"timeout": "5s"}, want: []string{"spec.config: timeout must be an integer from 0 to 2147483647"}},
	{name: "integer with a leading zero", config: cfg{"hz": "010"}, want: []string{"spec.config: hz must be an integer from 1 to 500"}},
	{name: "integer too large for Redis", config: cfg{"maxmemory-samples": "2147483648"}, want: []string{"spec.config: maxmemory-samples must be an integer from 1 to 2147483647"}},
	{name: "maxclients 1", config: cfg{"maxclients": "1"}, want: []string{"spec.config: maxclients must be an integer from 32 to 4294967295"}},
	{name: "yes/no typo", config: cfg{"appendonly": "true"}, want: []string{"spec.config: appendonly must be yes or no"}},
	{name: "unknown policy", config: cfg{"maxmemory-policy": "lru"}, want: []string{"spec.config: maxmemory-policy must be one of volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"}},
	{name: "unknown keyspace flag", config: cfg{"notify-keyspace-events": "Exq"}, want: []string{"spec.config: notify-keyspace-events must be"}},
	{name: "output buffer for masters", config: cfg{"client-output-buffer-limit": "master 0 0 0"}, want: []string{"spec.config: client-output-buffer-limit must be groups of"}},
	{name: "output buffer short group", config: cfg{"client-output-buffer-limit": "pubsub 32mb 8mb"}, want: []string{"spec.config: client-output-buffer-limit must be groups of"}},
	{name: "percentage over 100", config: cfg{"maxmemory-clients": "101%"}, want: []string{"spec.config: maxmemory-clients must be"}},
	{name: "unbalanced quote", config: cfg{"save": `"3600 1`}, want: []string{"spec.config: the value of save must not contain quotes, backslashes or control characters"}},
	{name: "quote after a value", config: cfg{"maxmemory-policy": `allkeys-lru"`}, want: []string{"spec.config: the value of maxmemory-policy must not contain quotes"}},
	{name: "second line smuggled in", config: cfg{"maxmemory": "1gb\nport 7000"}, want: []string{"spec.config: the value of maxmemory must not contain quotes, backslashes or control characters"}},
	{name: "directive set twice in two cases", config: cfg{"maxmemory": "1gb", "MAXMEMORY": "2gb"}, want: []string{"is set twice"}},
	{name: "directive and its old name", config: cfg{"replica-read-only": "yes", "slave-read-only": "no"}, want: []string{"is set twice"}},
}

func TestValidateConfig(t *testing.T) {
	for _, c := range configCases {
		t.Run(c.name, func(t *testing.T) {
			errs := redisv1alpha1.ValidateConfig(c.config)
			if len(c.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("accepted %v", c.config)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			all := strings.Join(msgs, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("messages lack %q:\n%s", w, all)
				}
			}
		})
	}
}
