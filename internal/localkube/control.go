package localkube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The control API of a running `localkube up`, served as HTTP over the unix
// socket <StateDir>/control.sock (mode 0600: only the owner may use it):
//
//	GET  /v1/status              -> 200 Status
//	POST /v1/nodes/{name}/stop   -> 204; 404 unknown node; 409 no node agent
//	POST /v1/nodes/{name}/start  -> 204; 404 unknown node; 409 no node agent
//
// Errors are answered with a JSON body {"error": "..."}.
const (
	controlPathStatus = "/v1/status"
	controlPathNode   = "/v1/nodes/"
)

// launcherRecord is the PID record name of the process serving the control
// socket (the `localkube up` process); Down signals it first.
const launcherRecord = "localkube"

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the terminating NUL).
const maxSocketPath = 107

// ControlSocketPath returns the control socket of the cluster whose state
// folder is stateDir.
func ControlSocketPath(stateDir string) string { return filepath.Join(stateDir, fileControlSocket) }

// ServeControl serves the control API on the cluster's control socket until
// ctx ends, and records the calling process as the cluster's launcher, so
// that Down stops it first. It returns nil when ctx ends.
func (c *Cluster) ServeControl(ctx context.Context) error {
	path := ControlSocketPath(c.StateDir)
	if len(path) > maxSocketPath {
		return fmt.Errorf("control socket path %s is longer than %d bytes: use a shorter state folder", path, maxSocketPath)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if err := writePIDRecord(c.path(dirPIDs), launcherRecord, os.Getpid(), exe); err != nil {
		return err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return fmt.Errorf("restrict control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+controlPathStatus, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Status())
	})
	mux.HandleFunc("POST "+controlPathNode+"{name}/stop", func(w http.ResponseWriter, r *http.Request) {
		c.serveNodeOp(w, r, c.StopNode)
	})
	mux.HandleFunc("POST "+controlPathNode+"{name}/start", func(w http.ResponseWriter, r *http.Request) {
		c.serveNodeOp(w, r, c.StartNode)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	c.log.Info("control socket listening", "path", path)
	select {
	case err := <-errc:
		return fmt.Errorf("serve control socket: %w", err)
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			return fmt.Errorf("shut down control socket: %w", err)
		}
		return nil
	}
}

func (c *Cluster) serveNodeOp(w http.ResponseWriter, r *http.Request, op func(context.Context, string) error) {
	err := op(r.Context(), r.PathValue("name"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrUnknownNode):
		writeJSON(w, http.StatusNotFound, controlError{Error: err.Error()})
	case errors.Is(err, ErrNoAgent):
		writeJSON(w, http.StatusConflict, controlError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, controlError{Error: err.Error()})
	}
}

type controlError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ControlClient talks to the control socket of a running `localkube up`.
type ControlClient struct {
	socket string
	hc     *http.Client
}

// NewControlClient returns a client for the cluster whose state folder is
// stateDir. It does not connect until a method is called.
func NewControlClient(stateDir string) *ControlClient {
	socket := ControlSocketPath(stateDir)
	return &ControlClient{socket: socket, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// ErrNotRunning is returned (wrapped) by ControlClient methods when no
// `localkube up` serves the state folder.
var ErrNotRunning = errors.New("no running localkube for this state folder")

// Status fetches the cluster's status.
func (cc *ControlClient) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := cc.do(ctx, http.MethodGet, controlPathStatus, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// StopNode asks the running cluster to stop node name (see Cluster.StopNode).
func (cc *ControlClient) StopNode(ctx context.Context, name string) error {
	return cc.do(ctx, http.MethodPost, controlPathNode+name+"/stop", nil)
}

// StartNode asks the running cluster to start node name again.
func (cc *ControlClient) StartNode(ctx context.Context, name string) error {
	return cc.do(ctx, http.MethodPost, controlPathNode+name+"/start", nil)
}

func (cc *ControlClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://localkube"+path, http.NoBody)
	if err != nil {
		return fmt.Errorf("build control request: %w", err)
	}
	resp, err := cc.hc.Do(req)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (%s): %w", ErrNotRunning, cc.socket, err)
		}
		return fmt.Errorf("control request %s %s: %w", method, path, err)
	}
	// The answer is read in full below; closing a response body only
	// releases the connection and has nothing to report.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read control answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		msg := string(bytes.TrimSpace(body))
		var ce controlError
		if json.Unmarshal(body, &ce) == nil && ce.Error != "" {
			msg = ce.Error
		}
		switch resp.StatusCode {
		case http.StatusNotFound:
			return &remoteError{msg: msg, kind: ErrUnknownNode}
		case http.StatusConflict:
			return &remoteError{msg: msg, kind: ErrNoAgent}
		default:
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
		}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode control answer: %w", err)
		}
	}
	return nil
}

// remoteError is an error answered by the control socket: its message is
// the server's, and it matches the server-side sentinel with errors.Is.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// DownResult says what Down found and did.
type DownResult struct {
	// Stopped names the processes that were running and were stopped.
	Stopped []string
	// Removed is true when state was removed.
	Removed bool
}

// Down stops a cluster started by another process from its state folder:
// it signals the recorded launcher (`localkube up`, which then stops its
// cluster itself), then stops every recorded control-plane process still
// running — each only if it is still the process recorded (same PID and
// start time) — and removes the state Start created. grace is how long each
// process gets after SIGTERM before SIGKILL.
func Down(ctx context.Context, stateDir string, grace time.Duration) (DownResult, error) {
	var res DownResult
	pidDir := filepath.Join(stateDir, dirPIDs)
	recs, err := readPIDRecords(pidDir)
	if err != nil {
		return res, err
	}
	// The launcher first: its own Stop stops the rest in order and cleans
	// up; it may take several graces.
	for _, r := range recs {
		if r.Name != launcherRecord {
			continue
		}
		found, err := r.terminate(5 * grace)
		if found {
			res.Stopped = append(res.Stopped, r.Name)
		}
		if err != nil {
			return res, err
		}
	}
	for _, r := range recs {
		if r.Name == launcherRecord {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("localkube down: %w", err)
		}
		found, err := r.terminate(grace)
		if found {
			res.Stopped = append(res.Stopped, r.Name)
		}
		if err != nil {
			return res, err
		}
	}
	if _, err := os.Stat(stateDir); errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err := removeStateEntries(stateDir); err != nil {
		return res, err
	}
	res.Removed = true
	// The folder itself goes too when nothing else is in it.
	if err := os.Remove(stateDir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return res, fmt.Errorf("remove state folder: %w", err)
	}
	return res, nil
}
