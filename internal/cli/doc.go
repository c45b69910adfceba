// Package cli implements rcctl, the command-line tool that creates, checks,
// repairs and reshards a Redis Cluster reachable from this machine.
//
// The commands are thin: each one observes the cluster once
// (redisadmin.Discover), asks a pure planner for a plan (pkg/planner), prints
// the plan under --dry-run, and otherwise hands it to the executor
// (pkg/executor). Nothing here speaks the Redis protocol beyond what those
// packages expose.
//
// Errors: every failure reaches the user as a single line on stderr. Exit
// status 0 means success, 1 means a problem was found or an operation failed
// (ExitFailure), 2 means the command line itself was wrong (ExitUsage):
// unknown flags, conflicting flags, malformed arguments. Errors of the usage
// class are built with usageErrorf.
package cli
