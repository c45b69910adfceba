package redisadmin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/certs"
	"github.com/redkube/redkube/test/redisenv"
)

// TestReloadTLSServesTheNewCertificateWithoutDroppingConnections replaces a
// running redis-server's certificate files (a renewal under a new CA, with
// both CAs in the CA file, as in a rollover) and reloads them with
// ReloadTLS: new handshakes get the new certificate, a connection opened
// before keeps working, and a key that does not match its certificate is
// refused with the old certificate still served.
func TestReloadTLSServesTheNewCertificateWithoutDroppingConnections(t *testing.T) {
	old := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1, redisenv.WithTLS(old))[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	now := time.Now()
	ca, err := certs.NewCA("rollover CA", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	next, err := certs.IssueServer(ca, "redis", certs.SANs([]string{"127.0.0.1", "localhost"}), now, time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oldCA, err := os.ReadFile(old.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(oldCA)
	roots.AddCert(ca.Cert)
	client := old.ClientTLSConfig().Certificates[0]
	cfg := VerifyChainOnly(roots, "redis.example", &client)

	pool := NewPool(Options{TLSConfig: cfg, MaxRetries: -1})
	defer func() { _ = pool.Close() }()
	node := pool.Node(nd.Addr)
	if err := node.Ping(ctx); err != nil {
		t.Fatalf("ping before the reload: %v", err)
	}
	before, err := ServedCertificate(ctx, nd.Addr, cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	files := TLSFiles{Cert: old.ServerCertFile, Key: old.ServerKeyFile, CA: old.CAFile}

	// A key that does not match: refused, the old certificate stays.
	other, err := certs.IssueServer(ca, "other", certs.SANs([]string{"x"}), now, time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write(t, old.ServerCertFile, next.CertPEM)
	write(t, old.ServerKeyFile, other.KeyPEM)
	write(t, old.CAFile, append(append([]byte{}, oldCA...), ca.CertPEM...))
	if err := node.ReloadTLS(ctx, files); err == nil {
		t.Fatal("ReloadTLS accepted a key that is not the certificate's")
	}
	if got := served(ctx, t, nd.Addr, cfg); got != certs.Fingerprint(before) {
		t.Fatalf("after a refused reload the node serves %s, want the old %s", got, certs.Fingerprint(before))
	}

	write(t, old.ServerKeyFile, next.KeyPEM)
	if err := node.ReloadTLS(ctx, files); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	if got, want := served(ctx, t, nd.Addr, cfg), certs.Fingerprint(next.Cert); got != want {
		t.Fatalf("after the reload the node serves %s, want %s", got, want)
	}
	// The pooled connection from before the reload still works.
	if err := node.Ping(ctx); err != nil {
		t.Fatalf("ping on the connection opened before the reload: %v", err)
	}
	// The same paths again reload again (a second renewal).
	third, err := certs.IssueServer(ca, "redis", certs.SANs([]string{"127.0.0.1"}), now, 2*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write(t, old.ServerCertFile, third.CertPEM)
	write(t, old.ServerKeyFile, third.KeyPEM)
	if err := node.ReloadTLS(ctx, files); err != nil {
		t.Fatalf("second ReloadTLS: %v", err)
	}
	if got, want := served(ctx, t, nd.Addr, cfg), certs.Fingerprint(third.Cert); got != want {
		t.Fatalf("after the second reload the node serves %s, want %s", got, want)
	}
}

func TestVerifyChainOnlyRefusesAnotherCA(t *testing.T) {
	c := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1, redisenv.WithTLS(c))[0]
	ca, err := certs.NewCA("stranger", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := c.ClientTLSConfig().Certificates[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = ServedCertificate(ctx, nd.Addr, VerifyChainOnly(roots, "", &client), 5*time.Second)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("ServedCertificate = %v, want a certificate verification error", err)
	}
}

func served(ctx context.Context, t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := ServedCertificate(ctx, addr, cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return certs.Fingerprint(c)
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyChainFromFilesFollowsACARollover reads the CA file at each
// handshake: a node serving a certificate of a CA added to the file later
// is trusted without building a new configuration.
func TestVerifyChainFromFilesFollowsACARollover(t *testing.T) {
	c := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1, redisenv.WithTLS(c), redisenv.WithConfig("tls-auth-clients", "optional"))[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caFile := t.TempDir() + "/ca.crt"
	stranger, err := certs.NewCA("stranger", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write(t, caFile, stranger.CertPEM)
	cfg := VerifyChainFromFiles(caFile, c.ClientCertFile, c.ClientKeyFile)
	if _, err := ServedCertificate(ctx, nd.Addr, cfg, 5*time.Second); err == nil {
		t.Fatal("trusted a node signed by a CA not in the file")
	}
	real, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	write(t, caFile, append(append([]byte{}, stranger.CertPEM...), real...))
	if _, err := ServedCertificate(ctx, nd.Addr, cfg, 5*time.Second); err != nil {
		t.Fatalf("after adding the CA to the file: %v", err)
	}
}
