package redisenv

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/proc"
)

// ServerBinary is the redis-server executable Start runs. Tests may override
// it through the REDISENV_SERVER environment variable.
var ServerBinary = "redis-server"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 20 * time.Second

// Node is one running (or killed) redis-server.
type Node struct {
	// Addr is "127.0.0.1:<port>", the address clients dial (over TLS when
	// TLS is set).
	Addr string
	// Port is the client port: the TLS port under WithTLS (the plain port
	// is then disabled), the plain port otherwise.
	Port int
	// BusPort is the cluster bus port (0 when not in cluster mode).
	BusPort int
	// Dir is the node's working directory (nodes.conf, AOF, redis.log).
	Dir string
	// TLS holds the certificates the node uses; nil without WithTLS.
	TLS *Certs
	// Username and Password are the credentials a client needs: the ACL
	// user of WithACLUser, or "" and the password of WithPassword. Both
	// are empty when the node requires none.
	Username, Password string

	tb   testing.TB
	conf string
	cfg  *config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

type config struct {
	standalone bool
	password   string
	aclUser    string
	aclPass    string
	useTLS     bool
	tls        *Certs
	tlsFiles   *Certs
	extra      [][2]string
}

// Option changes how Start configures servers.
type Option func(*config)

// WithConfig adds a "key value" line to every server's configuration file,
// e.g. WithConfig("repl-diskless-sync-delay", "5").
func WithConfig(key, value string) Option {
	return func(c *config) { c.extra = append(c.extra, [2]string{key, value}) }
}

// WithNodeTimeout sets cluster-node-timeout.
func WithNodeTimeout(d time.Duration) Option {
	return WithConfig("cluster-node-timeout", strconv.FormatInt(d.Milliseconds(), 10))
}

// WithAppendOnly turns on the append-only file.
func WithAppendOnly() Option { return WithConfig("appendonly", "yes") }

// WithPassword sets requirepass (and masterauth, so replicas can sync).
func WithPassword(pw string) Option {
	return func(c *config) { c.password = pw }
}

// WithACLUser adds the ACL user name with password pw and every permission
// ("user name on >pw ~* &* +@all") and makes replicas authenticate as that
// user (masteruser, masterauth). Unless WithPassword is given too, the
// default user is switched off, so every client must AUTH name pw. The
// cluster bus does not use ACL. The password must not contain spaces.
func WithACLUser(name, pw string) Option {
	return func(c *config) { c.aclUser, c.aclPass = name, pw }
}

// Standalone starts servers without cluster mode.
func Standalone() Option { return func(c *config) { c.standalone = true } }

// Start launches n redis-servers in parallel and returns them once each
// answers PING. It fails tb (tb.Fatal) when a server cannot be started. All
// servers are killed in tb.Cleanup.
func Start(tb testing.TB, n int, opts ...Option) []*Node {
	tb.Helper()
	if v := os.Getenv("REDISENV_SERVER"); v != "" {
		ServerBinary = v
	}
	if _, err := exec.LookPath(ServerBinary); err != nil {
		tb.Fatalf("redisenv: %s not found: %v", ServerBinary, err)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.useTLS && cfg.tls == nil {
		cfg.tls = NewCerts(tb)
	}
	user, pass := "", cfg.password
	if cfg.aclUser != "" {
		user, pass = cfg.aclUser, cfg.aclPass
	}
	nodes := make([]*Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		nodes[i] = &Node{tb: tb, Dir: tb.TempDir(), TLS: cfg.tls, Username: user, Password: pass, cfg: &cfg}
		wg.Add(1)
		go func(nd *Node, i int) {
			defer wg.Done()
			errs[i] = nd.startFresh(&cfg)
		}(nodes[i], i)
	}
	wg.Wait()
	tb.Cleanup(func() {
		for _, nd := range nodes {
			if tb.Failed() {
				nd.dumpLog()
			}
			nd.Kill()
		}
	})
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("redisenv: %v", err)
	}
	return nodes
}

// startFresh picks free ports, writes the configuration and starts the
// server, retrying with other ports when a port was taken meanwhile.
func (nd *Node) startFresh(cfg *config) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var ports []int
		ports, err = freePorts(2)
		if err != nil {
			return err
		}
		nd.Port = ports[0]
		nd.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.Port))
		if !cfg.standalone {
			nd.BusPort = ports[1]
		}
		nd.conf = filepath.Join(nd.Dir, "redis.conf")
		if err = os.WriteFile(nd.conf, []byte(nd.render(cfg)), 0o600); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		if err = nd.launch(); err == nil {
			return nil
		}
	}
	return err
}

func (nd *Node) render(cfg *config) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	line("bind", "127.0.0.1")
	if cfg.tls != nil {
		line("port", "0")
		line("tls-port", strconv.Itoa(nd.Port))
		line("tls-cert-file", cfg.tls.ServerCertFile)
		line("tls-key-file", cfg.tls.ServerKeyFile)
		line("tls-ca-cert-file", cfg.tls.CAFile)
		line("tls-auth-clients", "yes")
		line("tls-cluster", "yes")
		line("tls-replication", "yes")
	} else {
		line("port", strconv.Itoa(nd.Port))
		if f := cfg.tlsFiles; f != nil {
			line("tls-cert-file", f.ServerCertFile)
			line("tls-key-file", f.ServerKeyFile)
			line("tls-ca-cert-file", f.CAFile)
		}
	}
	line("dir", nd.Dir)
	line("daemonize", "no")
	line("protected-mode", "no")
	line("save", `""`)
	line("appendonly", "no")
	line("logfile", filepath.Join(nd.Dir, "redis.log"))
	if !cfg.standalone {
		line("cluster-enabled", "yes")
		line("cluster-config-file", "nodes.conf")
		line("cluster-port", strconv.Itoa(nd.BusPort))
		line("cluster-node-timeout", "5000")
	}
	if cfg.password != "" {
		line("requirepass", cfg.password)
		line("masterauth", cfg.password)
	}
	if cfg.aclUser != "" {
		if cfg.password == "" {
			line("user", "default off")
		}
		line("user", cfg.aclUser+" on >"+cfg.aclPass+" ~* &* +@all")
		line("masteruser", cfg.aclUser)
		line("masterauth", cfg.aclPass)
	}
	for _, kv := range cfg.extra {
		line(kv[0], kv[1])
	}
	return b.String()
}

// launch starts the process and waits for PING; on failure the process is
// killed and the error carries the tail of its log.
func (nd *Node) launch() error {
	cmd := exec.Command(ServerBinary, nd.conf)
	cmd.Dir = nd.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", ServerBinary, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s%s", nd.Port, stderr.String(), nd.logTail(20))
		default:
		}
		if probe(nd.Addr, nd.ClientTLSConfig()) {
			return nil
		}
		if time.Now().After(deadline) {
			nd.Kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %s%s", nd.Port, startTimeout, nd.logTail(20))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ping reports whether a plain-TCP server answers PING at addr.
func ping(addr string) bool { return probe(addr, nil) }

// probe reports whether a server answers PING at addr, over TLS when tc is
// not nil. A NOAUTH error counts as an answer (the server is up); LOADING
// does not.
func probe(addr string, tc *tls.Config) bool {
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }() // a probe: the reply is the answer
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false
	}
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
}

// Pid returns the server's process id, or 0 when it is not running.
func (nd *Node) Pid() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil || nd.cmd.Process == nil {
		return 0
	}
	select {
	case <-nd.done:
		return 0
	default:
	}
	return nd.cmd.Process.Pid
}

// Kill stops the server with SIGKILL and waits for it to exit. Killing a
// stopped node does nothing.
func (nd *Node) Kill() {
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart kills the server (when running) and starts it again on the same
// port and directory, so nodes.conf and any AOF are kept. It fails the test
// when the server does not come back.
func (nd *Node) Restart() {
	nd.tb.Helper()
	nd.Kill()
	if err := nd.launch(); err != nil {
		nd.tb.Fatalf("redisenv: restart %s: %v", nd.Addr, err)
	}
}

// Log returns the server's log file contents.
func (nd *Node) Log() string {
	b, err := os.ReadFile(filepath.Join(nd.Dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func (nd *Node) logTail(n int) string {
	return "\nlog tail:\n" + proc.Tail(filepath.Join(nd.Dir, "redis.log"), n)
}

func (nd *Node) dumpLog() {
	nd.tb.Logf("redisenv: %s (dir %s)%s", nd.Addr, nd.Dir, nd.logTail(30))
}

// handedOut are the ports freePorts returned in this process. A port is
// never handed out twice: two servers started at once could otherwise be
// given the same just-freed port, and the one that failed to bind would
// answer the readiness probe with the other's PING.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// freePorts returns n distinct loopback ports that were free a moment ago
// and were not handed out before in this process.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("find free port: every port the kernel offered was handed out before")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l) // held until return, so the kernel offers others
		if p := l.Addr().(*net.TCPAddr).Port; !handedOut.ports[p] {
			handedOut.ports[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// Pause stops the server with SIGSTOP: it keeps its port, the kernel still
// accepts connections on it, and nothing answers. The test's cleanup
// resumes it (SIGCONT) before the servers are killed.
func (nd *Node) Pause() {
	nd.tb.Helper()
	pid := nd.Pid()
	if pid == 0 {
		nd.tb.Fatalf("redisenv: pause %s: not running", nd.Addr)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		nd.tb.Fatalf("redisenv: pause %s: %v", nd.Addr, err)
	}
	nd.tb.Cleanup(nd.Resume)
}

// Resume continues a server Pause stopped (SIGCONT); it does nothing to a
// server that is not running.
func (nd *Node) Resume() {
	if pid := nd.Pid(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGCONT) // gone meanwhile: nothing to resume
	}
}

// SilentListener listens on a free loopback port, accepts every connection
// and never sends a byte: a port that is open but is no Redis (or a hung
// one). It returns "127.0.0.1:<port>"; the listener and its connections are
// closed in tb.Cleanup.
func SilentListener(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redisenv: silent listener: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close() // ends the accept loop; nothing else to report
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
