// Package writeload drives a continuous write load against a Redis Cluster
// and checks afterwards that nothing acknowledged was lost. The end-to-end
// tests (test/e2e) and the operator benchmark (bench/operator) use it to
// measure what a client sees while a master is deleted, force-deleted or
// loses its node.
//
// Start launches a Writer: one go-redis ClusterClient that SETs
// <prefix>:<n> = n for n = 0, 1, 2, ... one after the other, as fast as the
// cluster acknowledges. Writer.Stop returns a Result: the n of every
// acknowledged write, the failed writes, the longest time between two
// acknowledgements (the client-visible unavailability: an error window or a
// blocked write) and the longest single call. Lost then reads every
// acknowledged key back and lists those that are missing or hold another
// value.
//
// # Errors
//
// A failed write is data, not an error: it is counted in Result.Errors and
// the first one is kept in Result.FirstErr. Lost returns an error only when
// it cannot read the keys back (after a few retries); it wraps the last
// go-redis error or the caller's context error, so errors.Is(err,
// context.Canceled) works.
//
// The package has no Kubernetes dependency; its own tests run against real
// redis-server processes started by test/redisenv.
package writeload
