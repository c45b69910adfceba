// Package monitoring tests the monitoring files the Helm chart ships: the
// alerting rules (charts/redkube/files/prometheus-rules.yaml), checked and
// unit-tested with promtool (alerts_test.yaml), and the Grafana dashboard
// (charts/redkube/files/grafana-dashboard.json), whose every metric must
// appear in a real scrape of the exporter (against a real cluster-enabled
// redis-server) or of the operator's metrics registry.
//
// The promtool tests need the binary from hack/build-tools.sh: export
// REDKUBE_TOOLS_BIN=<the folder it prints> (make test does); without it
// they are skipped. The dashboard test needs redis-server on PATH.
package monitoring
