package redisadmin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

// TLSFiles are the paths of a node's TLS files, as redis.conf names them.
type TLSFiles struct {
	Cert, Key, CA string
}

// ReloadTLS makes the node read its certificate, key and CA files again,
// in one CONFIG SET (atomic in Redis 7): Redis 7 rebuilds its TLS context whenever one of
// these parameters is set, even to the path it already has, and keeps the
// old context when the new files do not load (a certificate that does not
// match its key, a half-written pair), answering an error. Connections
// already open keep their session; new ones get the new certificate.
func (n *Node) ReloadTLS(ctx context.Context, f TLSFiles) error {
	return n.call(ctx, "CONFIG SET tls-*-file", func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "CONFIG", "SET", "tls-cert-file", f.Cert, "tls-key-file", f.Key, "tls-ca-cert-file", f.CA).Err()
	})
}

// ServedCertificate connects to addr with cfg (bounded by timeout and ctx)
// and returns the leaf certificate the node presents in the handshake.
// cfg must verify the node as the operator's pool does; the connection is
// closed at once.
func ServedCertificate(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) (*x509.Certificate, error) {
	conn, err := tlsDialer(cfg, timeout)(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil, fmt.Errorf("TLS handshake with %s: got a %T", addr, conn)
	}
	peers := tc.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return nil, fmt.Errorf("TLS handshake with %s: the node presented no certificate", addr)
	}
	return peers[0], nil
}

// VerifyChainOnly returns a client configuration that trusts the CAs of
// roots and checks the node's certificate chain (for server
// authentication) but not its names: the operator dials nodes by pod IP,
// which no certificate issued before the pod existed can name. The node
// is identified by its CA instead, as Redis nodes identify each other. cert
// (optional) is presented when the nodes require client certificates.
func VerifyChainOnly(roots *x509.CertPool, serverName string, cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Replaced by VerifyConnection below, which verifies the chain.
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the node presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		},
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// VerifyChainFromFiles is VerifyChainOnly with the CA certificates read
// from caFile and the client certificate from certFile and keyFile (both
// empty: none) at every handshake, so a process that connects for a long
// time (the exporter sidecar) follows a renewal or a CA rollover of the
// mounted files without a restart.
func VerifyChainFromFiles(caFile, certFile, keyFile string) *tls.Config {
	cfg := VerifyChainOnly(nil, "", nil)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("read the CA file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemData) {
			return fmt.Errorf("no PEM certificate in %s", caFile)
		}
		return VerifyChainOnly(roots, "", nil).VerifyConnection(cs)
	}
	if certFile != "" || keyFile != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("load the client certificate: %w", err)
			}
			return &c, nil
		}
	}
	return cfg
}
