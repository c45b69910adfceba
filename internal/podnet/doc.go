// Package podnet gives each pod of the local cluster its own network
// namespace: a named netns with loopback up and an eth0 whose veth peer is
// attached to a Linux bridge on the host, holding one address from the pod
// CIDR.
//
// The pieces are:
//   - EnsureBridge / DeleteBridge: the host bridge (kubenet.BridgeName with
//     kubenet.GatewayIP by default), created when missing.
//   - IPAM: a file-backed, flock-protected allocator that hands out addresses
//     round-robin, so a recreated pod gets a new address rather than the one
//     its predecessor just released.
//   - CreateSandbox / DestroySandbox: the netns, the veth pair, the address.
//
// There is no default route inside a pod namespace: host<->pod and pod<->pod
// traffic flow over the bridge, which is all the local cluster needs, and no
// pod traffic can leave the machine.
//
// Errors are returned wrapped with the object they concern (bridge, netns or
// veth name); nothing here logs. All functions need CAP_NET_ADMIN and
// CAP_SYS_ADMIN (root).
package podnet
