package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/internal/version"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// minTimeout is the smallest --timeout a round trip can meet.
const minTimeout = time.Millisecond

// app is one invocation of rcctl: its global options and output streams.
type app struct {
	g      globalOptions
	stdout io.Writer
	stderr io.Writer
	root   *cobra.Command
	log    *slog.Logger
}

// NewRootCommand returns the rcctl command tree writing results to stdout and
// progress and errors to stderr.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	return newApp(stdout, stderr).root
}

// newApp builds the command tree and the invocation state behind it.
func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "rcctl",
		Short: "Create, check, repair and reshard a Redis Cluster",
		Long: `rcctl creates, checks, repairs and reshards a Redis Cluster reachable from here.

Every command that changes the cluster observes it first, computes a plan and
prints it under --dry-run without changing anything. Progress goes to stderr,
results to stdout; --json prints only a JSON result.

Exit status: 0 ok, 1 a problem was found or an operation failed, 2 bad usage.`,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			// go-redis logs dial retries on its own; rcctl reports errors
			// itself, in one line.
			redisadmin.SilenceGoRedis()
			if a.g.timeout <= 0 {
				// Zero or negative would fail every dial as a network
				// error, naming nothing the user typed.
				return usageErrorf("--timeout %v: must be positive", a.g.timeout)
			}
			if a.g.timeout < minTimeout {
				// No node answers within a microsecond: every command
				// would fail as a network error.
				return usageErrorf("--timeout %v: must be at least %v", a.g.timeout, minTimeout)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	a.g.register(root.PersistentFlags())
	a.root = root
	root.AddCommand(
		a.createCommand(),
		a.checkCommand(),
		a.fixCommand(),
		a.addNodeCommand(),
		a.delNodeCommand(),
		a.reshardCommand(),
		a.rebalanceCommand(),
		a.failoverCommand(),
		a.statusCommand(),
		a.healCommand(),
		a.backupCommand(),
		a.restoreCommand(),
		a.deleteBackupCommand(),
		a.installCommand(),
	)
	return a
}

// Run executes rcctl with args and returns its exit status. Errors are
// printed to stderr as one line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := newApp(stdout, stderr)
	a.root.SetArgs(args)
	err := a.root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra's own error for a mistyped command: the command line is
		// wrong, and nothing was contacted.
		err = &usageError{err: err}
	}
	if err != nil && !errors.Is(err, errProblemsFound) {
		// stderr is the last resort: a failed write there has nowhere to go,
		// and the exit status still tells.
		_, _ = fmt.Fprintf(stderr, "rcctl: %s%s\n", oneLine(err), a.closedHint(err))
	}
	return ExitCode(err)
}

// closedHint explains a connection the node reset or closed without a
// reply. Two ports do that: a TLS-only port to a plain-text client (and a
// port requiring a client certificate to a TLS client without an accepted
// one: with TLS 1.3 the client learns it only on its first read), and a
// cluster bus port, which drops anything that is not the bus protocol.
// Without TLS flags rcctl tries a TLS handshake to tell them apart, and
// names a bus port when the port 10000 below it answers as Redis (the
// default cluster-port offset).
func (a *app) closedHint(err error) string {
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return ""
	}
	addr := ""
	if e := (*redisadmin.Error)(nil); errors.As(err, &e) {
		addr = e.Addr
	}
	if addr != "" {
		if client, ok := busPortOf(addr, a.g.timeout); ok {
			return fmt.Sprintf(" (%s looks like the cluster bus port of the node at %s, which answers Redis commands: give rcctl the client port)", addr, client)
		}
	}
	if a.g.tls || a.g.tlsCA != "" || a.g.tlsCert != "" || a.g.insecureSkipVerify {
		return " (the node closed the TLS connection: if it requires a client certificate, check --tls-cert and --tls-key)"
	}
	if addr == "" || speaksTLS(addr, a.g.timeout) {
		return " (the node closed the connection: if it serves TLS only, add --tls or --tls-ca)"
	}
	return " (the node closed the connection without a reply and does not speak TLS: is it a Redis client port? a cluster bus port, by default the client port + 10000, does this)"
}

// exactArgs is cobra.ExactArgs returning a usage-class error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %d argument(s), got %d (usage: %s)", cmd.Name(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs returning a usage-class error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs at least %d argument(s), got %d (usage: %s)", cmd.Name(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// pool builds the admin connection pool from the global flags.
func (a *app) pool() (*redisadmin.Pool, error) {
	pw, err := a.g.password(a.root.PersistentFlags())
	if err != nil {
		return nil, err
	}
	if a.g.user != "" && pw == "" {
		// go-redis sends no AUTH without a password: the commands would
		// run as the default user, not as the one named.
		return nil, usageErrorf("--user %s needs a password (--password-env, default REDISCLI_AUTH, or --password-file); a nopass user accepts any", a.g.user)
	}
	tc, err := a.g.tlsConfig()
	if err != nil {
		return nil, err
	}
	return redisadmin.NewPool(redisadmin.Options{
		Username:     a.g.user,
		Password:     pw,
		TLSConfig:    tc,
		DialTimeout:  a.g.timeout,
		ReadTimeout:  a.g.timeout,
		WriteTimeout: a.g.timeout,
		// One deadline per call, retries included: a node that accepts
		// connections but never answers costs --timeout, not a multiple
		// of it (docs/design/2026-12-04-rcctl-deadlines.md).
		CallTimeout: a.g.timeout,
	}), nil
}

// progress returns the reporter for this invocation.
func (a *app) progress() reporter {
	return newReporter(a.stderr, a.g.json || a.g.noProgress)
}

// infof prints a human note to stderr unless --json or --no-progress.
func (a *app) infof(format string, args ...any) {
	if a.g.json || a.g.noProgress {
		return
	}
	// Notes are diagnostics on stderr: a failed write there has nowhere to
	// be reported and must not fail the command.
	_, _ = fmt.Fprintf(a.stderr, format+"\n", args...)
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
