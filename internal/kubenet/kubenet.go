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

	// NodeCIDR holds the nodes' own addresses (node i gets NodeAddr(i)),
	// each a Node's InternalIP and its pods' hostIP. They live on the host
	// (internal/nodenet), outside the pod CIDR, so that a network that can
	// reach the nodes need not reach the pods.
	NodeCIDR = "10.243.0.0/24"
	// NodeAddrOffset is added to a node's 1-based index to give its
	// address in a node CIDR: node-1 is 10.243.0.11.
	NodeAddrOffset = 10
	// LoadBalancerCIDR is the pool the local load-balancer controller
	// assigns Service type LoadBalancer addresses from.
	LoadBalancerCIDR = "10.243.1.0/24"
	// OutsideCIDR is the subnet of a network namespace standing for a
	// client outside the cluster (internal/localkube/outside): it routes to
	// the node CIDR and the load-balancer pool only.
	OutsideCIDR = "10.243.2.0/24"
	// NodeLinkName is the interface holding the node addresses.
	NodeLinkName = "redkube-nodes"
)

// NodeAddr returns the address of the i-th node (1-based) in cidr: the
// prefix's base address plus NodeAddrOffset+i.
func NodeAddr(cidr netip.Prefix, i int) netip.Addr {
	a := cidr.Masked().Addr()
	for range NodeAddrOffset + i {
		a = a.Next()
	}
	return a
}

// MustPrefix parses one of this package's CIDR constants; it panics on a
// malformed constant, which is a programming error caught by this package's
// tests.
func MustPrefix(cidr string) netip.Prefix { return netip.MustParsePrefix(cidr) }

// MustAddr parses one of this package's address constants; it panics on a
// malformed constant, which is a programming error caught by this package's
// tests.
func MustAddr(ip string) netip.Addr { return netip.MustParseAddr(ip) }
