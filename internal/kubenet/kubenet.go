// Package kubenet holds the network and naming constants the local cluster's
// parts agree on: the launcher (internal/localkube) puts the first service IP
// and the bridge gateway into the API server's certificate, the node agent
// (internal/nodeagent) builds the bridge and gives pods addresses from the pod
// CIDR, and the kube-proxy/DNS support serves the service CIDR and cluster
// domain.
//
// It is a leaf package (standard library only) so that every one of those
// packages can import it without import cycles.
package kubenet

import "net/netip"

const (
	// PodCIDR is the subnet pod network namespaces get their addresses from.
	PodCIDR = "10.244.0.0/16"
	// GatewayIP is the host side of the pod bridge (the bridge's own address).
	// Pods reach the host, and through it the API server and DNS, here.
	GatewayIP = "10.244.0.1"
	// BridgeName is the Linux bridge the pods' veth pairs are attached to.
	BridgeName = "redkube0"

	// ServiceCIDR is the ClusterIP range given to kube-apiserver.
	ServiceCIDR = "10.96.0.0/16"
	// APIServiceIP is the ClusterIP of the default/kubernetes Service (the
	// first address of ServiceCIDR; it is in the API server's certificate).
	APIServiceIP = "10.96.0.1"
	// DNSServiceIP is the ClusterIP reserved for the cluster DNS Service.
	DNSServiceIP = "10.96.0.10"
	// ClusterDomain is the DNS domain of the cluster.
	ClusterDomain = "cluster.local"
)

// MustPrefix parses one of this package's CIDR constants; it panics on a
// malformed constant, which is a programming error caught by this package's
// tests.
func MustPrefix(cidr string) netip.Prefix { return netip.MustParsePrefix(cidr) }

// MustAddr parses one of this package's address constants; it panics on a
// malformed constant, which is a programming error caught by this package's
// tests.
func MustAddr(ip string) netip.Addr { return netip.MustParseAddr(ip) }
