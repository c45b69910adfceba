package localkube

import (
	"fmt"
	"net"
)

// freePorts returns n distinct TCP ports that are free on 127.0.0.1. All
// listeners are held open until every port is chosen, so the ports differ;
// another process may still take one before the component binds it, which
// Start reports as a failed component.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
