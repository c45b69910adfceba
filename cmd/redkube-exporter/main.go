// Command redkube-exporter serves Prometheus metrics of one Redis server:
// the sidecar the operator adds to every Redis pod when
// spec.monitoring.exporter.enabled is set. See pkg/exporter for the metrics
// and docs/monitoring.md for how to use them.
//
// The password is read from the file named by --redis-password-file or,
// without that flag, from the REDIS_PASSWORD environment variable. With
// --tls-ca-file it connects over TLS and checks the server's certificate
// chain (not its name) against that file, read again at every connection
// so a renewed certificate or a CA rollover needs no restart.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redkube/redkube/internal/version"
	"github.com/redkube/redkube/pkg/exporter"
	"github.com/redkube/redkube/pkg/redisadmin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "redkube-exporter:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr, listen, passwordFile, username string
		tlsCA, tlsCert, tlsKey               string
		timeout                              time.Duration
		printVersion, plainFallback          bool
	)
	flag.StringVar(&addr, "redis-addr", "127.0.0.1:6379", "host:port of the Redis server")
	flag.StringVar(&username, "redis-user", "", "ACL user to authenticate as (default: the default user)")
	flag.StringVar(&passwordFile, "redis-password-file", "", "file holding the Redis password (default: $REDIS_PASSWORD)")
	flag.StringVar(&listen, "web.listen-address", ":9121", "address to serve /metrics on")
	flag.DurationVar(&timeout, "redis-timeout", exporter.DefaultTimeout, "bound on reading INFO and CLUSTER INFO in one scrape")
	flag.StringVar(&tlsCA, "tls-ca-file", "", "connect over TLS, verifying the server against the CA certificates in this file (read at every connection)")
	flag.StringVar(&tlsCert, "tls-cert-file", "", "client certificate to present over TLS (with --tls-key-file)")
	flag.StringVar(&tlsKey, "tls-key-file", "", "private key of --tls-cert-file")
	flag.BoolVar(&plainFallback, "tls-plain-text-fallback", false, "with --tls-ca-file, speak plain text to a server that serves it (while a cluster is switched to TLS)")
	flag.BoolVar(&printVersion, "version", false, "print the version and exit")
	flag.Parse()
	if printVersion {
		fmt.Println("redkube-exporter version", version.String())
		return nil
	}

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	redisadmin.SilenceGoRedis()
	password := os.Getenv("REDIS_PASSWORD")
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("read --redis-password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	var tlsConfig *tls.Config
	if tlsCA != "" {
		tlsConfig = redisadmin.VerifyChainFromFiles(tlsCA, tlsCert, tlsKey)
	}
	c, err := exporter.New(exporter.Options{
		Addr: addr, Username: username, Password: password, Timeout: timeout, TLSConfig: tlsConfig, PlainTextFallback: plainFallback,
		OnError: func(err error) { log.Warn("scrape failed", "addr", addr, "err", err) },
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	mux := http.NewServeMux()
	mux.Handle("/metrics", exporter.Handler(c))
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving metrics", "listen", listen, "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", listen, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
