// Package loadbalancer is the local cluster's load-balancer controller, in
// the role cloud-provider-kind or MetalLB play elsewhere: it gives every
// Service of type LoadBalancer without a spec.loadBalancerClass one address
// of a pool and writes it to status.loadBalancer.ingress (ipMode VIP), so
// that kube-proxy serves it. Services of another class are left to their
// controller, as a cloud controller does.
//
// The pool (Pool) is pure data: which address each Service holds. The
// controller rebuilds it from the Services' statuses when it starts, so an
// allocation survives the controller's restart, honours
// spec.loadBalancerIP when that address is in the pool and free, releases
// an address when its Service is deleted or stops being of its kind, and
// records events: IPAllocated, IPReleased, and AllocationFailed (pool
// exhausted, or a requested address outside the pool or taken; the Service
// then has no ingress and is retried when an address is released).
//
// Errors of a sync are logged and the Service is retried with backoff; Run
// returns an error only when its informer cannot start.
package loadbalancer
