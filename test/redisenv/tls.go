package redisenv

// TLS options and restarts of the servers.

import (
	"crypto/tls"
	"os"
)

// WithTLS serves clients over TLS only ("port 0", "tls-port"), with
// tls-cluster and tls-replication on, so the cluster bus, replication and
// MIGRATE between nodes use TLS as well, and tls-auth-clients yes (a client
// must present a certificate signed by the CA; override with
// WithConfig("tls-auth-clients", "optional") or "no"). Nodes of one test
// that must talk to each other need the same certs, from NewCerts; nil
// makes fresh ones for this Start. Node.TLS exposes them and
// Node.ClientTLSConfig a client configuration.
func WithTLS(certs *Certs) Option {
	return func(c *config) { c.useTLS, c.tls = true, certs }
}

// WithTLSFiles names the files of certs in the configuration
// (tls-cert-file, tls-key-file, tls-ca-cert-file) but leaves TLS off: the
// node serves plain text on its port, with tls-port 0 and tls-cluster and
// tls-replication no, as a node does once its certificates are mounted and
// before TLS is switched on. Node.TLS stays nil; Node.RestartWithTLS
// restarts the node with WithTLS's configuration on the same ports.
func WithTLSFiles(certs *Certs) Option {
	return func(c *config) { c.tlsFiles = certs }
}

// ClientTLSConfig returns a client TLS configuration that trusts the node's
// CA and presents the client certificate, or nil when the node does not
// use TLS. Each call returns a new *tls.Config.
func (nd *Node) ClientTLSConfig() *tls.Config {
	if nd.TLS == nil {
		return nil
	}
	return nd.TLS.ClientTLSConfig()
}

// RestartWithTLS kills the server (when running) and starts it again on
// the same ports and directory with WithTLS's configuration: port 0,
// tls-port on the port number the node had (plain or TLS), tls-cluster,
// tls-replication and tls-auth-clients yes, with the certificates of
// WithTLSFiles (or of WithTLS). Node.TLS is set to them, so Node.Addr is
// dialed over TLS from then on. Options of Start such as WithConfig keep
// applying. It fails the test when the node has no certificates or does
// not come back.
func (nd *Node) RestartWithTLS() {
	nd.tb.Helper()
	c := *nd.cfg
	if c.tls == nil {
		c.tls = c.tlsFiles
	}
	if c.tls == nil {
		nd.tb.Fatalf("redisenv: restart %s with TLS: the node was started without WithTLSFiles or WithTLS", nd.Addr)
	}
	c.useTLS, c.tlsFiles = true, nil
	nd.Kill()
	if err := os.WriteFile(nd.conf, []byte(nd.render(&c)), 0o600); err != nil {
		nd.tb.Fatalf("redisenv: restart %s with TLS: write config: %v", nd.Addr, err)
	}
	nd.cfg, nd.TLS = &c, c.tls
	if err := nd.launch(); err != nil {
		nd.tb.Fatalf("redisenv: restart %s with TLS: %v", nd.Addr, err)
	}
}
