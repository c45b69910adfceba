// Package redisadmin is a typed administration client for the nodes of a
// Redis Cluster, built on go-redis v9.
//
// A Pool keeps one small pooled *redis.Client per node address; Pool.Node
// returns a Node whose methods issue one cluster-administration command each
// (CLUSTER NODES, SETSLOT, MIGRATE, FAILOVER, ...) and return typed results:
// CLUSTER NODES is parsed into a *topology.View, INFO replication into a
// topology.Replication, CLUSTER INFO into a ClusterInfo. Every call takes the
// caller's context, which bounds it.
//
// Discover observes a whole cluster: it queries the seed addresses and every
// node any reply mentions, concurrently, and returns a *topology.Snapshot in
// which unreachable nodes are recorded as such. KeyHolders asks the masters
// of a Snapshot which of them hold keys in given slots, what a repair of
// open (OpenSlots) or uncovered slots needs to pick an owner.
//
// # Errors
//
// Every error returned for a node is an *Error naming the node address and
// the command. Its Kind classifies it; errors.Is matches the sentinels
//
//	ErrMoved, ErrAsk          redirections (errors.As to *Error gives Slot and Target)
//	ErrTryAgain               TRYAGAIN during a resharding
//	ErrClusterDown            CLUSTERDOWN
//	ErrLoading                the node is loading its dataset
//	ErrBusyKey                BUSYKEY: the target of a MIGRATE already holds the key
//	ErrNotClusterMode         the node runs without cluster-enabled
//	ErrNotMaster              a master-only command (SETSLOT) sent to a replica
//	ErrUnreachable            the node could not be reached or the connection broke
//
// and context errors stay visible through errors.Is(err, context.Canceled).
//
// With Options.TLSConfig the pool performs the TLS handshake itself,
// bounded by DialTimeout: errors.As gives a *TLSHandshakeError (inside
// ErrUnreachable) when the node never answered it, with PlainText set when
// the node answered a plain-text PING instead, so it serves no TLS on that
// port. Certificate errors keep their crypto/tls types.
package redisadmin
