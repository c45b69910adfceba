// Package nodeagent plays kubelet for the local cluster's nodes, running
// each pod's containers as real processes on this machine.
//
// One Agent serves several nodes. Per node it renews the node's Lease in
// kube-node-lease, posts the Ready condition, and watches the pods bound to
// the node (an informer filtered by spec.nodeName). Each pod gets a worker
// goroutine that owns everything about it:
//
//   - a network namespace with its own address on the pod bridge
//     (internal/podnet; a new address whenever the sandbox is recreated);
//   - its volumes: ConfigMap, Secret, downward API and projected files
//     written to a per-pod folder, emptyDir folders, PVCs resolved to the
//     bound PV's directory, hostPath; bind-mounted at the containers'
//     mountPaths together with a per-pod /etc/hosts and /etc/resolv.conf
//     (internal/podexec re-executes the binary as a small init that sets the
//     mounts up in a private mount namespace, then execs the command);
//   - its containers: the image or command[0] mapped to a host binary, env
//     with downward API and ConfigMap/Secret references, exec/TCP/HTTP
//     probes, restarts per restartPolicy with kubelet's exponential back-off;
//   - graceful deletion (SIGTERM, grace period, SIGKILL, teardown, then the
//     final delete with a UID precondition) and honest pod status.
//
// Per node it also serves a kubelet-style HTTPS endpoint (kubelet.go) that
// kube-apiserver proxies `kubectl logs` to: GET /containerLogs/<ns>/<pod>/
// <container> with follow, tailLines, timestamps, sinceSeconds/sinceTime,
// limitBytes, previous and stream, from the container log files
// (logs.go: CRI format, one file per instance plus the previous one). Only
// the API server's kubelet client certificate is accepted; exec, attach
// and portForward answer 501.
//
// Per-pod state (sandbox, PIDs, restart counts) is persisted under
// Config.StateDir so that a new Agent adopts the processes a previous one
// left running, or cleans up after them.
//
// Failures that concern one pod (an image with no mapping, a missing
// ConfigMap, a command that exits at once) never stop the agent: they show
// in the pod's status and as Events, and the worker retries with back-off.
// Errors returned by Run are about the agent as a whole (no bridge, no API).
//
// Every main() of a binary that embeds the agent must call
// podexec.MaybeInit first thing.
package nodeagent
