package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseError reports a CLUSTER NODES line that could not be parsed.
type ParseError struct {
	// Line is the 1-based line number.
	Line int
	// Text is the offending line.
	Text string
	// Reason says what was wrong.
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("cluster nodes line %d: %s: %q", e.Line, e.Reason, e.Text)
}

// ParseClusterNodes parses the reply of CLUSTER NODES (or the node lines of a
// nodes.conf file; "vars" lines are skipped).
func ParseClusterNodes(text string) (*View, error) {
	v := &View{}
	seen := map[NodeID]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "vars ") {
			continue
		}
		n, reason := parseNodeLine(line)
		if reason != "" {
			return nil, &ParseError{Line: i + 1, Text: line, Reason: reason}
		}
		if seen[n.ID] {
			return nil, &ParseError{Line: i + 1, Text: line, Reason: "duplicate node id"}
		}
		seen[n.ID] = true
		v.Nodes = append(v.Nodes, n)
	}
	return v, nil
}

func parseNodeLine(line string) (*Node, string) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return nil, "fewer than 8 fields"
	}
	n := &Node{ID: NodeID(f[0])}
	if !validNodeID(f[0]) {
		return nil, "invalid node id"
	}
	if reason := parseAddr(n, f[1]); reason != "" {
		return nil, reason
	}
	for _, fl := range strings.Split(f[2], ",") {
		switch fl {
		case "myself":
			n.Flags |= FlagMyself
		case "master":
			n.Flags |= FlagMaster
		case "slave":
			n.Flags |= FlagReplica
		case "fail?":
			n.Flags |= FlagPFail
		case "fail":
			n.Flags |= FlagFail
		case "handshake":
			n.Flags |= FlagHandshake
		case "noaddr":
			n.Flags |= FlagNoAddr
		case "nofailover":
			n.Flags |= FlagNoFailover
		case "noflags", "":
		default:
			// Newer servers may add flags; unknown ones are ignored so the
			// parser keeps working against them.
		}
	}
	if f[3] != "-" {
		if !validNodeID(f[3]) {
			return nil, "invalid master id"
		}
		n.MasterID = NodeID(f[3])
	}
	var err error
	if n.PingSent, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return nil, "invalid ping-sent"
	}
	if n.PongRecv, err = strconv.ParseInt(f[5], 10, 64); err != nil {
		return nil, "invalid pong-recv"
	}
	if n.ConfigEpoch, err = strconv.ParseUint(f[6], 10, 64); err != nil {
		return nil, "invalid config-epoch"
	}
	switch f[7] {
	case "connected":
		n.Connected = true
	case "disconnected":
	default:
		return nil, "invalid link-state"
	}
	for _, s := range f[8:] {
		if reason := parseSlotField(n, s); reason != "" {
			return nil, reason
		}
	}
	return n, ""
}

// parseAddr parses "ip:port@cport[,hostname]". The ip may be empty or an IPv6
// address (CLUSTER NODES does not bracket it).
func parseAddr(n *Node, s string) string {
	addr, hostname, _ := strings.Cut(s, ",")
	n.Hostname = hostname
	hostport, bus, hasBus := strings.Cut(addr, "@")
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "address without port"
	}
	host, port := hostport[:i], hostport[i+1:]
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "invalid port"
	}
	if hasBus {
		b, err := strconv.Atoi(bus)
		if err != nil || b < 0 || b > 65535 {
			return "invalid bus port"
		}
		n.BusPort = b
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	n.Addr = host + ":" + port
	return ""
}

func parseSlotField(n *Node, s string) string {
	if strings.HasPrefix(s, "[") {
		body, ok := strings.CutSuffix(s[1:], "]")
		if !ok {
			return "unterminated open-slot field"
		}
		if slot, peer, ok := strings.Cut(body, "->-"); ok {
			x, err := strconv.Atoi(slot)
			if err != nil || !ValidSlot(x) || !validNodeID(peer) {
				return "invalid migrating slot"
			}
			if n.Migrating == nil {
				n.Migrating = map[int]NodeID{}
			}
			n.Migrating[x] = NodeID(peer)
			return ""
		}
		if slot, peer, ok := strings.Cut(body, "-<-"); ok {
			x, err := strconv.Atoi(slot)
			if err != nil || !ValidSlot(x) || !validNodeID(peer) {
				return "invalid importing slot"
			}
			if n.Importing == nil {
				n.Importing = map[int]NodeID{}
			}
			n.Importing[x] = NodeID(peer)
			return ""
		}
		return "invalid open-slot field"
	}
	r, err := parseSlotRange(s)
	if err != nil {
		return err.Error()
	}
	n.Slots.AddRange(r.Start, r.End)
	return ""
}

func validNodeID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidNodeID reports whether s has the form of a node ID (40 lowercase hex
// characters).
func ValidNodeID(s string) bool { return validNodeID(s) }
