package redisadmin

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redkube/redkube/test/redisenv"
)

// tlsPing pings addr once through a fresh pool with opts.
func tlsPing(t *testing.T, addr string, opts Options) error {
	t.Helper()
	pool := NewPool(opts)
	defer func() {
		if err := pool.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pool.Node(addr).Ping(ctx)
}

func TestClientConfigTakesServerNameFromTheHostUnlessSet(t *testing.T) {
	cases := []struct {
		name, addr, set, want string
	}{
		{"IPv4 host", "127.0.0.1:7000", "", "127.0.0.1"},
		{"DNS host", "redis-0.redis.ns.svc:6379", "", "redis-0.redis.ns.svc"},
		{"IPv6 host keeps its brackets, as crypto/tls does", "[::1]:7000", "", "[::1]"},
		{"explicit ServerName wins", "127.0.0.1:7000", "redis.example", "redis.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &tls.Config{ServerName: c.set, MinVersion: tls.VersionTLS12}
			got := clientConfig(cfg, c.addr)
			if got.ServerName != c.want {
				t.Errorf("ServerName = %q, want %q", got.ServerName, c.want)
			}
			if cfg.ServerName != c.set {
				t.Errorf("the caller's config was changed: ServerName = %q", cfg.ServerName)
			}
		})
	}
}

func TestTLSPoolVerifiesServersAsGoRedisDoes(t *testing.T) {
	certs := redisenv.NewCerts(t)
	other := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1, redisenv.WithTLS(certs))[0]
	port := strconv.Itoa(nd.Port)
	insecure := certs.ClientTLSConfig()
	insecure.RootCAs = nil
	insecure.InsecureSkipVerify = true
	noClientCert := certs.ClientTLSConfig()
	noClientCert.Certificates = nil
	wrongName := certs.ClientTLSConfig()
	wrongName.ServerName = "redis.invalid"
	wrongCA := other.ClientTLSConfig()
	wrongCA.Certificates = certs.ClientTLSConfig().Certificates

	cases := []struct {
		name      string
		addr      string
		cfg       *tls.Config
		untrusted bool // want a certificate verification error
		fails     bool // want some other error
	}{
		{"trusts the CA for an IP address", nd.Addr, certs.ClientTLSConfig(), false, false},
		{"trusts the CA for a host name", net.JoinHostPort("localhost", port), certs.ClientTLSConfig(), false, false},
		{"skips verification when asked", nd.Addr, insecure, false, false},
		{"refuses a server name the certificate does not cover", nd.Addr, wrongName, true, false},
		{"refuses a CA that did not sign the server", nd.Addr, wrongCA, true, false},
		{"is refused without a client certificate", nd.Addr, noClientCert, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tlsPing(t, c.addr, Options{TLSConfig: c.cfg, MaxRetries: -1})
			var verr *tls.CertificateVerificationError
			var herr *TLSHandshakeError
			switch {
			case c.untrusted:
				if !errors.As(err, &verr) || !errors.Is(err, ErrUnreachable) {
					t.Fatalf("Ping = %v, want an unreachable certificate verification error", err)
				}
			case c.fails:
				if err == nil || errors.As(err, &verr) || errors.As(err, &herr) {
					t.Fatalf("Ping = %v, want an error that is no verification or unanswered handshake error", err)
				}
			case err != nil:
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

func TestTLSToPlainTextNodeFailsSayingItServesPlainText(t *testing.T) {
	certs := redisenv.NewCerts(t)
	cases := []struct {
		name string
		opts []redisenv.Option
	}{
		{"open node", nil},
		{"node with a password (answers NOAUTH)", []redisenv.Option{redisenv.WithPassword("s3cret")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nd := redisenv.Start(t, 1, c.opts...)[0]
			err := tlsPing(t, nd.Addr, Options{TLSConfig: certs.ClientTLSConfig(), Password: nd.Password})
			var herr *TLSHandshakeError
			if !errors.As(err, &herr) || !herr.PlainText || herr.Addr != nd.Addr || !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Ping = %v, want an unreachable *TLSHandshakeError with PlainText", err)
			}
			if want := "TLS handshake with " + nd.Addr + " got no answer: the node serves plain text on this port, not TLS"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			// The node is unharmed: it still answers plain text.
			if err := tlsPing(t, nd.Addr, Options{Password: nd.Password}); err != nil {
				t.Fatalf("plain-text Ping after the TLS attempt: %v", err)
			}
		})
	}
}

func TestTLSHandshakeNobodyAnswersFailsAtTheDialTimeout(t *testing.T) {
	certs := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1)[0]
	// A stopped server still accepts TCP connections (the kernel does)
	// but answers neither the handshake nor the plain-text PING.
	pid := nd.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop redis-server: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("continue redis-server: %v", err)
		}
	})
	err := tlsPing(t, nd.Addr, Options{TLSConfig: certs.ClientTLSConfig(), DialTimeout: time.Second})
	var herr *TLSHandshakeError
	if !errors.As(err, &herr) || herr.PlainText || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Ping = %v, want an unreachable *TLSHandshakeError wrapping the deadline", err)
	}
	if want := "TLS handshake with " + nd.Addr + " got no answer within "; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
