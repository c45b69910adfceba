package nodeagent

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/redkube/redkube/internal/podnet"
)

// releaseSandbox removes the netns and frees the address.
func (w *podWorker) releaseSandbox() {
	if w.sandbox == nil {
		return
	}
	if w.sandbox.NetnsPath == "" { // host network
		w.sandbox = nil
		return
	}
	if err := podnet.DestroySandbox(w.a.cfg.Network, *w.sandbox); err != nil {
		w.a.log.Warn("sandbox teardown failed", "pod", w.key(), "err", err)
	}
	if err := w.a.ipam.Release(w.sandbox.IP); err != nil {
		w.a.log.Warn("address release failed", "pod", w.key(), "err", err)
	}
	w.sandbox = nil
}

// ensureSandbox creates the pod's network namespace when it has none.
func (w *podWorker) ensureSandbox() error {
	if w.pod.Spec.HostNetwork {
		// The host's network: no netns, the pod IP is the node's address.
		if w.sandbox == nil {
			ip, err := netip.ParseAddr(w.hostAddress())
			if err != nil {
				return fmt.Errorf("host network pod: node address: %w", err)
			}
			w.sandbox = &podnet.Sandbox{IP: ip}
			if err := os.MkdirAll(w.dir, 0o755); err != nil {
				return fmt.Errorf("create pod folder: %w", err)
			}
			if err := w.writeDNSFiles(); err != nil {
				return err
			}
			w.persist()
		}
		return nil
	}
	if w.sandbox != nil && podnet.SandboxAlive(*w.sandbox) {
		return nil
	}
	hadOne := w.sandbox != nil
	w.releaseSandbox()
	ip, err := w.a.ipam.Allocate(string(w.uid))
	if err != nil {
		return fmt.Errorf("allocate pod address: %w", err)
	}
	sb, err := podnet.CreateSandbox(w.a.cfg.Network, w.a.cfg.Network.Bridge+"-"+string(w.uid), ip)
	if err != nil {
		_ = w.a.ipam.Release(ip)
		return fmt.Errorf("create pod network namespace: %w", err)
	}
	w.sandbox = &sb
	if hadOne {
		w.event(corev1.EventTypeNormal, reasonSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("create pod folder: %w", err)
	}
	if err := w.writeDNSFiles(); err != nil {
		return err
	}
	w.persist()
	return nil
}

// writeDNSFiles writes the pod's /etc/hosts and /etc/resolv.conf.
func (w *podWorker) writeDNSFiles() error {
	pod := w.pod
	hostname := podHostname(pod)
	hosts := "# Kubernetes-managed hosts file (redkube node agent).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if pod.Spec.Subdomain != "" {
		fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, w.a.cfg.ClusterDomain)
		hosts += fmt.Sprintf("%s\t%s\t%s\n", w.sandbox.IP, fqdn, hostname)
	} else {
		hosts += fmt.Sprintf("%s\t%s\n", w.sandbox.IP, hostname)
	}
	for _, ha := range pod.Spec.HostAliases {
		for _, h := range ha.Hostnames {
			hosts += fmt.Sprintf("%s\t%s\n", ha.IP, h)
		}
	}
	d := w.a.cfg.ClusterDomain
	search := []string{pod.Namespace + ".svc." + d, "svc." + d, d}
	servers := w.a.cfg.Nameservers
	opts := []string{"ndots:5"}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(append([]string(nil), servers...), dc.Nameservers...)
		search = append(search, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
	}
	resolv := "search"
	for _, s := range search {
		resolv += " " + s
	}
	resolv += "\n"
	for _, s := range servers {
		resolv += "nameserver " + s + "\n"
	}
	resolv += "options"
	for _, o := range opts {
		resolv += " " + o
	}
	resolv += "\n"
	if err := os.WriteFile(filepath.Join(w.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("write pod hosts file: %w", err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return fmt.Errorf("write pod resolv.conf: %w", err)
	}
	return nil
}

func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	if len(pod.Name) > 63 {
		return pod.Name[:63]
	}
	return pod.Name
}
