package exporter

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// field maps one numeric INFO or CLUSTER INFO field to a metric.
type field struct {
	key  string
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descUp           = newDesc("redis_up", "1 when INFO could be read from Redis in this scrape, 0 otherwise.")
	descInstanceInfo = newDesc("redis_instance_info", "Constant 1, labelled with the server's role, version and mode.",
		"role", "redis_version", "redis_mode")
	descDBKeys            = newDesc("redis_db_keys", "Keys in the database.", "db")
	descSlaveOffset       = newDesc("redis_connected_slave_offset_bytes", "Replication offset a connected replica acknowledged.", "slave_ip", "slave_port", "slave_state")
	descSlaveLag          = newDesc("redis_connected_slave_lag_seconds", "Seconds since a connected replica last acknowledged.", "slave_ip", "slave_port", "slave_state")
	descMasterLinkUp      = newDesc("redis_master_link_up", "On a replica: 1 when the link to its master is up (master_link_status:up), 0 otherwise.")
	descClusterState      = newDesc("redis_cluster_state", "1 when CLUSTER INFO reports cluster_state:ok, 0 otherwise.")
	descClusterEnabled    = newDesc("redis_cluster_enabled", "1 when the server runs with cluster-enabled yes.")
	descMemoryUsed        = newDesc("redis_memory_used_bytes", "Bytes allocated by Redis (used_memory).")
	descMemoryMax         = newDesc("redis_memory_max_bytes", "The maxmemory setting in bytes; 0 means no limit.")
	descUptime            = newDesc("redis_uptime_in_seconds", "Seconds since the server started.")
	descConnectedClients  = newDesc("redis_connected_clients", "Client connections, replicas excluded.")
	descBlockedClients    = newDesc("redis_blocked_clients", "Clients waiting in a blocking call.")
	descConnectedSlaves   = newDesc("redis_connected_slaves", "Replicas connected to this server.")
	descMasterReplOffset  = newDesc("redis_master_repl_offset", "The server's replication offset (master_repl_offset).")
	descCommandsProcessed = newDesc("redis_commands_processed_total", "Commands processed since the server started.")
	descKeyspaceHits      = newDesc("redis_keyspace_hits_total", "Successful key lookups.")
	descKeyspaceMisses    = newDesc("redis_keyspace_misses_total", "Failed key lookups.")
	descEvictedKeys       = newDesc("redis_evicted_keys_total", "Keys evicted because of the maxmemory limit.")
	descExpiredKeys       = newDesc("redis_expired_keys_total", "Key expiry events.")
	descRejectedConns     = newDesc("redis_rejected_connections_total", "Connections rejected because of the maxclients limit.")
)

// infoFields are the numeric INFO fields exported one to one.
var infoFields = []field{
	{"uptime_in_seconds", descUptime, prometheus.GaugeValue},
	{"connected_clients", descConnectedClients, prometheus.GaugeValue},
	{"blocked_clients", descBlockedClients, prometheus.GaugeValue},
	{"used_memory", descMemoryUsed, prometheus.GaugeValue},
	{"maxmemory", descMemoryMax, prometheus.GaugeValue},
	{"total_commands_processed", descCommandsProcessed, prometheus.CounterValue},
	{"keyspace_hits", descKeyspaceHits, prometheus.CounterValue},
	{"keyspace_misses", descKeyspaceMisses, prometheus.CounterValue},
	{"evicted_keys", descEvictedKeys, prometheus.CounterValue},
	{"expired_keys", descExpiredKeys, prometheus.CounterValue},
	{"rejected_connections", descRejectedConns, prometheus.CounterValue},
	{"connected_slaves", descConnectedSlaves, prometheus.GaugeValue},
	{"master_repl_offset", descMasterReplOffset, prometheus.GaugeValue},
	{"cluster_enabled", descClusterEnabled, prometheus.GaugeValue},
}

// clusterFields are the numeric CLUSTER INFO fields exported one to one.
var clusterFields = []field{
	{"cluster_slots_assigned", newDesc("redis_cluster_slots_assigned", "Slots bound to a node."), prometheus.GaugeValue},
	{"cluster_slots_ok", newDesc("redis_cluster_slots_ok", "Slots served by a node that is neither FAIL nor PFAIL."), prometheus.GaugeValue},
	{"cluster_slots_pfail", newDesc("redis_cluster_slots_pfail", "Slots served by a node this node considers PFAIL."), prometheus.GaugeValue},
	{"cluster_slots_fail", newDesc("redis_cluster_slots_fail", "Slots served by a node the cluster agreed is FAIL."), prometheus.GaugeValue},
	{"cluster_known_nodes", newDesc("redis_cluster_known_nodes", "Nodes in this node's view of the cluster, handshaking ones included."), prometheus.GaugeValue},
	{"cluster_size", newDesc("redis_cluster_size", "Masters serving at least one slot."), prometheus.GaugeValue},
	{"cluster_current_epoch", newDesc("redis_cluster_current_epoch", "The cluster's current epoch."), prometheus.GaugeValue},
	{"cluster_my_epoch", newDesc("redis_cluster_my_epoch", "The config epoch of this node (of its master, on a replica)."), prometheus.GaugeValue},
}

// allDescs is every descriptor Describe reports.
var allDescs = func() []*prometheus.Desc {
	d := []*prometheus.Desc{descUp, descInstanceInfo, descDBKeys, descSlaveOffset, descSlaveLag, descMasterLinkUp, descClusterState}
	for _, f := range infoFields {
		d = append(d, f.desc)
	}
	for _, f := range clusterFields {
		d = append(d, f.desc)
	}
	return d
}()

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// emitNumbers sends the fields of fs present in in. A field missing from
// the reply (an older Redis, a section a replica lacks) is skipped; a
// malformed one is an error.
func emitNumbers(in info, fs []field, ch chan<- prometheus.Metric) error {
	var errs []error
	for _, f := range fs {
		s, ok := in.fields[f.key]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", f.key, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v)
	}
	return errors.Join(errs...)
}

// emitInfo sends the metrics of an INFO all reply.
func emitInfo(in info, ch chan<- prometheus.Metric) error {
	errs := []error{emitNumbers(in, infoFields, ch)}
	ch <- gauge(descInstanceInfo, 1, in.fields["role"], in.fields["redis_version"], in.fields["redis_mode"])
	if in.fields["role"] == "slave" {
		ch <- gauge(descMasterLinkUp, b2f(in.fields["master_link_status"] == "up"))
	}
	for _, k := range sortedKeys(in.fields) {
		v := in.fields[k]
		switch {
		case isIndexed(k, "db"):
			kv, err := parseKV(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("field %s: %w", k, err))
				continue
			}
			n, err := strconv.ParseFloat(kv["keys"], 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("field %s keys: %w", k, err))
				continue
			}
			ch <- gauge(descDBKeys, n, k)
		case isIndexed(k, "slave"):
			r, err := parseSlave(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("field %s: %w", k, err))
				continue
			}
			ch <- gauge(descSlaveOffset, r.offset, r.ip, r.port, r.state)
			ch <- gauge(descSlaveLag, r.lag, r.ip, r.port, r.state)
		}
	}
	return errors.Join(errs...)
}

// emitClusterInfo sends the metrics of a CLUSTER INFO reply.
func emitClusterInfo(in info, ch chan<- prometheus.Metric) error {
	state, ok := in.fields["cluster_state"]
	if !ok {
		return errors.New("CLUSTER INFO without cluster_state")
	}
	ch <- gauge(descClusterState, b2f(state == "ok"))
	return emitNumbers(in, clusterFields, ch)
}

// slave is one "slaveN:ip=...,port=...,state=...,offset=...,lag=..." line
// of INFO replication.
type slave struct {
	ip, port, state string
	offset, lag     float64
}

func parseSlave(v string) (slave, error) {
	kv, err := parseKV(v)
	if err != nil {
		return slave{}, err
	}
	r := slave{ip: kv["ip"], port: kv["port"], state: kv["state"]}
	if r.ip == "" || r.port == "" {
		return slave{}, fmt.Errorf("replica %q without ip or port", v)
	}
	if r.offset, err = strconv.ParseFloat(kv["offset"], 64); err != nil {
		return slave{}, fmt.Errorf("replica offset: %w", err)
	}
	if r.lag, err = strconv.ParseFloat(kv["lag"], 64); err != nil {
		return slave{}, fmt.Errorf("replica lag: %w", err)
	}
	return r, nil
}

// parseKV splits "a=1,b=2".
func parseKV(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not a list of key=value", v)
		}
		m[k] = val
	}
	return m, nil
}

// isIndexed reports whether k is prefix followed by a decimal index, like
// "db0" or "slave12".
func isIndexed(k, prefix string) bool {
	n, ok := strings.CutPrefix(k, prefix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
