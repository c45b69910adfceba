package localkube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// fileClusterRecord is the state-folder entry that lets Start reuse a
// cluster's state (Options.ReuseState): its loopback ports and nodes.
const fileClusterRecord = "cluster.json"

// clusterRecord is what Start needs to know about a kept cluster beyond its
// files: the ports (the kubeconfigs, the etcd member's peer URL and every
// client keep pointing at them), the nodes, and whether the state folder
// was a temporary one the last Stop must remove.
type clusterRecord struct {
	Ports   componentPorts `json:"ports"`
	Nodes   []string       `json:"nodes"`
	Created bool           `json:"created"`
}

func (c *Cluster) writeClusterRecord() error {
	b, err := json.Marshal(clusterRecord{Ports: c.ports, Nodes: c.Nodes, Created: c.created})
	if err != nil {
		return fmt.Errorf("encode cluster record: %w", err)
	}
	if err := os.WriteFile(c.path(fileClusterRecord), b, 0o600); err != nil {
		return fmt.Errorf("write cluster record: %w", err)
	}
	return nil
}

func readClusterRecord(dir string) (*clusterRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileClusterRecord))
	if err != nil {
		return nil, fmt.Errorf("state folder %s holds no cluster to reuse: %w", dir, err)
	}
	var r clusterRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode cluster record: %w", err)
	}
	return &r, nil
}

// checkReusable returns the record of the cluster kept in dir, after
// checking that none of its recorded processes still runs (a launcher
// serving the folder, or a control-plane process that outlived it) and
// that it has the node count asked for.
func checkReusable(dir string, nodes int) (*clusterRecord, error) {
	rec, err := readClusterRecord(dir)
	if err != nil {
		return nil, err
	}
	if len(rec.Nodes) != nodes {
		return nil, fmt.Errorf("state folder %s holds a cluster of %d nodes, not %d", dir, len(rec.Nodes), nodes)
	}
	pids, err := readPIDRecords(filepath.Join(dir, dirPIDs))
	if err != nil {
		return nil, err
	}
	for _, r := range pids {
		if r.PID != os.Getpid() && r.alive() {
			return nil, fmt.Errorf("state folder %s is in use: %s (pid %d) still runs", dir, r.Name, r.PID)
		}
	}
	return rec, nil
}

// loadPKI returns the PKI generatePKI wrote into dir for nodes, after
// checking every file is there. It loads no key: a reused cluster issues no
// certificate.
func loadPKI(dir string, nodes []string) (*pki, error) {
	pair := func(name string) certFiles {
		return certFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	}
	p := &pki{
		Dir:               dir,
		CA:                pair("ca"),
		APIServer:         pair("apiserver"),
		EtcdServer:        pair("etcd-server"),
		APIServerEtcd:     pair("apiserver-etcd-client"),
		ComponentsServing: pair("components-serving"),
		Admin:             pair("admin"),
		ControllerManager: pair("controller-manager"),
		Scheduler:         pair("scheduler"),
		KubeletClient:     pair("apiserver-kubelet-client"),
		Nodes:             make(map[string]certFiles, len(nodes)),
		KubeletServing:    make(map[string]certFiles, len(nodes)),
		FrontProxyCA:      filepath.Join(dir, "front-proxy-ca.crt"),
		ServiceAccountKey: filepath.Join(dir, "sa.key"),
		ServiceAccountPub: filepath.Join(dir, "sa.pub"),
	}
	files := []string{p.FrontProxyCA, p.ServiceAccountKey, p.ServiceAccountPub}
	for _, f := range []certFiles{p.CA, p.APIServer, p.EtcdServer, p.APIServerEtcd, p.ComponentsServing, p.Admin, p.ControllerManager, p.Scheduler, p.KubeletClient} {
		files = append(files, f.Cert, f.Key)
	}
	for _, n := range nodes {
		p.Nodes[n] = pair("node-" + n)
		p.KubeletServing[n] = pair("kubelet-" + n)
		files = append(files, p.Nodes[n].Cert, p.Nodes[n].Key, p.KubeletServing[n].Cert, p.KubeletServing[n].Key)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("reuse PKI: %w", err)
		}
	}
	return p, nil
}

// StopKeepState stops the cluster as a power cut would stop a machine, and
// keeps its state for Start with Options.ReuseState (see Restart): every
// pod's processes are killed at once (the node agent's StopNode on every
// node), then the agent, the provisioner and the control-plane processes
// stop as with Stop, and nothing is removed from the state folder (PKI,
// kubeconfigs, etcd data, volumes, the agent's folder, logs). Stop and
// StopKeepState share their once: only the first call acts.
func (c *Cluster) StopKeepState(ctx context.Context) error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.agent != nil {
			for _, n := range c.Nodes {
				if err := c.agent.StopNode(ctx, n); err != nil {
					errs = append(errs, fmt.Errorf("kill the pods of node %s: %w", n, err))
				}
			}
		}
		c.stopErr = errors.Join(append(errs, c.stop(ctx, true))...)
	})
	return c.stopErr
}

// Restart stops the cluster keeping its state (StopKeepState) and starts it
// again on that state with the same options, returning the new Cluster: the
// same CA, certificates, kubeconfigs and API server address, the same etcd
// data (every object, pods bound to the same nodes), the nodes registered
// again under the same names, and the node agent starting the pods it finds
// on its nodes on their existing volumes, in new sandboxes (new pod IPs).
// ctx bounds the start (DefaultStartTimeout when it has no deadline). c
// must not be used afterwards; on error the state is kept.
func (c *Cluster) Restart(ctx context.Context) (*Cluster, error) {
	if err := c.StopKeepState(ctx); err != nil {
		return nil, fmt.Errorf("stop the cluster keeping its state: %w", err)
	}
	opts := c.opts
	opts.StateDir = c.StateDir
	opts.ReuseState = true
	return Start(ctx, opts)
}
