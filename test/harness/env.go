package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redkube/redkube/internal/controller"
	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/outside"
	"github.com/redkube/redkube/internal/localkube/services"
	"github.com/redkube/redkube/internal/nodeagent"
	"github.com/redkube/redkube/internal/nodenet"
	"github.com/redkube/redkube/internal/podnet"
	"github.com/redkube/redkube/internal/proc"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// Options configures Start.
type Options struct {
	// Name prefixes the run's work folder (in the system's temporary
	// folder).
	Name string
	// BinDir holds the control-plane binaries (hack/build-k8s.sh's last
	// line); empty means what localkube finds.
	BinDir string
	// Network is the pod network (see Network); the zero value is
	// localkube's default bridge and CIDR, which only one local cluster
	// on the machine can use at a time.
	Network podnet.Config
	// Services starts the cluster DNS and kube-proxy
	// (internal/localkube/services) on the pod network.
	Services bool
	// CRDDir holds the RedisCluster CRD manifests (config/crd/bases);
	// empty installs no CRD.
	CRDDir string
	// Binaries is the folder of the project's binaries (manager,
	// redkube-exporter) the node agent runs for the operator image and
	// the exporter command (localkube.Options.Binaries); tests `go build`
	// them into a folder of their own. Empty maps neither.
	Binaries string
	// Images and Commands add to the node agent's image and command maps
	// (nodeagent.Config); they win over Binaries' entries.
	Images, Commands map[string]string
	// Logger receives the local cluster's messages and the Env's own;
	// nil discards them.
	Logger *slog.Logger
}

// Env is a running local cluster, its API clients, and what was started
// on it.
type Env struct {
	// Cluster is the local Kubernetes.
	Cluster *localkube.Cluster
	// Services are the cluster DNS and kube-proxy, nil unless
	// Options.Services.
	Services *services.Services
	// Config is the admin's REST configuration, not throttled (QPS 200,
	// burst 400): the tests, the benchmarks' pollers and an in-process
	// operator all ask the API server often.
	Config *rest.Config
	// Clientset is a typed client on Config.
	Clientset kubernetes.Interface
	// Client is a controller-runtime client on Config that knows the
	// RedisCluster types (controller.Scheme).
	Client client.Client
	// Work is the run's work folder, removed by Stop.
	Work string

	log       *slog.Logger
	network   podnet.Config
	kubectl   string
	operators []*Operator
	outside   []*outside.Namespace
}

// Network is a pod network private to this process: bridge
// <bridgePrefix><pid mod 100000> (the prefix at most 10 bytes, for
// Linux's 15-byte interface names) and CIDR 10.<secondOctet>.<n>.0/24
// with n from the pid, so that two runs given different prefixes and
// octets never share a bridge or addresses. Pods route the Service CIDR
// to the gateway, as on the default network, so that with
// Options.Services they reach ClusterIPs: the cluster DNS and the API
// server's kubernetes Service.
func Network(bridgePrefix string, secondOctet uint8) podnet.Config {
	pid := os.Getpid()
	return podnet.Config{
		Bridge:   fmt.Sprintf("%s%d", bridgePrefix, pid%100000),
		CIDR:     netip.PrefixFrom(netip.AddrFrom4([4]byte{10, secondOctet, byte(pid%200 + 20), 0}), 24),
		NetnsDir: podnet.DefaultNetnsDir,
		Routes:   []netip.Prefix{kubenet.MustPrefix(kubenet.ServiceCIDR)},
	}
}

// Start makes the work folder, silences go-redis's own logging (the
// writers and pollers count errors themselves), starts a 3-node local
// cluster with the node agent on opts.Network (within 3 minutes), then
// the services and the CRD if asked, waiting until each is ready. On
// error, whatever it started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	redisadmin.SilenceGoRedis()
	name := opts.Name
	if name == "" {
		name = "harness"
	}
	work, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	e := &Env{Work: work, log: log, network: opts.Network}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Stop())
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := nodenet.CleanupStale(nodeLinkPrefix); err != nil {
		return nil, fmt.Errorf("remove node networks of killed runs: %w", err)
	}
	began := time.Now()
	c, err := localkube.Start(sctx, localkube.Options{
		BinDir:   opts.BinDir,
		Nodes:    3,
		Binaries: opts.Binaries,
		// The nodes' own addresses, private to this process like the
		// pod network (Env.Outside reaches them).
		NodeNetwork: NodeNetwork(),
		NodeAgent: localkube.PodAgent(nodeagent.Config{
			Network: opts.Network, DeleteBridgeOnExit: true,
			Images: opts.Images, Commands: opts.Commands,
		}),
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("start local cluster: %w", err)
	}
	e.Cluster = c
	e.kubectl = filepath.Join(c.BinDir, "kubectl")
	log.Info("local cluster started", "took", time.Since(began), "bridge", opts.Network.Bridge, "cidr", opts.Network.CIDR)

	e.Config = rest.CopyConfig(c.Config)
	e.Config.QPS, e.Config.Burst = 200, 400
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	if e.Clientset, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if opts.Services {
		// One kube-proxy runs per machine: another test package's cluster
		// (go test runs packages side by side) may hold it for the length
		// of its tests, so the wait covers a whole e2e package.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		began := time.Now()
		if e.Services, err = services.Start(sctx, services.Config{
			BinDir: c.BinDir, Kubeconfig: c.Kubeconfig, Client: c.Client, NodeName: c.Nodes[0],
			Network: opts.Network, Dir: c.ServicesDir(), Logger: log,
			NodePortAddresses: []netip.Prefix{c.NodeNetwork().CIDR},
		}); err != nil {
			return nil, err
		}
		log.Info("CoreDNS and kube-proxy ready", "took", time.Since(began))
	}
	if opts.CRDDir != "" {
		if _, err := e.Kubectl(ctx, "apply", "--server-side", "-f", opts.CRDDir); err != nil {
			return nil, err
		}
		if _, err := e.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/redisclusters.redis.redkube.io"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Stop stops the operators started on e (see Operator.Stop), the
// services, then the local cluster (pods, bridge, control plane, state
// folder, within 2 minutes), and removes the work folder. It returns
// every error it met.
func (e *Env) Stop() error {
	var errs []error
	for _, o := range e.operators {
		errs = append(errs, o.Stop())
	}
	for _, ns := range e.outside {
		errs = append(errs, ns.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.Services != nil {
		if err := e.Services.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop DNS and kube-proxy: %w", err))
		}
	}
	if e.Cluster != nil {
		if err := e.Cluster.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop local cluster: %w", err))
		}
	}
	if err := os.RemoveAll(e.Work); err != nil {
		errs = append(errs, fmt.Errorf("remove work folder: %w", err))
	}
	return errors.Join(errs...)
}

// LogTails returns the last n lines of every log of the local cluster:
// the control-plane components' and, with Options.Services, CoreDNS's
// and kube-proxy's, each under a heading. The operators' logs are
// Operator.LogTail's.
func (e *Env) LogTails(n int) string {
	if e.Cluster == nil {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(e.Cluster.LogDir(), "*.log"))
	svc, _ := filepath.Glob(filepath.Join(e.Cluster.ServicesDir(), "*.log"))
	sort.Strings(files)
	sort.Strings(svc)
	var b strings.Builder
	for _, f := range append(files, svc...) {
		fmt.Fprintf(&b, "--- last lines of %s ---\n%s\n", filepath.Base(f), proc.Tail(f, n))
	}
	return b.String()
}

// Kubectl runs kubectl against the cluster (within a minute) and returns
// its combined output; the error carries the output too.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig", e.Cluster.Kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, e.kubectl, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ApplyYAML writes doc to a file named name in the work folder and
// `kubectl apply`s it.
func (e *Env) ApplyYAML(ctx context.Context, name, doc string) error {
	p := filepath.Join(e.Work, name)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err := e.Kubectl(ctx, "apply", "-f", p)
	return err
}

// RestartCluster stops the whole local cluster as a power cut would (every
// pod's processes killed, then the node agent, etcd, the API server, the
// controller manager and the scheduler) keeping its state, and starts it
// again on that state within 3 minutes (localkube.Cluster.Restart): the
// same API server address and credentials, so Config, Clientset and Client
// keep working; the same objects and volumes; every pod started again in a
// new sandbox. Operators started on e are left alone: a manager process
// loses its API server for the length of the restart (callers stop and
// start it around the call). It refuses an Env with Options.Services.
func (e *Env) RestartCluster(ctx context.Context) error {
	if e.Services != nil {
		return errors.New("restart the local cluster: not supported with the cluster DNS and kube-proxy running")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := e.Cluster.Restart(ctx)
	if err != nil {
		// Everything is stopped and the state was kept: nothing would
		// remove the state folder any more.
		err = fmt.Errorf("restart the local cluster: %w", err)
		if rerr := os.RemoveAll(e.Cluster.StateDir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the local cluster's state: %w", rerr))
		}
		return err
	}
	e.Cluster = c
	e.log.Info("local cluster restarted", "took", time.Since(began))
	return nil
}
