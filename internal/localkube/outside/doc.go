// Package outside gives tests a client outside the local cluster: a network
// namespace joined to the host by a veth pair, with an address of its own
// small subnet and routes to the nodes' addresses and the load-balancer
// pool only (nodenet.Config.Routes) — no route to the pod network, no
// default route. What reaches a pod from there went through kube-proxy on
// a node address or a load-balancer address, as for a client on another
// machine.
//
//	ns, err := outside.New(outside.Config{CIDR: sub, Routes: nn.Routes()})
//	defer ns.Close()
//	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Dialer: ns.DialContext})
//	out, err := ns.Command(ctx, "redis-cli", "-c", "-h", nodeIP, "-p", port, "PING").CombinedOutput()
//
// DialContext creates each socket on a goroutine locked to its OS thread
// while that thread is inside the namespace, then moves the thread back (a
// thread that cannot be moved back is discarded, never reused); the socket
// stays in the namespace it was created in. Host names are resolved in the
// host's namespace: dial addresses.
//
// Namespaces are named <Prefix>-<pid>-<n> (files under /run/netns, so `ip
// netns exec` works); New first removes those of its prefix whose process
// is gone (a test killed before its Close). Errors are returned wrapped
// with the namespace they concern. Everything here needs root.
package outside
