package cli

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"time"
)

// busPortOffset is Redis's default distance from a node's client port to
// its cluster bus port.
const busPortOffset = 10000

// busPortOf reports whether addr may be the cluster bus port of a node
// whose client port, busPortOffset below, answers a plain-text PING; it
// returns that client address.
func busPortOf(addr string, timeout time.Duration) (string, bool) {
	host, port, err := parseAddr(addr)
	if err != nil || port <= busPortOffset {
		return "", false
	}
	client := net.JoinHostPort(host, strconv.Itoa(port-busPortOffset))
	return client, answersRedis(client, timeout)
}

// answersRedis reports whether a plain-text PING to addr gets a RESP reply
// (+PONG, or an error such as NOAUTH: either way, Redis).
func answersRedis(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }() // a probe: the reply is the answer
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return false
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b, err := bufio.NewReader(c).ReadByte()
	return err == nil && (b == '+' || b == '-')
}

// speaksTLS reports whether addr answers a TLS handshake: it completes
// (the certificate is not checked: only the protocol matters here) or the
// server replies with a TLS alert.
func speaksTLS(addr string, timeout time.Duration) bool {
	d := &net.Dialer{Timeout: timeout, Deadline: time.Now().Add(timeout)}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a protocol probe; nothing is sent
	if err == nil {
		_ = c.Close() // a probe: the handshake was the answer
		return true
	}
	var alert tls.AlertError
	var op *net.OpError
	return errors.As(err, &alert) || errors.As(err, &op) && op.Op == "remote error"
}
