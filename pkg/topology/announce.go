package topology

import (
	"net"
	"strconv"
)

// Endpoint is what a node announces to clients and to its peers: the
// cluster-announce-ip, -port, -bus-port and -hostname it runs with, as its
// own CLUSTER NODES line shows them.
type Endpoint struct {
	// IP is the announced IP; peers open the cluster bus and replication
	// links to it.
	IP string
	// Port is the announced client port.
	Port int
	// BusPort is the announced cluster bus port.
	BusPort int
	// Hostname is the announced hostname ("" for none); with
	// cluster-preferred-endpoint-type hostname, clients are sent to it.
	Hostname string
}

// Addr is the endpoint's "ip:port".
func (e Endpoint) Addr() string { return net.JoinHostPort(e.IP, strconv.Itoa(e.Port)) }

// ClientAddr is where a client is redirected: "hostname:port" when the
// endpoint has a hostname, else Addr.
func (e Endpoint) ClientAddr() string {
	if e.Hostname != "" {
		return net.JoinHostPort(e.Hostname, strconv.Itoa(e.Port))
	}
	return e.Addr()
}

// Endpoint returns what the line says the node announces.
func (n *Node) Endpoint() Endpoint {
	return Endpoint{IP: n.Host(), Port: n.Port(), BusPort: n.BusPort, Hostname: n.Hostname}
}
