// Package localkubecli implements the localkube command: up, down, status,
// node stop and node start over internal/localkube.
//
// `up` runs in the foreground: it starts the cluster, serves the control
// socket in the state folder, prints how to use the cluster, and on Ctrl-C
// (SIGINT or SIGTERM) stops everything and removes the state. `down` stops a
// cluster whose `up` died or runs elsewhere, by the PIDs recorded in the
// state folder. `status` and `node stop|start` talk to a running `up`
// through its control socket.
//
// Errors reach the user as one line on stderr; the exit status is 1.
package localkubecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/services"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/nodenet"
	"github.com/redkube/redkube/internal/textout"
	"github.com/redkube/redkube/internal/version"
)

// EnvStateDir overrides the default state folder.
const EnvStateDir = "REDKUBE_LOCALKUBE_STATE"

// Agent kinds accepted by `up --agent`.
const (
	agentPods      = "pods"
	agentHeartbeat = "heartbeat"
	agentNone      = "none"
)

// DefaultStateDir returns $REDKUBE_LOCALKUBE_STATE, else
// $XDG_STATE_HOME/redkube/localkube, else ~/.local/state/redkube/localkube.
func DefaultStateDir() string {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "redkube", "localkube")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "redkube", "localkube")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("redkube-localkube-%d", os.Getuid()))
}

// Main runs the command line args (without the program name) and returns
// the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := NewCommand(stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		// stderr is the last resort: a failed write there has nowhere to go,
		// and the exit status still tells.
		_, _ = fmt.Fprintf(stderr, "localkube: %s\n", oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ; ")), " ")
}

// NewCommand returns the localkube root command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	var stateDir string
	root := &cobra.Command{
		Use:           "localkube",
		Short:         "Run a small local Kubernetes made of the real control-plane components",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&stateDir, "state-dir", DefaultStateDir(), "state folder of the cluster (PKI, kubeconfig, logs, PIDs, volumes; env "+EnvStateDir+")")
	root.AddCommand(newUpCommand(&stateDir), newDownCommand(&stateDir), newStatusCommand(&stateDir), newNodeCommand(&stateDir))
	return root
}

type upOptions struct {
	binDir                string
	nodes                 int
	agent                 string
	images                []string
	commands              []string
	binaries              string
	gracePeriod           time.Duration
	monitorPeriod         time.Duration
	notReadyToleration    time.Duration
	unreachableToleration time.Duration
	startTimeout          time.Duration
	stopTimeout           time.Duration
	services              bool
	verbose               bool
}

func newUpCommand(stateDir *string) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a cluster in the foreground; Ctrl-C stops it and removes its state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("services") {
				o.services = o.agent == agentPods
			}
			return runUp(cmd, *stateDir, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.binDir, "bin-dir", "", "folder with etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default $"+localkube.EnvBinDir+", then the hack/build-k8s.sh cache)")
	f.IntVar(&o.nodes, "nodes", localkube.DefaultNodes, "number of nodes")
	f.StringVar(&o.agent, "agent", agentPods, "node agent: pods (run pods as processes; needs root), heartbeat (nodes stay Ready, no pods), none")
	f.StringArrayVar(&o.images, "image", nil, "map an image (its repository base name, or the whole reference) to a host binary, NAME=PATH (repeatable; redis=redis-server is built in)")
	f.StringArrayVar(&o.commands, "command", nil, "map a container command (command[0] or its base name) to a host binary, NAME=PATH (repeatable)")
	f.StringVar(&o.binaries, "binaries", executableDir(), "folder of the project's binaries: the operator image ("+localkube.OperatorImage+") runs "+localkube.ManagerBinary+" from it, the command "+localkube.ExporterCommand+" runs "+localkube.ExporterBinary+" (--image and --command override; empty: none)")
	f.DurationVar(&o.gracePeriod, "node-monitor-grace-period", 0, "time without heartbeats before a node is NotReady (0: Kubernetes default, 50s)")
	f.DurationVar(&o.monitorPeriod, "node-monitor-period", 0, "how often the node controller checks nodes (0: Kubernetes default, 5s)")
	f.DurationVar(&o.notReadyToleration, "not-ready-toleration", 0, "how long pods stay on a NotReady node before eviction (0: Kubernetes default, 300s)")
	f.DurationVar(&o.unreachableToleration, "unreachable-toleration", 0, "how long pods stay on an unreachable node before eviction (0: Kubernetes default, 300s)")
	f.DurationVar(&o.startTimeout, "start-timeout", localkube.DefaultStartTimeout, "give up starting after this long")
	f.DurationVar(&o.stopTimeout, "stop-timeout", localkube.DefaultStopTimeout, "time each process gets to exit after SIGTERM")
	f.BoolVar(&o.services, "services", true, "run CoreDNS and kube-proxy for cluster DNS and ClusterIP/NodePort Services (needs root and nft; default: on with --agent=pods)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log the launcher's progress to stderr")
	return cmd
}

func runUp(cmd *cobra.Command, stateDir string, o upOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	opts := localkube.Options{
		BinDir:                       o.binDir,
		StateDir:                     stateDir,
		Nodes:                        o.nodes,
		NodeMonitorGracePeriod:       o.gracePeriod,
		NodeMonitorPeriod:            o.monitorPeriod,
		NotReadyTolerationSeconds:    int64(o.notReadyToleration / time.Second),
		UnreachableTolerationSeconds: int64(o.unreachableToleration / time.Second),
		StopTimeout:                  o.stopTimeout,
		Binaries:                     o.binaries,
		Logger:                       log,
	}
	switch o.agent {
	case agentPods:
		if os.Geteuid() != 0 {
			return errors.New("--agent=pods needs root (network namespaces and mounts); use --agent=heartbeat for a control plane without pods")
		}
		images, err := parseMap("--image", o.images)
		if err != nil {
			return err
		}
		commands, err := parseMap("--command", o.commands)
		if err != nil {
			return err
		}
		opts.NodeAgent = localkube.PodAgent(nodeagent.Config{Images: images, Commands: commands, DeleteBridgeOnExit: true})
		opts.NodeNetwork = nodenet.DefaultConfig()
	case agentHeartbeat:
		opts.NodeAgent = localkube.HeartbeatAgent
	case agentNone:
	default:
		return fmt.Errorf("--agent %q: want %s, %s or %s", o.agent, agentPods, agentHeartbeat, agentNone)
	}
	if o.services && os.Geteuid() != 0 {
		return errors.New("--services needs root (pod bridge, nftables); use --services=false")
	}
	if err := os.MkdirAll(filepath.Dir(stateDir), 0o755); err != nil {
		return fmt.Errorf("create parent of state folder: %w", err)
	}

	startCtx, cancel := context.WithTimeout(ctx, o.startTimeout)
	c, err := localkube.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	var svcs *services.Services
	stopCluster := func() error {
		// A fresh context: the signal that ended ctx must not cut the
		// clean-up short.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*o.stopTimeout)
		defer cancel()
		var errs []error
		if svcs != nil {
			if err := svcs.Stop(sctx); err != nil {
				errs = append(errs, fmt.Errorf("stop DNS and kube-proxy: %w", err))
			}
		}
		return errors.Join(append(errs, c.Stop(sctx))...)
	}
	if o.services {
		sctx, cancel := context.WithTimeout(ctx, o.startTimeout)
		svcs, err = services.Start(sctx, services.Config{
			BinDir: c.BinDir, Kubeconfig: c.Kubeconfig, Client: c.Client, NodeName: c.Nodes[0],
			Dir: c.ServicesDir(), Logger: log.With("part", "services"),
			NodePortAddresses: nodePortAddresses(c),
		})
		cancel()
		if err != nil {
			return errors.Join(fmt.Errorf("start DNS and kube-proxy: %w", err), stopCluster())
		}
	}
	ctlCtx, ctlCancel := context.WithCancel(ctx)
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- c.ServeControl(ctlCtx) }()

	// When the usage cannot be printed, nobody can be told where the
	// cluster is: stop it again.
	runErr := printUsage(cmd.OutOrStdout(), c, svcs)
	if runErr == nil {
		select {
		case <-ctx.Done():
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), "stopping localkube …"); err != nil {
				runErr = fmt.Errorf("write: %w", err)
			}
		case <-c.Failed():
			runErr = fmt.Errorf("cluster failed: %w", c.Err())
		case err := <-ctlDone:
			runErr = err
			ctlDone <- nil
		}
	}
	ctlCancel()
	if err := <-ctlDone; err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := stopCluster(); err != nil {
		return errors.Join(runErr, fmt.Errorf("stop: %w", err))
	}
	if runErr == nil {
		if _, err := fmt.Fprintln(cmd.OutOrStdout(), "localkube stopped; state removed"); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return runErr
}

// parseMap parses the NAME=PATH values of a repeatable flag.
func parseMap(flag string, specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(specs))
	for _, s := range specs {
		name, bin, ok := strings.Cut(s, "=")
		if !ok || name == "" || bin == "" {
			return nil, fmt.Errorf("%s %q: want NAME=PATH", flag, s)
		}
		m[name] = bin
	}
	return m, nil
}

// executableDir is the folder of the running executable, where `make
// build` puts localkube next to manager and rcctl; "" when it cannot be
// told.
func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(exe)
}

func printUsage(w io.Writer, c *localkube.Cluster, svcs *services.Services) error {
	out := &textout.Writer{W: w}
	out.Printf("localkube is up: %d nodes, ready in %s (state in %s)\n\n", len(c.Nodes), c.StartDuration.Round(100*time.Millisecond), c.StateDir)
	out.Printf("  export KUBECONFIG=%s\n", c.Kubeconfig)
	kubectl := filepath.Join(c.BinDir, "kubectl")
	if _, err := os.Stat(kubectl); err == nil {
		out.Printf("  %s get nodes\n", kubectl)
	} else {
		out.Println("  kubectl get nodes")
	}
	out.Printf("  localkube --state-dir %s node stop %s   # simulate a node failure\n", c.StateDir, c.Nodes[len(c.Nodes)-1])
	if svcs != nil {
		out.Printf("  cluster DNS on %s (Service %s); ClusterIP and NodePort Services reachable from this host\n", svcs.DNS.Addr, svcs.DNSServiceIP)
	}
	printNetwork(out, c, svcs != nil)
	out.Println()
	out.Println("Press Ctrl-C to stop the cluster and remove its state.")
	if out.Err() != nil {
		return fmt.Errorf("write usage: %w", out.Err())
	}
	return nil
}

// nodePortAddresses are the ranges beside the gateway kube-proxy serves
// NodePorts on: the node CIDR, when the cluster has a node network.
func nodePortAddresses(c *localkube.Cluster) []netip.Prefix {
	if nn := c.NodeNetwork(); nn.Enabled() {
		return []netip.Prefix{nn.CIDR}
	}
	return nil
}

// printNetwork prints each node's address and the load-balancer pool.
func printNetwork(out *textout.Writer, c *localkube.Cluster, proxied bool) {
	addrs := c.NodeAddresses()
	parts := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		parts = append(parts, n+"="+addrs[n].String())
	}
	out.Printf("  node addresses (InternalIP, pods' hostIP): %s\n", strings.Join(parts, " "))
	served := ""
	if proxied {
		served = "; NodePorts answer on every node address and on the gateway, load-balancer addresses on any port their Service has"
	}
	out.Printf("  load-balancer pool %s (Services of type LoadBalancer without a loadBalancerClass)%s\n", c.LoadBalancerPool(), served)
}

func newDownCommand(stateDir *string) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster of the state folder (by its recorded PIDs) and remove its state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := localkube.Down(cmd.Context(), *stateDir, grace)
			if err != nil {
				return err
			}
			out := &textout.Writer{W: cmd.OutOrStdout()}
			switch {
			case len(res.Stopped) > 0:
				out.Printf("stopped %s\n", strings.Join(res.Stopped, ", "))
			case res.Removed:
				out.Println("nothing was running")
			default:
				out.Printf("no cluster in %s\n", *stateDir)
			}
			if res.Removed {
				out.Printf("removed the state in %s\n", *stateDir)
			}
			return out.Err()
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localkube.DefaultStopTimeout, "time each process gets to exit after SIGTERM before SIGKILL")
	return cmd
}

func newStatusCommand(stateDir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running cluster's components and nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := localkube.NewControlClient(*stateDir).Status(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStatus(ctx, cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the launcher's status as JSON")
	return cmd
}

func printStatus(ctx context.Context, w io.Writer, st *localkube.Status) error {
	out := &textout.Writer{W: w}
	out.Printf("API server  %s\nkubeconfig  %s\n", st.APIServer, st.Kubeconfig)
	if st.Err != "" {
		out.Printf("FAILED      %s\n", st.Err)
	}
	out.Println()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tab := &textout.Writer{W: tw}
	tab.Println("COMPONENT\tPID\tSTATE\tRSS")
	var total uint64
	for _, c := range st.Components {
		state := "running"
		if !c.Running {
			state = "exited"
		}
		total += c.RSSBytes
		tab.Printf("%s\t%d\t%s\t%s\n", c.Name, c.PID, state, mib(c.RSSBytes))
	}
	tab.Printf("total\t\t\t%s\n", mib(total))
	if err := errors.Join(out.Err(), tab.Err()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	out.Println()

	ready := map[string]string{}
	if cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig); err == nil {
		if cs, err := kubernetes.NewForConfig(cfg); err == nil {
			if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
				for _, n := range nodes.Items {
					ready[n.Name] = nodeReady(&n)
				}
			}
		}
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tab = &textout.Writer{W: tw}
	tab.Println("NODE\tZONE\tREADY\tAGENT")
	for _, n := range st.Nodes {
		agent := "serving"
		if n.Stopped {
			agent = "stopped"
		}
		r := ready[n.Name]
		if r == "" {
			r = "?"
		}
		tab.Printf("%s\t%s\t%s\t%s\n", n.Name, n.Zone, r, agent)
	}
	if err := errors.Join(out.Err(), tab.Err()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func nodeReady(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return string(c.Status)
		}
	}
	return "Unknown"
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func newNodeCommand(stateDir *string) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "Simulate node failures"}
	op := func(use, short string, call func(*localkube.ControlClient, context.Context, string) error, done string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
				defer cancel()
				if err := call(localkube.NewControlClient(*stateDir), ctx, args[0]); err != nil {
					return err
				}
				if _, err := fmt.Fprintf(cmd.OutOrStdout(), "node %s %s\n", args[0], done); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				return nil
			},
		}
	}
	node.AddCommand(
		op("stop", "Kill the node's pods and stop its heartbeats (the node controller then marks it NotReady and evicts)", (*localkube.ControlClient).StopNode, "stopped"),
		op("start", "Bring a stopped node back", (*localkube.ControlClient).StartNode, "started"),
	)
	return node
}
