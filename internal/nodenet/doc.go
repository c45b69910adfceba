// Package nodenet gives the local cluster's nodes addresses of their own on
// the host, apart from the pod network, as a cloud or bare-metal cluster
// has: node i holds kubenet.NodeAddr(CIDR, i), the Node's InternalIP and
// its pods' hostIP, where kube-proxy serves NodePorts.
//
// All node addresses sit on one interface (Config.Link: a bridge that never
// gets ports, standing in for a dummy interface, which this kernel lacks)
// with the node CIDR's prefix length, so the kernel routes the whole node
// CIDR to it, and the load-balancer pool is routed to it too. A port-less
// bridge drops what it is given: a packet to a node address is delivered locally, a packet to
// a load-balancer address is DNATed to a pod by kube-proxy before routing,
// and anything else addressed to these ranges ends there instead of leaving
// through the host's default route. Deleting the interface takes every
// address and route along.
//
// Errors are returned wrapped with the interface or address they concern;
// nothing here logs. Setup and Teardown need CAP_NET_ADMIN (root).
package nodenet
