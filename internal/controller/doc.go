// Package controller is the RedisCluster controller: it turns one
// RedisCluster object into the Kubernetes objects of internal/resources and
// a healthy Redis Cluster, using the core engine (pkg/planner, pkg/executor,
// pkg/redisadmin) for everything that talks to Redis.
//
// Reconcile is a short list of named phases over one state struct:
//
//	fetch → apply objects → observe pods → observe Redis → decide → act → status
//
// observe.go is the only seam between Kubernetes and Redis: it turns pods
// into addresses (pod IP:6379), host labels (spec.nodeName) and zone labels
// (the Node's topology label), and the password Secret into credentials.
// decide.go is pure: an observation in, at most one topology action out,
// table-tested without I/O. act.go runs that action through the executor.
// One topology change per pass; Redis's own view is the source of truth, so
// a crash between two passes is recovered by the next one. Reconcile never
// sleeps: it returns RequeueAfter and observes again.
//
// # Errors
//
// Reconcile returns wrapped errors (controller-runtime requeues with
// back-off) for failed API or Redis calls, including a failed status write,
// and reconcile.TerminalError for a spec that can never succeed (a missing
// password Secret key is not terminal: the Secret may appear later).
// Every topology action is recorded as an event on the RedisCluster.
package controller
