// Package controller is the RedisCluster controller: it turns one
// RedisCluster object into the Kubernetes objects of internal/resources and
// a healthy Redis Cluster. It is a thin seam: the decisions are the core's
// (pkg/heal, the same chain rcctl heal runs), the Redis work the executor's
// (pkg/executor).
//
// Reconcile is a short list of named phases over one state struct, each
// reading what the earlier ones wrote and changing none of it:
//
//	fetch → validate → password → apply objects → gather Kubernetes →
//	gather Redis → decide (derive + heal chain) → act → status
//
// gather.go is the only seam between Kubernetes and Redis: it turns pods
// into members (pod IP:6379, spec.nodeName, the Node's zone label, the pod's
// template revision), the password Secret into credentials, and the old
// status into the rules' explicit Memory; then it observes Redis in rounds
// (every pod's node; probes of masters whose pod is gone; key holders of
// open or uncovered slots). decide derives once and asks heal's chain for
// at most one change. act.go carries it out within its budget (a slot
// migration stops at a chunk boundary and the next pass plans the rest),
// then deletes the pod or the drained shards the decision names, and
// records an event whose reason is the change's kind. status.go and
// conditions.go compute the status, pure, from the derived cluster. A crash
// between two passes is recovered by the next one: Redis's own view is the
// source of truth. Reconcile never sleeps: it returns RequeueAfter.
//
// # Permissions
//
// NewManager registers the controller only once the manager's identity
// holds every permission in ControllerPermissions (the +kubebuilder:rbac
// markers, row for row; a test keeps the table equal to the generated
// config/rbac/role.yaml) in each watched namespace, plus the lease's with
// leader election and the token and access reviews with secure metrics.
// It asks with SelfSubjectAccessReviews (permissions.go) every
// PermissionCheckInterval until all are granted; meanwhile one log line,
// the readiness check "permissions" (GET /readyz/permissions) and a
// MissingPermissions event on the manager's own Pod name what is missing
// and for whom (permission_gate.go), where otherwise the informers would
// fail their list calls until the cache sync timed out.
//
// # Errors
//
// Reconcile returns wrapped errors (controller-runtime requeues with
// back-off) for failed API or Redis calls, including a failed status write,
// and reconcile.TerminalError for a spec that can never succeed (a missing
// password Secret key is not terminal: the Secret may appear later).
// Every topology change is recorded as an event on the RedisCluster, a
// failed one as a TopologyActionFailed warning.
package controller
