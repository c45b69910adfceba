// Package proc runs the long-lived child processes of redkube's launchers
// and reads what they leave behind. The local Kubernetes control plane
// (internal/localkube), its DNS server and kube-proxy
// (internal/localkube/services) and the manager binary the benchmarks run
// (test/harness) are each one Process:
//
//   - Start runs a binary with its stdout and stderr appended to a log file,
//     in its own process group (a Ctrl-C at the terminal reaches only the
//     launcher, which then stops its children in order), killed by the
//     kernel when the launcher dies;
//   - Process.WaitReady polls a readiness check (HTTPOK for an endpoint
//     that answers 200) until it passes, the process exits or the context
//     ends;
//   - Process.Stop sends SIGTERM to the process group and SIGKILL after a
//     grace period, and returns once the process is reaped.
//
// Tail returns the last lines of a log file, the one way every launcher
// and test in this repository shows a log; Status reads a field of
// /proc/<pid>/status (VmRSS, VmHWM, ...).
//
// # Errors
//
// Errors are wrapped (%w) with the process's name and what was being done.
// A process that ended is described by Process.Err: its exit status (a
// clean exit of a process that should keep running says "exit status 0")
// and the last lines of its log. WaitReady's errors wrap the context's
// (errors.Is(err, context.DeadlineExceeded)) and the last failed check.
// Tail never fails: a log it cannot read is named in the text it returns,
// since a tail only decorates another error.
//
// The package has no Kubernetes dependency and runs on Linux only
// (process groups, the parent-death signal, /proc).
package proc
