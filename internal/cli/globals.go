package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// defaultPasswordEnv is the variable redis-cli reads its password from; rcctl
// reads the same one unless told otherwise.
const defaultPasswordEnv = "REDISCLI_AUTH"

// globalOptions are the flags every command accepts.
type globalOptions struct {
	passwordEnv  string
	passwordFile string
	user         string

	tls                bool
	tlsCA              string
	tlsCert            string
	tlsKey             string
	insecureSkipVerify bool

	timeout    time.Duration
	json       bool
	dryRun     bool
	noProgress bool
}

func (g *globalOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.passwordEnv, "password-env", defaultPasswordEnv, "read the Redis password from this environment variable (when it is set)")
	fs.StringVar(&g.passwordFile, "password-file", "", "read the Redis password from this file (first line)")
	fs.StringVar(&g.user, "user", "", "ACL user name (default: the default user)")
	fs.BoolVar(&g.tls, "tls", false, "connect with TLS")
	fs.StringVar(&g.tlsCA, "tls-ca", "", "PEM file with the CA certificates that sign the servers' certificates (implies --tls)")
	fs.StringVar(&g.tlsCert, "tls-cert", "", "PEM client certificate (implies --tls; needs --tls-key)")
	fs.StringVar(&g.tlsKey, "tls-key", "", "PEM client private key (implies --tls; needs --tls-cert)")
	fs.BoolVar(&g.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the servers' TLS certificates")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "timeout of each network operation against one node")
	fs.BoolVar(&g.json, "json", false, "print only a JSON result on stdout (no progress)")
	fs.BoolVar(&g.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&g.noProgress, "no-progress", false, "do not report progress on stderr")
}

// credentials resolves the password without ever printing it. envChanged
// tells whether --password-env was given explicitly.
func (g *globalOptions) password(fs *pflag.FlagSet) (string, error) {
	envSet := fs.Changed("password-env")
	fileSet := fs.Changed("password-file")
	if envSet && fileSet {
		return "", usageErrorf("--password-env and --password-file are mutually exclusive")
	}
	if fileSet {
		b, err := os.ReadFile(g.passwordFile)
		if err != nil {
			// The path is the user's; the contents are never shown.
			return "", fmt.Errorf("read --password-file %s: %w", g.passwordFile, pathErrCause(err))
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if g.passwordEnv == "" {
		return "", usageErrorf("--password-env needs a variable name")
	}
	v, ok := os.LookupEnv(g.passwordEnv)
	if envSet && !ok {
		return "", usageErrorf("--password-env %s: variable is not set", g.passwordEnv)
	}
	return v, nil
}

// pathErrCause strips the path from an *os.PathError (it is already in our
// message) and keeps the cause.
func pathErrCause(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tlsConfig builds the client TLS configuration, or nil when TLS is off.
func (g *globalOptions) tlsConfig() (*tls.Config, error) {
	if (g.tlsCert == "") != (g.tlsKey == "") {
		return nil, usageErrorf("--tls-cert and --tls-key must be given together")
	}
	if !g.tls && g.tlsCA == "" && g.tlsCert == "" && !g.insecureSkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: g.insecureSkipVerify} //nolint:gosec // explicit user request
	if g.tlsCA != "" {
		pem, err := os.ReadFile(g.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca %s: %w", g.tlsCA, pathErrCause(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read --tls-ca %s: no PEM certificate found", g.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if g.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
