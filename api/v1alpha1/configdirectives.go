package v1alpha1

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ConfigKind is the type of value a redis.conf directive takes.
type ConfigKind string

const (
	// KindYesNo is yes or no (any case).
	KindYesNo ConfigKind = "yes/no"
	// KindInteger is a decimal integer between Min and Max, written as
	// Redis's string2ll reads it: no sign but '-', no leading zeros.
	KindInteger ConfigKind = "integer"
	// KindMemory is a size in bytes: digits and an optional unit b, k
	// (1000), kb (1024), m, mb, g or gb, any case; between Min and Max bytes.
	KindMemory ConfigKind = "memory size"
	// KindMemoryOrPercent is a KindMemory size or a percentage of maxmemory
	// from 0% to 100%.
	KindMemoryOrPercent ConfigKind = "memory size or percentage"
	// KindEnum is one of Values (any case).
	KindEnum ConfigKind = "enum"
	// KindSave is "" (no snapshots) or pairs "<seconds> <changes>": seconds
	// at least 1, changes at least 0.
	KindSave ConfigKind = "save points"
	// KindKeyspaceEvents is "" or letters from KeyspaceEventFlags.
	KindKeyspaceEvents ConfigKind = "keyspace event flags"
	// KindOutputBufferLimit is one to four groups "<class> <hard> <soft>
	// <seconds>": class normal, replica, slave or pubsub; hard and soft
	// memory sizes; seconds at least 0.
	KindOutputBufferLimit ConfigKind = "client output buffer limits"
)

// KeyspaceEventFlags are the letters notify-keyspace-events accepts in
// Redis 7.0.
const KeyspaceEventFlags = "KEg$lshzxetmdnA"

// ConfigDirective is one redis.conf directive spec.config may set.
type ConfigDirective struct {
	// Name is the directive, lower case.
	Name string
	// Kind is the type of its value.
	Kind ConfigKind
	// Min and Max bound KindInteger and KindMemory values (bytes).
	Min, Max int64
	// Values are the words a KindEnum takes, lower case.
	Values []string
	// AliasOf names the directive this one is Redis's other name for.
	AliasOf string
	// Example is a representative good value, started by a real
	// redis-server in the tests; ExampleGot is what CONFIG GET returns
	// for it when that differs from Example.
	Example, ExampleGot string
	// Note says why a bound is stricter than Redis's own (a policy of
	// redkube), or anything else a user should know.
	Note string
}

// Bounds of Redis's integer types.
const (
	intMax  = 1<<31 - 1
	uintMax = 1<<32 - 1
	// longMax stands for LONG_MAX and LLONG_MAX: the largest 18-digit
	// number, as integers have at most 18 digits
	// (no overflow in int64 arithmetic, Go or CEL).
	longMax  = 999999999999999999
	mebibyte = 1 << 20
)

// MinClusterNodeTimeoutMillis is the smallest cluster-node-timeout
// spec.config may set: below it, a scheduling hiccup or a GC pause of the
// node agent marks healthy masters as failed.
const MinClusterNodeTimeoutMillis = 100

func yesNo(name, example string) ConfigDirective {
	return ConfigDirective{Name: name, Kind: KindYesNo, Example: example}
}

func integer(name string, minV, maxV int64, example string) ConfigDirective {
	return ConfigDirective{Name: name, Kind: KindInteger, Min: minV, Max: maxV, Example: example}
}

func memory(name string, minV int64, example, got string) ConfigDirective {
	return ConfigDirective{Name: name, Kind: KindMemory, Min: minV, Max: longMax, Example: example, ExampleGot: got}
}

func enum(name, example string, values ...string) ConfigDirective {
	return ConfigDirective{Name: name, Kind: KindEnum, Values: values, Example: example}
}

func alias(d ConfigDirective, of string) ConfigDirective {
	d.AliasOf = of
	return d
}

func note(d ConfigDirective, n string) ConfigDirective {
	d.Note = n
	return d
}

// ConfigDirectives are the redis.conf directives (Redis 7.0) spec.config
// may set, sorted by name. Anything else is refused: directives that take
// a path (logfile, loadmodule, dir, *filename, unixsocket, tls-*-file,
// aclfile, pidfile), that touch authentication (user, requirepass,
// masterauth, rename-command, enable-*-command), that the operator owns
// (ForbiddenConfigKeys) or whose change would break it (databases,
// shutdown-*, cluster-announce-*, cluster-preferred-endpoint-type, ...).
// The CRD's CEL rules are generated from this table (ConfigRules) and
// ValidateConfig applies the same checks in Go. See
// docs/design/2026-12-04-config-allowlist.md.
var ConfigDirectives = sortedDirectives([]ConfigDirective{
	// Memory and eviction.
	memory("maxmemory", 0, "2gb", "2147483648"),
	enum("maxmemory-policy", "allkeys-lru", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
		"allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
	integer("maxmemory-samples", 1, intMax, "10"),
	integer("maxmemory-eviction-tenacity", 0, 100, "20"),
	{Name: "maxmemory-clients", Kind: KindMemoryOrPercent, Min: 0, Max: longMax, Example: "5%", ExampleGot: "5%"},
	integer("lfu-log-factor", 0, intMax, "10"),
	integer("lfu-decay-time", 0, intMax, "1"),
	yesNo("replica-ignore-maxmemory", "yes"),
	alias(yesNo("slave-ignore-maxmemory", "yes"), "replica-ignore-maxmemory"),
	yesNo("lazyfree-lazy-eviction", "yes"),
	yesNo("lazyfree-lazy-expire", "yes"),
	yesNo("lazyfree-lazy-server-del", "yes"),
	yesNo("lazyfree-lazy-user-del", "yes"),
	yesNo("lazyfree-lazy-user-flush", "yes"),
	yesNo("replica-lazy-flush", "yes"),
	alias(yesNo("slave-lazy-flush", "yes"), "replica-lazy-flush"),
	note(yesNo("activedefrag", "no"), "yes needs a redis-server built with Redis's own jemalloc (the redis image is; Debian's package is not and exits)"),
	memory("active-defrag-ignore-bytes", 1, "200mb", "209715200"),
	integer("active-defrag-threshold-lower", 0, 1000, "10"),
	integer("active-defrag-threshold-upper", 0, 1000, "100"),
	integer("active-defrag-cycle-min", 1, 99, "1"),
	integer("active-defrag-cycle-max", 1, 99, "25"),
	integer("active-defrag-max-scan-fields", 1, longMax, "1000"),
	yesNo("jemalloc-bg-thread", "yes"),
	yesNo("disable-thp", "yes"),
	enum("oom-score-adj", "no", "no", "yes", "relative", "absolute"),

	// Persistence.
	{Name: "save", Kind: KindSave, Example: "3600 1 300 100"},
	yesNo("appendonly", "yes"),
	enum("appendfsync", "everysec", "always", "everysec", "no"),
	yesNo("no-appendfsync-on-rewrite", "yes"),
	integer("auto-aof-rewrite-percentage", 0, intMax, "100"),
	memory("auto-aof-rewrite-min-size", 0, "64mb", "67108864"),
	yesNo("aof-use-rdb-preamble", "yes"),
	yesNo("aof-load-truncated", "yes"),
	yesNo("aof-timestamp-enabled", "no"),
	yesNo("aof-rewrite-incremental-fsync", "yes"),
	yesNo("rdbcompression", "yes"),
	yesNo("rdbchecksum", "yes"),
	yesNo("rdb-save-incremental-fsync", "yes"),
	yesNo("rdb-del-sync-files", "no"),
	yesNo("stop-writes-on-bgsave-error", "no"),
	enum("sanitize-dump-payload", "clients", "no", "yes", "clients"),

	// Server, clients and logging.
	note(integer("hz", 1, 500, "20"), "Redis clamps values outside 1..500; redkube refuses them instead"),
	yesNo("dynamic-hz", "yes"),
	integer("active-expire-effort", 1, 10, "2"),
	yesNo("activerehashing", "yes"),
	integer("io-threads", 1, 128, "2"),
	yesNo("io-threads-do-reads", "no"),
	enum("loglevel", "notice", "debug", "verbose", "notice", "warning"),
	yesNo("crash-log-enabled", "yes"),
	yesNo("crash-memcheck-enabled", "yes"),
	integer("slowlog-log-slower-than", -1, longMax, "20000"),
	integer("slowlog-max-len", 0, longMax, "256"),
	integer("latency-monitor-threshold", 0, longMax, "100"),
	yesNo("latency-tracking", "yes"),
	{Name: "notify-keyspace-events", Kind: KindKeyspaceEvents, Example: "Ex", ExampleGot: "xE"},
	integer("timeout", 0, intMax, "300"),
	integer("tcp-keepalive", 0, intMax, "60"),
	integer("tcp-backlog", 0, intMax, "511"),
	note(integer("maxclients", 32, uintMax, "1000"), "at least 32: the operator, the exporter and the replicas need connections (Redis allows 1)"),
	{Name: "client-output-buffer-limit", Kind: KindOutputBufferLimit, Example: "pubsub 32mb 8mb 60",
		ExampleGot: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
	memory("client-query-buffer-limit", mebibyte, "512mb", "536870912"),
	memory("proto-max-bulk-len", mebibyte, "256mb", "268435456"),
	integer("busy-reply-threshold", 0, longMax, "5000"),
	alias(integer("lua-time-limit", 0, longMax, "5000"), "busy-reply-threshold"),
	integer("tracking-table-max-keys", 0, longMax, "1000000"),

	// Encodings.
	integer("hash-max-listpack-entries", 0, longMax, "512"),
	memory("hash-max-listpack-value", 0, "64", "64"),
	alias(integer("hash-max-ziplist-entries", 0, longMax, "512"), "hash-max-listpack-entries"),
	alias(memory("hash-max-ziplist-value", 0, "64", "64"), "hash-max-listpack-value"),
	integer("zset-max-listpack-entries", 0, longMax, "128"),
	memory("zset-max-listpack-value", 0, "64", "64"),
	alias(integer("zset-max-ziplist-entries", 0, longMax, "128"), "zset-max-listpack-entries"),
	alias(memory("zset-max-ziplist-value", 0, "64", "64"), "zset-max-listpack-value"),
	note(integer("list-max-listpack-size", -5, intMax, "-2"), "-5..-1 (node size 4 kb..64 kb) or a count of entries; Redis takes any int"),
	alias(note(integer("list-max-ziplist-size", -5, intMax, "-2"), "as list-max-listpack-size"), "list-max-listpack-size"),
	integer("list-compress-depth", 0, intMax, "1"),
	integer("set-max-intset-entries", 0, longMax, "512"),
	memory("stream-node-max-bytes", 0, "4kb", "4096"),
	integer("stream-node-max-entries", 0, longMax, "100"),
	memory("hll-sparse-max-bytes", 0, "3000", "3000"),

	// Cluster.
	note(integer("cluster-node-timeout", MinClusterNodeTimeoutMillis, 3600000, "3000"),
		"milliseconds, 100 to 3600000 (an hour); Redis allows 0 and more; the operator's default is 5000"),
	integer("cluster-replica-validity-factor", 0, intMax, "10"),
	alias(integer("cluster-slave-validity-factor", 0, intMax, "10"), "cluster-replica-validity-factor"),
	integer("cluster-migration-barrier", 0, intMax, "1"),
	yesNo("cluster-allow-replica-migration", "yes"),
	yesNo("cluster-require-full-coverage", "no"),
	yesNo("cluster-replica-no-failover", "no"),
	alias(yesNo("cluster-slave-no-failover", "no"), "cluster-replica-no-failover"),
	yesNo("cluster-allow-reads-when-down", "no"),
	yesNo("cluster-allow-pubsubshard-when-down", "yes"),
	memory("cluster-link-sendbuf-limit", 0, "64mb", "67108864"),

	// Replication.
	memory("repl-backlog-size", 1, "64mb", "67108864"),
	integer("repl-backlog-ttl", 0, longMax, "3600"),
	integer("repl-timeout", 1, intMax, "60"),
	integer("repl-ping-replica-period", 1, intMax, "10"),
	alias(integer("repl-ping-slave-period", 1, intMax, "10"), "repl-ping-replica-period"),
	yesNo("repl-diskless-sync", "yes"),
	integer("repl-diskless-sync-delay", 0, intMax, "5"),
	integer("repl-diskless-sync-max-replicas", 0, intMax, "0"),
	enum("repl-diskless-load", "disabled", "disabled", "on-empty-db", "swapdb"),
	yesNo("repl-disable-tcp-nodelay", "no"),
	integer("min-replicas-to-write", 0, intMax, "0"),
	alias(integer("min-slaves-to-write", 0, intMax, "0"), "min-replicas-to-write"),
	integer("min-replicas-max-lag", 0, intMax, "10"),
	alias(integer("min-slaves-max-lag", 0, intMax, "10"), "min-replicas-max-lag"),
	yesNo("replica-serve-stale-data", "yes"),
	alias(yesNo("slave-serve-stale-data", "yes"), "replica-serve-stale-data"),
	yesNo("replica-read-only", "yes"),
	alias(yesNo("slave-read-only", "yes"), "replica-read-only"),
	integer("replica-priority", 0, intMax, "100"),
	alias(integer("slave-priority", 0, intMax, "100"), "replica-priority"),
})

func sortedDirectives(ds []ConfigDirective) []ConfigDirective {
	slices.SortFunc(ds, func(a, b ConfigDirective) int { return strings.Compare(a.Name, b.Name) })
	return ds
}

// LookupConfigDirective returns the directive name (any case) names.
func LookupConfigDirective(name string) (ConfigDirective, bool) {
	name = strings.ToLower(name)
	i, ok := slices.BinarySearchFunc(ConfigDirectives, name, func(d ConfigDirective, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return ConfigDirective{}, false
	}
	return ConfigDirectives[i], true
}

// Canonical is the directive's own name, or the one it is an alias of.
func (d ConfigDirective) Canonical() string {
	if d.AliasOf != "" {
		return d.AliasOf
	}
	return d.Name
}

// The value grammars, shared by the CEL rules and ValidateConfig. Memory
// digits are bounded per unit so that the size in bytes stays below 2^60
// (no overflow in CEL's int64 arithmetic).
const (
	reInteger     = `^(0|-?[1-9][0-9]{0,17})$`
	reMemoryToken = `([0-9]{1,18}b?|[0-9]{1,15}kb?|[0-9]{1,12}mb?|[0-9]{1,9}gb?)`
	reMemory      = `^` + reMemoryToken + `$`
	rePercent     = `^(100|[1-9]?[0-9])%$`
	reSave        = `^([1-9][0-9]{0,8} (0|[1-9][0-9]{0,8})( [1-9][0-9]{0,8} (0|[1-9][0-9]{0,8})){0,7})?$`
	reKeyspace    = `^[KEg$lshzxetmdnA]*$`
	reOBLGroup    = `(normal|replica|slave|pubsub) ` + reMemoryToken + ` ` + reMemoryToken + ` [0-9]{1,9}`
	reOBL         = `^` + reOBLGroup + `( ` + reOBLGroup + `){0,3}$`
	// reBadChars are characters redis.conf's line parser (sdssplitargs)
	// treats specially or chokes on: quotes, backslashes, control
	// characters.
	reBadChars = `["'\\\x00-\x1f\x7f]`
)

// emptyQuoted is the value as redis.conf writes an empty string; accepted
// as "" where an empty value is valid.
const emptyQuoted = `""`

var (
	matchInteger  = regexp.MustCompile(reInteger)
	matchMemory   = regexp.MustCompile(reMemory)
	matchPercent  = regexp.MustCompile(rePercent)
	matchSave     = regexp.MustCompile(reSave)
	matchKeyspace = regexp.MustCompile(reKeyspace)
	matchOBL      = regexp.MustCompile(reOBL)
	matchBadChars = regexp.MustCompile(reBadChars)
)

// memoryUnits are the multipliers of Redis's memtoull, by lower-case unit.
var memoryUnits = map[string]int64{"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 * 1000, "mb": 1 << 20, "g": 1000 * 1000 * 1000, "gb": 1 << 30}

// memoryBytes is the size a value matching reMemory stands for.
func memoryBytes(v string) int64 {
	v = strings.ToLower(v)
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(v)
	}
	n, _ := strconv.ParseInt(v[:i], 10, 64)
	return n * memoryUnits[v[i:]]
}

// ConfigDocURL is where the messages send users.
const ConfigDocURL = "docs/configuration.md"

// Messages shared by the CEL rules and ValidateConfig. %s is the key as
// the user wrote it.
const (
	msgNotAllowed = "spec.config: %s is not a directive redkube lets you set (it takes a path, touches authentication, belongs to the operator or is unknown); see " + ConfigDocURL
	msgOwned      = "spec.config must not set %s: the operator manages it"
	msgBadChars   = "spec.config: the value of %s must not contain quotes, backslashes or control characters (redis-server refuses an unbalanced quote and stops)"
	msgDuplicate  = "spec.config: %s is set twice (names compare case-insensitively, and old names such as slave-read-only stand for their replica-* twins)"
)

func (d ConfigDirective) expectation() string {
	switch d.Kind {
	case KindYesNo:
		return "yes or no"
	case KindInteger:
		return fmt.Sprintf("an integer from %d to %d", d.Min, d.Max)
	case KindMemory:
		e := "a memory size (bytes, or a number with k, kb, m, mb, g or gb)"
		if d.Min > 0 {
			e += " from " + sizeString(d.Min)
		}
		return e
	case KindMemoryOrPercent:
		return "a memory size (bytes, or a number with k, kb, m, mb, g or gb) or a percentage of maxmemory from 0% to 100%"
	case KindEnum:
		return "one of " + strings.Join(d.Values, ", ")
	case KindSave:
		return `"" or pairs of <seconds> <changes> separated by single spaces (seconds at least 1), such as "3600 1 300 100"`
	case KindKeyspaceEvents:
		return `"" or letters from ` + KeyspaceEventFlags
	case KindOutputBufferLimit:
		return "groups of <class> <hard limit> <soft limit> <soft seconds>, class normal, replica or pubsub, limits memory sizes, such as \"pubsub 32mb 8mb 60\""
	}
	return string(d.Kind)
}

func sizeString(v int64) string {
	if v >= mebibyte && v%mebibyte == 0 {
		return fmt.Sprintf("%dmb", v/mebibyte)
	}
	return fmt.Sprintf("%d bytes", v)
}

// valueMessage is the message for a value of key that d refuses.
func (d ConfigDirective) valueMessage(key string) string {
	return fmt.Sprintf("spec.config: %s must be %s", key, d.expectation())
}

// validValue reports whether v is a good value of d.
func (d ConfigDirective) validValue(v string) bool {
	switch d.Kind {
	case KindYesNo:
		v = strings.ToLower(v)
		return v == "yes" || v == "no"
	case KindInteger:
		if !matchInteger.MatchString(v) {
			return false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && n >= d.Min && n <= d.Max
	case KindMemory:
		if !matchMemory.MatchString(strings.ToLower(v)) {
			return false
		}
		n := memoryBytes(v)
		return n >= d.Min && n <= d.Max
	case KindMemoryOrPercent:
		return matchPercent.MatchString(v) || matchMemory.MatchString(strings.ToLower(v))
	case KindEnum:
		return slices.Contains(d.Values, strings.ToLower(v))
	case KindSave:
		return v == emptyQuoted || matchSave.MatchString(v)
	case KindKeyspaceEvents:
		return v == emptyQuoted || matchKeyspace.MatchString(v)
	case KindOutputBufferLimit:
		return matchOBL.MatchString(strings.ToLower(v))
	}
	return false
}

// ConfigError is one problem ValidateConfig found in spec.config.
type ConfigError struct {
	// Key is the key as written in spec.config.
	Key string
	// Message is the API server's message for it.
	Message string
}

func (e ConfigError) Error() string { return e.Message }

// ValidateConfig checks spec.config against ConfigDirectives with the same
// checks the CRD's CEL rules make, and returns one error per offending key
// and check, sorted by key. The operator uses it for objects stored before
// the rules existed (the API server keeps an unchanged invalid field on
// update), so a bad directive never reaches a pod.
func ValidateConfig(config map[string]ConfigValue) []ConfigError {
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := map[string]string{}
	var errs []ConfigError
	for _, k := range keys {
		v := string(config[k])
		lower := strings.ToLower(k)
		if slices.Contains(ForbiddenConfigKeys, lower) {
			errs = append(errs, ConfigError{k, fmt.Sprintf(msgOwned, k)})
			continue
		}
		d, ok := LookupConfigDirective(k)
		if !ok {
			errs = append(errs, ConfigError{k, fmt.Sprintf(msgNotAllowed, k)})
			continue
		}
		if other, dup := seen[d.Canonical()]; dup {
			errs = append(errs, ConfigError{k, fmt.Sprintf(msgDuplicate, other)})
		}
		seen[d.Canonical()] = k
		if v != emptyQuoted && matchBadChars.MatchString(v) {
			errs = append(errs, ConfigError{k, fmt.Sprintf(msgBadChars, k)})
		}
		if !d.validValue(v) {
			errs = append(errs, ConfigError{k, d.valueMessage(k)})
		}
	}
	return errs
}
