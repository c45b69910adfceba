// Package exporter is a Prometheus collector for one Redis server, the
// metrics sidecar the operator runs beside every Redis container.
//
// A Collector reads INFO (all sections) and, on a node with cluster mode on,
// CLUSTER INFO, once per scrape, and turns the replies into constant
// metrics. Names and labels follow oliver006/redis_exporter for the subset
// exported (redis_up, redis_instance_info, redis_db_keys,
// redis_connected_slave_offset_bytes, redis_cluster_state, ...), so
// dashboards and alerts written for that exporter read these series too.
// The list is in docs/monitoring.md.
//
// # Errors
//
// A scrape never fails: when Redis cannot be reached, refuses the
// credentials or returns a reply that cannot be parsed, the scrape reports
// redis_up 0 (or, when only CLUSTER INFO failed, omits the cluster metrics)
// and increments redis_exporter_scrape_errors_total; the error itself goes
// to the Options.OnError callback, where the command logs it. New returns
// an error only for options it cannot use.
package exporter
