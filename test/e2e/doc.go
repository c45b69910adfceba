// Package e2e holds end-to-end tests that run against a local cluster made of
// the real Kubernetes components (internal/localkube) with the node agent
// (internal/nodeagent), cluster DNS and kube-proxy
// (internal/localkube/services), started by the environment the operator
// benchmarks use too (test/harness); harness_test.go turns its errors into
// test failures.
//
// The tests skip when the control-plane binaries are missing and
// REDKUBE_K8S_BIN is unset (hack/build-k8s.sh builds them; `make test` sets
// it, so CI never skips) or when not run as root. They need root (network
// namespaces, a bridge, nftables) and the nft (Debian package nftables),
// redis-server and redis-cli commands. TestTutorial uses the local cluster's
// own pod bridge (kubenet.BridgeName), so only one such test runs at a time;
// TestOperator runs on a bridge and /24 private to its process.
//
// tutorial_test.go reproduces the tutorial this project automates
// (shared/seed/redis-cluster-on-kubernetes.zh.md) with the manifests in
// testdata/tutorial, changed only where today's Kubernetes requires it.
package e2e
