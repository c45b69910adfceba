// Package podexec starts a pod's container processes and exec probes inside
// the pod's namespaces, without container images.
//
// A container process is started by re-executing the current binary
// (/proc/self/exe) with argv[0] set to InitArg0 and a JSON Spec in the
// environment. That "pod init" runs in a fresh mount and UTS namespace
// (clone flags), joins the pod's network namespace, makes / a recursive
// slave (so nothing it mounts leaks to the host while host unmounts still
// reach it), bind-mounts the pod's volumes and its /etc/hosts and
// /etc/resolv.conf at their targets, sets the hostname, changes directory
// and finally execve(2)s the container command. The PID the agent sees is
// therefore the container's own PID.
//
// A mount target that does not exist on the host is never created there:
// its nearest existing parent directory is covered by an overlayfs whose
// upper layer lives in the pod's state directory, and the mount point is
// made in that upper layer.
//
// Exec probes use the same re-exec in "join" mode: setns(2) into the mount,
// network and UTS namespaces of the running container, then execve(2).
//
// Every main() that may start pods must call MaybeInit first thing; it
// returns at once in a normal process. Errors in the init itself are
// written to stderr (the container's log) and the init exits with code
// InitFailedExitCode.
package podexec
