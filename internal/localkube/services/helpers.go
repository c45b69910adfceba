package services

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// freeLoopbackPorts returns n TCP ports that were free on 127.0.0.1 a moment
// ago (they are released before returning, so a race with another process is
// possible but harmless: the child then fails to bind and says so).
func freeLoopbackPorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		_, ps, err := net.SplitHostPort(l.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("parse listener address: %w", err)
		}
		p, err := strconv.Atoi(ps)
		if err != nil {
			return nil, fmt.Errorf("parse listener port: %w", err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// errNoBinary is wrapped by the Start functions when the binary is missing.
var errNoBinary = errors.New("binary not found")

// netInterface returns the host interface called name.
func netInterface(name string) (*net.Interface, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return ifc, nil
}
