package nodeagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/redkube/redkube/internal/podexec"
	"github.com/redkube/redkube/internal/podnet"
)

// podRecord is what survives an agent restart about one pod, in
// <StateDir>/pods/<uid>/state.json.
type podRecord struct {
	UID        types.UID                   `json:"uid"`
	Namespace  string                      `json:"namespace"`
	Name       string                      `json:"name"`
	Node       string                      `json:"node"`
	Sandbox    *podnet.Sandbox             `json:"sandbox,omitempty"`
	StartTime  time.Time                   `json:"startTime"`
	Containers map[string]*containerRecord `json:"containers"`
}

// containerRecord is one container's persisted state.
type containerRecord struct {
	PID          int                              `json:"pid,omitempty"`
	Ticks        uint64                           `json:"ticks,omitempty"`
	ID           string                           `json:"id,omitempty"`
	StartedAt    time.Time                        `json:"startedAt"`
	RestartCount int32                            `json:"restartCount"`
	Env          []string                         `json:"env,omitempty"`
	Term         *corev1.ContainerStateTerminated `json:"term,omitempty"`
}

func podDir(stateDir string, uid types.UID) string {
	return filepath.Join(stateDir, "pods", string(uid))
}

func saveRecord(stateDir string, r *podRecord) error {
	dir := podDir(stateDir, r.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nodeagent: create pod folder: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("nodeagent: encode pod record: %w", err)
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	// 0600: the record holds the container environment (Secret values).
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("nodeagent: write pod record: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("nodeagent: replace pod record: %w", err)
	}
	return nil
}

func loadRecords(stateDir string) ([]*podRecord, error) {
	root := filepath.Join(stateDir, "pods")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nodeagent: list pod records: %w", err)
	}
	var out []*podRecord
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(root, e.Name(), "state.json"))
		if err != nil {
			continue // a folder without a record: removed by adopt
		}
		var r podRecord
		if err := json.Unmarshal(data, &r); err != nil || r.UID == "" {
			continue
		}
		out = append(out, &r)
	}
	return out, nil
}

// adoptRecords turns the records of a previous agent into workers before
// the informers start (so no worker is created twice): live processes are
// watched again, dead ones count as exited. Pods of nodes this agent does
// not serve are cleaned up. It returns the UIDs it saw.
func (a *Agent) adoptRecords(records []*podRecord) map[types.UID]bool {
	known := map[types.UID]bool{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range records {
		known[r.UID] = true
		n := a.nodes[r.Node]
		if n == nil {
			a.log.Info("cleaning up pod of an unserved node", "pod", r.Namespace+"/"+r.Name, "node", r.Node)
			cleanupRecord(a, r)
			continue
		}
		w := newPodWorker(a, n, r.Namespace, r.Name, r.UID, r)
		a.startWorkerLocked(w)
		w.wake()
	}
	return known
}

// cleanupOrphans frees addresses and netns files of this bridge that no
// record or worker accounts for (left by a crash between steps).
func (a *Agent) cleanupOrphans(known map[types.UID]bool) {
	if owners, err := a.ipam.Owners(); err == nil {
		for addr, owner := range owners {
			if !known[types.UID(owner)] && !a.hasWorker(types.UID(owner)) {
				_ = a.ipam.Release(addr)
			}
		}
	}
	if names, err := podnet.ListNetns(a.cfg.Network, a.cfg.Network.Bridge+"-"); err == nil {
		for _, name := range names {
			uid := types.UID(name[len(a.cfg.Network.Bridge)+1:])
			if !known[uid] && !a.hasWorker(uid) {
				sb := podnet.Sandbox{Name: name, NetnsPath: filepath.Join(netnsDir(a.cfg.Network), name), HostVeth: podnet.HostVethName(name)}
				_ = podnet.DestroySandbox(a.cfg.Network, sb)
			}
		}
	}
}

func (a *Agent) hasWorker(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workers[uid] != nil
}

// cleanupRecord kills what a record describes and removes its traces.
func cleanupRecord(a *Agent, r *podRecord) {
	for _, c := range r.Containers {
		if c.PID > 0 && podexec.Alive(c.PID, c.Ticks) {
			_ = podexec.KillGroup(c.PID, c.Ticks)
		}
	}
	if r.Sandbox != nil && r.Sandbox.NetnsPath != "" {
		_ = podnet.DestroySandbox(a.cfg.Network, *r.Sandbox)
		_ = a.ipam.Release(r.Sandbox.IP)
	}
	_ = os.RemoveAll(podDir(a.cfg.StateDir, r.UID))
}

func netnsDir(c podnet.Config) string {
	if c.NetnsDir == "" {
		return podnet.DefaultNetnsDir
	}
	return c.NetnsDir
}
