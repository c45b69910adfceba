package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// kubeletServer is the HTTPS endpoint of one node: what kube-apiserver
// proxies `kubectl logs` to (GET /containerLogs/<ns>/<pod>/<container>).
type kubeletServer struct {
	a    *Agent
	n    *node
	srv  *http.Server
	ln   net.Listener
	port int
}

// followPoll is how often a followed log is checked for new lines.
const followPoll = 100 * time.Millisecond

// startKubeletServers opens a listener per node with a serving certificate
// (on a free port of Config.Kubelet.Address) and serves until ctx ends.
// The ports go into the nodes' status with the next heartbeat.
func (a *Agent) startKubeletServers(ctx context.Context) ([]*kubeletServer, error) {
	kc := a.cfg.Kubelet
	if len(kc.Serving) == 0 {
		return nil, nil
	}
	caPEM, err := os.ReadFile(kc.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: read kubelet client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("nodeagent: no certificate in %s", kc.ClientCA)
	}
	var servers []*kubeletServer
	closeAll := func() {
		for _, s := range servers {
			_ = s.ln.Close()
		}
	}
	for _, name := range a.cfg.Nodes {
		files, ok := kc.Serving[name]
		if !ok {
			continue
		}
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("nodeagent: kubelet serving certificate of node %s: %w", name, err)
		}
		cfg := &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientCAs:    pool,
			// A client without a certificate reaches the handler and gets
			// 401 (as from kubelet); one with a certificate of another CA
			// fails the handshake.
			ClientAuth: tls.VerifyClientCertIfGiven,
			MinVersion: tls.VersionTLS12,
		}
		ln, err := net.Listen("tcp", netip.AddrPortFrom(kc.Address, 0).String())
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("nodeagent: kubelet endpoint of node %s: %w", name, err)
		}
		s := &kubeletServer{a: a, n: a.nodes[name], ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
		s.srv = &http.Server{
			Handler:           s,
			TLSConfig:         cfg,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
		}
		servers = append(servers, s)
	}
	ports := make(map[string]int, len(servers))
	for _, s := range servers {
		ports[s.n.name] = s.port
	}
	a.mu.Lock()
	a.kubeletPorts = ports
	a.mu.Unlock()
	for _, s := range servers {
		go func() {
			if err := s.srv.ServeTLS(s.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("kubelet endpoint stopped", "node", s.n.name, "err", err)
			}
		}()
		a.log.Info("kubelet endpoint serving", "node", s.n.name, "address", s.ln.Addr().String())
	}
	return servers, nil
}

// stopKubeletServers closes the endpoints and their connections (followed
// logs end).
func stopKubeletServers(servers []*kubeletServer) {
	for _, s := range servers {
		_ = s.srv.Close()
	}
}

// KubeletPort returns the port of node name's kubelet endpoint, 0 when it
// has none (or Run has not started it yet).
func (a *Agent) KubeletPort(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.kubeletPorts[name]
}

// ServeHTTP authenticates the API server and routes the kubelet paths this
// agent implements.
func (s *kubeletServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		_, _ = io.WriteString(w, "ok")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	user := r.TLS.PeerCertificates[0].Subject.CommonName
	if user != s.a.cfg.Kubelet.ClientUser {
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", user, strings.ToLower(r.Method)), http.StatusForbidden)
		return
	}
	first, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch first {
	case "containerLogs":
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.containerLogs(w, r, rest)
	case "exec", "attach", "portForward", "run":
		http.Error(w, fmt.Sprintf("%s is not implemented by the redkube node agent: containers are host processes without a CRI runtime; read logs with `kubectl logs` and reach pods at their IP", first), http.StatusNotImplemented)
	default:
		http.NotFound(w, r)
	}
}

// logOptions are the query parameters of /containerLogs (kubelet's names).
type logOptions struct {
	follow, previous, timestamps bool
	tailLines                    int64 // -1: all
	limitBytes                   int64 // 0: no limit
	since                        time.Time
	stream                       string // "", "stdout" or "stderr"
}

func parseLogOptions(q map[string][]string, now time.Time) (logOptions, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	o := logOptions{tailLines: -1}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"follow", &o.follow}, {"previous", &o.previous}, {"timestamps", &o.timestamps}} {
		if v := get(b.key); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("invalid %s %q", b.key, v)
			}
			*b.dst = x
		}
	}
	for _, n := range []struct {
		key string
		dst *int64
		min int64
	}{{"tailLines", &o.tailLines, 0}, {"limitBytes", &o.limitBytes, 1}} {
		if v := get(n.key); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < n.min {
				return o, fmt.Errorf("invalid %s %q", n.key, v)
			}
			*n.dst = x
		}
	}
	if v := get("sinceSeconds"); v != "" {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 1 {
			return o, fmt.Errorf("invalid sinceSeconds %q", v)
		}
		o.since = now.Add(-time.Duration(x) * time.Second)
	}
	if v := get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("invalid sinceTime %q", v)
		}
		o.since = t
	}
	switch v := get("stream"); v {
	case "", "All":
	case "Stdout":
		o.stream = "stdout"
	case "Stderr":
		o.stream = "stderr"
	default:
		return o, fmt.Errorf("invalid stream %q", v)
	}
	return o, nil
}

// containerLogs serves /containerLogs/<ns>/<pod>/<container>.
func (s *kubeletServer) containerLogs(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(path, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		http.Error(w, "expected /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	ns, podName, container := parts[0], parts[1], parts[2]
	opts, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, err := s.n.lister.Pods(ns).Get(podName)
	if apierrors.IsNotFound(err) {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on node %s", ns, podName, s.n.name), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !podHasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, podName), http.StatusNotFound)
		return
	}
	file := containerLogPath(podDir(s.a.cfg.StateDir, pod.UID), container, opts.previous)
	f, err := os.Open(file)
	switch {
	case errors.Is(err, os.ErrNotExist) && opts.previous:
		http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, podName), http.StatusBadRequest)
		return
	case errors.Is(err, os.ErrNotExist):
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, podName, waitingReasonOf(pod, container)), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, fmt.Sprintf("open container log: %v", err), http.StatusInternalServerError)
		return
	}
	defer func() { _ = f.Close() }() // read-only
	var done <-chan struct{}
	if !opts.previous {
		if ch, ok := s.a.liveLogs.Load(file); ok {
			done = ch.(chan struct{})
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	lw := &limitedWriter{w: w, limited: opts.limitBytes > 0, left: opts.limitBytes}
	if err := s.writeLog(r.Context(), lw, f, file, pod, container, opts, done); err != nil && !errors.Is(err, errLimitReached) && r.Context().Err() == nil {
		s.a.log.Warn("serving container log failed", "pod", ns+"/"+podName, "container", container, "err", err)
	}
}

// writeLog writes the selected entries of f, then (when following) new
// ones until the container instance's output is complete, the log is
// rotated by a restart, or ctx ends.
func (s *kubeletServer) writeLog(ctx context.Context, w *limitedWriter, f *os.File, file string, pod *corev1.Pod, container string, opts logOptions, done <-chan struct{}) error {
	lr := newLineReader(f)
	keep := func(e logEntry) bool {
		if opts.stream != "" && e.stream != opts.stream {
			return false
		}
		// Lines without a timestamp (written directly, KeepPodsOnExit)
		// cannot be placed in time and are kept.
		return opts.since.IsZero() || e.ts.IsZero() || !e.ts.Before(opts.since)
	}
	emit := func(e logEntry) error {
		if opts.timestamps && !e.ts.IsZero() {
			if _, err := w.Write(e.ts.AppendFormat(nil, time.RFC3339Nano)); err != nil {
				return err
			}
			if _, err := w.Write([]byte{' '}); err != nil {
				return err
			}
		}
		_, err := w.Write(e.content)
		return err
	}
	// What is in the file now, with tailLines applied.
	var tail []logEntry
	for {
		line, ok, err := lr.next()
		if err != nil {
			return fmt.Errorf("read container log: %w", err)
		}
		if !ok {
			break
		}
		e := parseLogLine(line)
		if !keep(e) {
			continue
		}
		if opts.tailLines < 0 {
			if err := emit(e); err != nil {
				return err
			}
			continue
		}
		if opts.tailLines == 0 {
			continue
		}
		if int64(len(tail)) == opts.tailLines {
			tail = tail[1:]
		}
		tail = append(tail, e)
	}
	for _, e := range tail {
		if err := emit(e); err != nil {
			return err
		}
	}
	if !opts.follow || opts.previous {
		return nil
	}
	w.flush()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat container log: %w", err)
	}
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		// Checked before reading, so that the lines written before the
		// end are still sent.
		finished := s.instanceFinished(done, file, st, pod, container)
		for {
			line, ok, err := lr.next()
			if err != nil {
				return fmt.Errorf("read container log: %w", err)
			}
			if !ok {
				break
			}
			if e := parseLogLine(line); keep(e) {
				if err := emit(e); err != nil {
					return err
				}
			}
		}
		w.flush()
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// instanceFinished reports whether the followed container instance will
// write no more to the opened log file.
func (s *kubeletServer) instanceFinished(done <-chan struct{}, file string, opened os.FileInfo, pod *corev1.Pod, container string) bool {
	if cur, err := os.Stat(file); err != nil || !os.SameFile(cur, opened) {
		return true // rotated by a restart, or removed with the pod
	}
	if done != nil {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	// An instance this agent did not start (adopted after an agent
	// restart): go by the reported status.
	cur, err := s.n.lister.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID {
		return true
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), cur.Status.ContainerStatuses...), cur.Status.InitContainerStatuses...) {
		if cs.Name == container {
			return cs.State.Running == nil
		}
	}
	return true
}

func podHasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.Containers...), pod.Spec.InitContainers...) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// waitingReasonOf returns the container's waiting reason as reported, or
// ContainerCreating.
func waitingReasonOf(pod *corev1.Pod, name string) string {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.ContainerStatuses...), pod.Status.InitContainerStatuses...) {
		if cs.Name == name && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return cs.State.Waiting.Reason
		}
	}
	return "ContainerCreating"
}

// errLimitReached ends a response at limitBytes.
var errLimitReached = errors.New("limitBytes reached")

// limitedWriter writes at most left bytes when limited, and flushes on
// demand.
type limitedWriter struct {
	w       http.ResponseWriter
	limited bool
	left    int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.limited && l.left == 0 {
		return 0, errLimitReached
	}
	if l.limited && int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	if l.limited {
		l.left -= int64(n)
		if err == nil && l.left == 0 {
			return n, errLimitReached
		}
	}
	if err != nil {
		return n, fmt.Errorf("write response: %w", err)
	}
	return n, nil
}

func (l *limitedWriter) flush() {
	if fl, ok := l.w.(http.Flusher); ok {
		fl.Flush()
	}
}
