// Package e2e holds end-to-end tests that run against a local cluster made of
// the real Kubernetes components (internal/localkube) with the node agent
// (internal/nodeagent), cluster DNS and kube-proxy
// (internal/localkube/services).
//
// The tests carry the build tag e2e and skip when the control-plane binaries
// are missing (hack/build-k8s.sh builds them; REDKUBE_K8S_BIN names their
// folder). CI runs them with `go test -tags e2e ./test/e2e/`. They need root
// (network namespaces, a bridge, nftables) and the nft, redis-server and
// redis-cli commands.
//
// tutorial_test.go reproduces the tutorial this project automates
// (shared/seed/redis-cluster-on-kubernetes.zh.md) with the manifests in
// testdata/tutorial, changed only where today's Kubernetes requires it.
package e2e
