package localkube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redkube/redkube/internal/proc"
)

// ErrNoAgent is returned by StopNode and StartNode when the cluster runs no
// node agent.
var ErrNoAgent = errors.New("the cluster runs no node agent")

// ErrUnknownNode is returned (wrapped) for a node name the cluster does not
// have.
var ErrUnknownNode = errors.New("unknown node")

// Status describes a running cluster.
type Status struct {
	// APIServer is the API server's URL.
	APIServer string `json:"apiServer"`
	// Kubeconfig is the admin kubeconfig path.
	Kubeconfig string `json:"kubeconfig"`
	// StateDir is the state folder.
	StateDir string `json:"stateDir"`
	// BinDir is the folder of the control-plane binaries.
	BinDir string `json:"binDir"`
	// StartDuration is how long Start took.
	StartDuration time.Duration `json:"startDuration"`
	// Components are the control-plane processes, in start order.
	Components []ComponentStatus `json:"components"`
	// Nodes are the registered nodes, in order.
	Nodes []NodeStatus `json:"nodes"`
	// Err is the failure that closed Cluster.Failed, if any.
	Err string `json:"err,omitempty"`
}

// ComponentStatus describes one control-plane process.
type ComponentStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	// RSSBytes is the resident set size (VmRSS) while running.
	RSSBytes uint64 `json:"rssBytes,omitempty"`
	// Log is the component's log file.
	Log string `json:"log"`
}

// NodeStatus describes one registered node as the launcher sees it (the
// node's conditions are in the API).
type NodeStatus struct {
	Name string `json:"name"`
	Zone string `json:"zone"`
	// Stopped is true between StopNode and StartNode.
	Stopped bool `json:"stopped"`
}

// Status reports the cluster's processes and nodes.
func (c *Cluster) Status() Status {
	s := Status{
		APIServer:     c.APIServerURL,
		Kubeconfig:    c.Kubeconfig,
		StateDir:      c.StateDir,
		BinDir:        c.BinDir,
		StartDuration: c.StartDuration,
	}
	c.mu.Lock()
	procs := append([]*proc.Process(nil), c.procs...)
	stopped := make(map[string]bool, len(c.stoppedNodes))
	for n := range c.stoppedNodes {
		stopped[n] = true
	}
	c.mu.Unlock()
	for _, p := range procs {
		cs := ComponentStatus{Name: p.Name(), PID: p.PID(), Running: !p.Exited(), Log: p.LogPath()}
		if cs.Running {
			if rss, err := proc.Status(cs.PID, "VmRSS"); err == nil {
				cs.RSSBytes = rss
			}
		}
		s.Components = append(s.Components, cs)
	}
	for i, n := range c.Nodes {
		s.Nodes = append(s.Nodes, NodeStatus{Name: n, Zone: NodeZone(i + 1), Stopped: stopped[n]})
	}
	if err := c.Err(); err != nil {
		s.Err = err.Error()
	}
	return s
}

// ControlPlaneRSS returns the summed resident set size of the control-plane
// processes.
func (c *Cluster) ControlPlaneRSS() (uint64, error) {
	var sum uint64
	for _, comp := range c.Status().Components {
		if !comp.Running {
			return 0, fmt.Errorf("%s is not running", comp.Name)
		}
		rss, err := proc.Status(comp.PID, "VmRSS")
		if err != nil {
			return 0, err
		}
		sum += rss
	}
	return sum, nil
}

// StopNode simulates the death of node name through the node agent: its
// pods' processes are killed and its heartbeats stop, so the node lifecycle
// controller marks it NotReady (after the grace period) and evicts its pods.
func (c *Cluster) StopNode(ctx context.Context, name string) error {
	if err := c.checkNode(name); err != nil {
		return err
	}
	if err := c.agent.StopNode(ctx, name); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	c.mu.Lock()
	c.stoppedNodes[name] = true
	c.mu.Unlock()
	c.log.Info("node stopped", "node", name)
	return nil
}

// StartNode brings back a node stopped by StopNode.
func (c *Cluster) StartNode(ctx context.Context, name string) error {
	if err := c.checkNode(name); err != nil {
		return err
	}
	if err := c.agent.StartNode(ctx, name); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	c.mu.Lock()
	delete(c.stoppedNodes, name)
	c.mu.Unlock()
	c.log.Info("node started", "node", name)
	return nil
}

func (c *Cluster) checkNode(name string) error {
	if !slices.Contains(c.Nodes, name) {
		return fmt.Errorf("%w %q (nodes: %s)", ErrUnknownNode, name, strings.Join(c.Nodes, ", "))
	}
	if c.agent == nil {
		return ErrNoAgent
	}
	return nil
}
