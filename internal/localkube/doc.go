// Package localkube runs a small local Kubernetes cluster made of the real
// components: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, started as processes from binaries built by
// hack/build-k8s.sh, plus Node objects kept alive by an in-process node agent,
// an in-process directory volume provisioner (internal/storage) and an
// in-process load-balancer controller (internal/localkube/loadbalancer).
// With Options.NodeNetwork each node has an address of its own on the host
// (internal/nodenet), its InternalIP; outside.New (internal/localkube/outside)
// makes a client network that reaches only those and the load balancers.
//
// Start generates a fresh PKI in Go (one CA; serving certificates for etcd,
// the API server and the controller-manager/scheduler endpoints; client
// certificates for the admin, each component and each node), picks free
// loopback ports, starts the processes in order with readiness waits,
// registers the nodes and returns a Cluster with an admin kubeconfig and
// clientset. Stop stops everything Start started and removes what it created.
// StopKeepState stops it as a power cut would (pods killed) and keeps the
// state; Start with Options.ReuseState (or Cluster.Restart) starts it again
// on that state with the same PKI, ports, etcd data and nodes.
// Tests call Start/Stop directly; cmd/localkube wraps them in a CLI
// (up, down, status, node stop|start).
//
// Everything a cluster owns lives in its state folder: pki/, kubeconfigs/,
// admin.kubeconfig, etcd/, logs/ (one file per process), pids/ (one record
// per process, used by Down), volumes/, agent/, services/, cluster.json
// (ports and nodes, for a reuse) and control.sock.
//
// Errors: Start and Stop return wrapped errors. A component that exits
// during Start makes Start fail with the tail of that component's log; one
// that exits later closes Cluster.Failed. ErrNoBinaries means the
// control-plane binaries were not found.
//
// Logging uses log/slog (Options.Logger) with constant messages and
// key/value pairs; the components' own output goes to their log files.
package localkube
