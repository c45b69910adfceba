package localkube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/redkube/redkube/internal/kubenet"
	"github.com/redkube/redkube/internal/proc"
)

// Names of the entries Start creates in the state folder. Stop removes
// exactly these when the folder existed before Start; StopKeepState keeps
// them all for a Start with Options.ReuseState.
const (
	dirPKI         = "pki"
	dirKubeconfigs = "kubeconfigs"
	dirEtcd        = "etcd"
	dirLogs        = "logs"
	dirPIDs        = "pids"
	dirVolumes     = "volumes"
	dirAgent       = "agent"
	dirServices    = "services"
	fileKubeconfig = "admin.kubeconfig"
	// fileControlSocket is the unix socket of a running `localkube up`.
	fileControlSocket = "control.sock"
)

// stateEntries are all the names above, in the order Stop removes them.
var stateEntries = []string{fileClusterRecord, fileControlSocket, dirServices, dirAgent, dirVolumes, dirPIDs, dirLogs, dirEtcd, dirKubeconfigs, dirPKI, fileKubeconfig}

// Cluster is a running local cluster. Its exported fields are read-only.
type Cluster struct {
	// Kubeconfig is the path of the admin (system:masters) kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// BinDir is the folder the control-plane binaries were run from.
	BinDir string
	// StateDir is the cluster's state folder.
	StateDir string
	// APIServerURL is the API server's address (https://127.0.0.1:<port>).
	APIServerURL string
	// Nodes are the registered node names (node-1 … node-N).
	Nodes []string
	// StartDuration is how long Start took, from its call until every
	// component was ready and the nodes were schedulable.
	StartDuration time.Duration

	opts    Options
	log     *slog.Logger
	pki     *pki
	ports   componentPorts
	created bool // Start created StateDir
	// reused is set when Start runs on a kept state (Options.ReuseState):
	// a failed start then keeps the state.
	reused bool
	// reuse is the record of the kept cluster Start reuses, nil otherwise.
	reuse *clusterRecord

	mu           sync.Mutex
	procs        []*proc.Process // in start order
	stopping     bool
	stoppedNodes map[string]bool

	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	agent    NodeAgent

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	stopOnce sync.Once
	stopErr  error

	nodeNetUp bool // setupNodeNetwork succeeded; Stop tears it down
}

// componentPorts are the loopback ports of one cluster.
type componentPorts struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager, Scheduler int
}

// Start generates the PKI, starts etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, waits for each to be ready,
// registers the nodes, and starts the provisioner and the node agent. ctx
// bounds the start only (DefaultStartTimeout when it has no deadline); the
// cluster runs until Stop. On error everything started is stopped and
// removed again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	began := time.Now()
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("localkube options: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	c := &Cluster{BinDir: opts.BinDir, opts: opts, log: opts.Logger, failed: make(chan struct{}), stoppedNodes: map[string]bool{}}
	if err := c.prepareStateDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.StopTimeout*5)
			defer cancel()
			stop := c.Stop
			if c.reused {
				stop = c.StopKeepState
			}
			if serr := stop(stopCtx); serr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", serr))
			}
		}
	}()
	for i := 1; i <= opts.Nodes; i++ {
		c.Nodes = append(c.Nodes, NodeName(i))
	}
	if c.reuse != nil && !slices.Equal(c.reuse.Nodes, c.Nodes) {
		return nil, fmt.Errorf("state folder %s holds nodes %v, not %v", c.StateDir, c.reuse.Nodes, c.Nodes)
	}
	if err := c.setupNodeNetwork(); err != nil {
		return nil, err
	}
	if err := c.startControlPlane(ctx); err != nil {
		return nil, err
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.bgCancel = cancel
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		c.monitor(bgCtx)
	}()
	if err := c.registerNodes(ctx); err != nil {
		return nil, err
	}
	if !opts.DisableProvisioner {
		if err := c.startStorage(ctx, bgCtx); err != nil {
			return nil, err
		}
	}
	if !opts.DisableLoadBalancer {
		if err := c.startLoadBalancer(bgCtx); err != nil {
			return nil, err
		}
	}
	if opts.NodeAgent != nil {
		if err := c.startAgent(ctx, bgCtx); err != nil {
			return nil, err
		}
	}
	if err := c.waitNodesSchedulable(ctx); err != nil {
		return nil, err
	}
	c.log.Info("nodes schedulable", "sinceStart", time.Since(began))
	if err := c.waitControllersRunning(ctx); err != nil {
		return nil, err
	}
	c.log.Info("controller manager running", "sinceStart", time.Since(began))
	c.StartDuration = time.Since(began)
	c.log.Info("cluster ready", "apiserver", c.APIServerURL, "kubeconfig", c.Kubeconfig, "nodes", len(c.Nodes), "startDuration", c.StartDuration)
	return c, nil
}

// prepareStateDir creates the state folder (or checks that an existing one
// holds no cluster, or with Options.ReuseState a kept one) and its
// subfolders.
func (c *Cluster) prepareStateDir() error {
	dir := c.opts.StateDir
	if c.opts.ReuseState {
		if dir == "" {
			return errors.New("reuse state: no state folder given")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("resolve state folder: %w", err)
		}
		dir = abs
		rec, err := checkReusable(dir, c.opts.Nodes)
		if err != nil {
			return err
		}
		c.reuse, c.reused, c.created = rec, true, rec.Created
	} else if dir == "" {
		tmp, err := os.MkdirTemp("", "localkube-")
		if err != nil {
			return fmt.Errorf("create state folder: %w", err)
		}
		dir, c.created = tmp, true
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("resolve state folder: %w", err)
		}
		dir = abs
		switch _, err := os.Stat(dir); {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create state folder: %w", err)
			}
			c.created = true
		case err != nil:
			return fmt.Errorf("state folder: %w", err)
		default:
			for _, e := range stateEntries {
				if _, err := os.Lstat(filepath.Join(dir, e)); err == nil {
					return fmt.Errorf("state folder %s already holds a cluster (%s exists): run `localkube down` first", dir, e)
				}
			}
		}
	}
	c.StateDir = dir
	c.Kubeconfig = filepath.Join(dir, fileKubeconfig)
	for _, sub := range []string{dirKubeconfigs, dirEtcd, dirLogs, dirPIDs, dirVolumes, dirAgent, dirServices} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("create state folder: %w", err)
		}
	}
	return nil
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// startControlPlane runs the PKI generation and the four processes.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	if c.reuse != nil {
		// The same ports: the etcd member's peer URL and every client
		// configuration built before the restart stay valid.
		c.ports = c.reuse.Ports
	} else {
		ports, err := freePorts(5)
		if err != nil {
			return err
		}
		c.ports = componentPorts{EtcdClient: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3], Scheduler: ports[4]}
	}
	c.APIServerURL = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports.APIServer))
	if err := c.writeClusterRecord(); err != nil {
		return err
	}
	p, err := c.makePKI()
	if err != nil {
		return err
	}
	c.pki = p
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	if c.Config, err = restConfigFor(c.Kubeconfig); err != nil {
		return err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("admin clientset: %w", err)
	}
	return c.startProcesses(ctx)
}

// makePKI generates the cluster's PKI, or loads the kept one.
func (c *Cluster) makePKI() (*pki, error) {
	if c.reuse != nil {
		return loadPKI(c.path(dirPKI), c.Nodes)
	}
	p, err := generatePKI(c.path(dirPKI), pkiSpec{
		apiServerIPs: []net.IP{
			net.IPv4(127, 0, 0, 1),
			net.ParseIP(kubenet.APIServiceIP),
			net.ParseIP(kubenet.GatewayIP),
		},
		apiServerNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + kubenet.ClusterDomain,
		},
		nodes: c.Nodes,
		// The node agent's kubelet endpoints listen on loopback; the
		// nodes' InternalIPs are covered for an agent configured to use
		// them.
		kubeletIPs: c.kubeletIPs(),
	}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("generate PKI: %w", err)
	}
	return p, nil
}

// startProcesses starts etcd, the API server, the controller manager and
// the scheduler in that order, each once the previous one is ready.
func (c *Cluster) startProcesses(ctx context.Context) error {
	etcd, err := c.start(ComponentEtcd, binEtcd, c.etcdArgs())
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, etcd, c.etcdHealthy); err != nil {
		return err
	}
	apiserver, err := c.start(ComponentAPIServer, binAPIServer, c.apiserverArgs())
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, apiserver, c.apiserverReady); err != nil {
		return err
	}
	// The controller manager exits when the API server is not ready yet, so
	// it (and the scheduler) start only now.
	kcm, err := c.start(ComponentControllerManager, binControllerManager, c.controllerManagerArgs())
	if err != nil {
		return err
	}
	sched, err := c.start(ComponentScheduler, binScheduler, c.schedulerArgs())
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, kcm, c.componentHealthy(c.ports.ControllerManager)); err != nil {
		return err
	}
	return c.waitReady(ctx, sched, c.componentHealthy(c.ports.Scheduler))
}

// kubeletIPs are the nodes' distinct InternalIPs.
func (c *Cluster) kubeletIPs() []net.IP {
	var ips []net.IP
	seen := map[string]bool{}
	for i := range c.Nodes {
		a := c.nodeAddr(i + 1)
		if !seen[a.String()] {
			seen[a.String()] = true
			ips = append(ips, net.IP(a.AsSlice()))
		}
	}
	return ips
}

func (c *Cluster) writeKubeconfigs() error {
	kc := []struct {
		path string
		cf   certFiles
	}{
		{c.Kubeconfig, c.pki.Admin},
		{c.path(dirKubeconfigs, "controller-manager.kubeconfig"), c.pki.ControllerManager},
		{c.path(dirKubeconfigs, "scheduler.kubeconfig"), c.pki.Scheduler},
	}
	for _, n := range c.Nodes {
		kc = append(kc, struct {
			path string
			cf   certFiles
		}{c.nodeKubeconfig(n), c.pki.Nodes[n]})
	}
	for _, k := range kc {
		if err := writeKubeconfig(k.path, c.APIServerURL, c.pki.CA.Cert, k.cf); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) nodeKubeconfig(node string) string {
	return c.path(dirKubeconfigs, "node-"+node+".kubeconfig")
}

// NodeConfig returns a client configuration with the identity of node name
// (user system:node:<name> in group system:nodes).
func (c *Cluster) NodeConfig(name string) (*rest.Config, error) {
	if _, ok := c.pki.Nodes[name]; !ok {
		return nil, fmt.Errorf("unknown node %q", name)
	}
	return restConfigFor(c.nodeKubeconfig(name))
}

// start launches one component and records it.
func (c *Cluster) start(name, bin string, args []string) (*proc.Process, error) {
	args = append(args, c.opts.ExtraArgs[name]...)
	p, err := startProcess(name, filepath.Join(c.BinDir, bin), args, c.path(dirLogs, name+".log"), c.path(dirPIDs), c.log)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// waitReady polls check until it succeeds, the process exits or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, p *proc.Process, check func(context.Context) error) error {
	began := time.Now()
	if err := p.WaitReady(ctx, check); err != nil {
		return err
	}
	c.log.Info("component ready", "component", p.Name(), "after", time.Since(began))
	return nil
}

// monitor reports the first unexpected exit of a control-plane process
// through Failed and Err.
func (c *Cluster) monitor(ctx context.Context) {
	c.mu.Lock()
	procs := append([]*proc.Process(nil), c.procs...)
	c.mu.Unlock()
	cases := make(chan *proc.Process, len(procs))
	for _, p := range procs {
		go func() {
			select {
			case <-p.Done():
				cases <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
	case p := <-cases:
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if !stopping {
			err := p.Err()
			c.log.Error("component exited", "component", p.Name(), "err", err)
			c.fail(err)
		}
	}
}

func (c *Cluster) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

// Failed is closed when a part of the running cluster (a control-plane
// process, the provisioner or the node agent) failed; Err says which.
func (c *Cluster) Failed() <-chan struct{} { return c.failed }

// Err returns the failure that closed Failed, or nil.
func (c *Cluster) Err() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

// LogDir is the folder with one log file per component.
func (c *Cluster) LogDir() string { return c.path(dirLogs) }

// ServicesDir is a folder reserved for the cluster DNS and kube-proxy
// (internal/localkube/services) configuration and logs; Stop removes it.
func (c *Cluster) ServicesDir() string { return c.path(dirServices) }

// VolumesDir is the folder the provisioner creates volume directories in.
func (c *Cluster) VolumesDir() string { return c.path(dirVolumes) }

// Agent returns the running node agent, or nil when none was configured.
func (c *Cluster) Agent() NodeAgent { return c.agent }

// Processes returns the PID of every control-plane process, by component.
func (c *Cluster) Processes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		m[p.Name()] = p.PID()
	}
	return m
}

// Stop stops the node agent and the provisioner, then every process Start
// started (in reverse order; SIGTERM, then SIGKILL after
// Options.StopTimeout), and removes what Start created. It is safe to call
// more than once; later calls return the first result. ctx bounds the wait
// for the in-process parts.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopErr = c.stop(ctx, false) })
	return c.stopErr
}

// stop stops everything Start started and, unless keepState, removes its
// state.
func (c *Cluster) stop(ctx context.Context, keepState bool) error {
	c.mu.Lock()
	c.stopping = true
	procs := append([]*proc.Process(nil), c.procs...)
	c.mu.Unlock()

	var errs []error
	if c.bgCancel != nil {
		c.bgCancel()
		done := make(chan struct{})
		go func() { c.bgWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("wait for node agent and provisioner to stop: %w", ctx.Err()))
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		// The grace is Options.StopTimeout whatever is left of ctx.
		if err := p.Stop(context.WithoutCancel(ctx), c.opts.StopTimeout); err != nil {
			errs = append(errs, err)
		}
		c.log.Info("stopped process", "component", p.Name(), "pid", p.PID())
	}
	if err := c.teardownNodeNetwork(); err != nil {
		errs = append(errs, err)
	}
	if c.StateDir != "" && !keepState {
		if err := c.removeState(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeState deletes the state folder (when Start created it) or the
// entries Start created in it.
func (c *Cluster) removeState() error {
	if c.created {
		if err := os.RemoveAll(c.StateDir); err != nil {
			return fmt.Errorf("remove state folder: %w", err)
		}
		return nil
	}
	return removeStateEntries(c.StateDir)
}

func removeStateEntries(dir string) error {
	var errs []error
	for _, e := range stateEntries {
		if err := os.RemoveAll(filepath.Join(dir, e)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e, err))
		}
	}
	return errors.Join(errs...)
}
