// Package services gives the local cluster what a real one has beyond its
// control plane: cluster DNS and Service routing.
//
//   - StartDNS runs CoreDNS (built from its Go module by hack/build-k8s.sh,
//     limited to the kubernetes, bind, cache, errors, log, health and ready
//     plugins) on the pod bridge's gateway address, serving the cluster
//     domain from the API server, so that names such as
//     redis-app-0.redis-service.default.svc.cluster.local resolve from pods and
//     from the host. It forwards nothing: names outside the cluster domain are
//     refused, so no query leaves the machine.
//   - EnsureDNSService publishes that server as the kube-dns Service
//     (kubenet.DNSServiceIP) with a hand-written EndpointSlice pointing at the
//     gateway, which is the nameserver pods get in their resolv.conf.
//   - StartProxy runs the real kube-proxy in nftables mode. It only ever
//     touches its own "kube-proxy" nftables tables, serves NodePorts on the
//     gateway address only, routes the service CIDR into the pod bridge (so
//     that no ClusterIP packet can take the host's default route), and on
//     Stop removes its tables and that route again. One kube-proxy runs per
//     machine: StartProxy takes a host-wide lock.
//
// docs/design/2026-11-25-services.md records why these choices were made and
// what was measured.
//
// Errors are returned wrapped with the component they concern; a process that
// exits before it is ready is reported with the tail of its log. Nothing here
// logs except through the Logger a caller passes in.
package services
