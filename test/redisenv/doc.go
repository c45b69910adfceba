// Package redisenv starts real redis-server processes for tests and
// benchmarks.
//
// Start launches n servers (cluster mode by default) on free loopback ports,
// each in its own temporary directory, waits until every one answers PING,
// and registers a cleanup that kills them when the test or benchmark ends —
// also when it fails or panics. Servers are started with the parent-death
// signal set, so they also die when the test binary itself is killed.
//
// Nothing here talks to an address outside 127.0.0.0/8.
package redisenv
