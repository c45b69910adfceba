// Package redisenv starts real redis-server processes for tests and
// benchmarks.
//
// Start launches n servers (cluster mode by default) on free loopback ports,
// each in its own temporary directory, waits until every one answers PING,
// and registers a cleanup that kills them when the test or benchmark ends —
// also when it fails or panics. Servers are started with the parent-death
// signal set, so they also die when the test binary itself is killed.
//
// Options shape the servers: WithTLS serves clients, the cluster bus and
// replication over TLS only, with certificates NewCerts generates per test
// (Node.TLS has the file paths, Node.ClientTLSConfig a client
// configuration); WithTLSFiles names the certificate files but leaves TLS
// off, for tests that switch TLS on live, and Node.RestartWithTLS restarts
// such a node with WithTLS's configuration on the same ports; WithPassword
// and WithACLUser require authentication (Node.Username and Node.Password
// are what a client must send). Node.Addr is always the address a client
// dials.
//
// Nothing here talks to an address outside 127.0.0.0/8.
package redisenv
