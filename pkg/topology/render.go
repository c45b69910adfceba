package topology

import (
	"sort"
	"strconv"
	"strings"
)

// String renders the node as one CLUSTER NODES line. ParseClusterNodes reads
// it back into an equal Node.
func (n *Node) String() string {
	var b strings.Builder
	b.WriteString(string(n.ID))
	b.WriteByte(' ')
	b.WriteString(wireAddr(n.Addr))
	b.WriteByte('@')
	b.WriteString(strconv.Itoa(n.BusPort))
	if n.Hostname != "" {
		b.WriteByte(',')
		b.WriteString(n.Hostname)
	}
	b.WriteByte(' ')
	b.WriteString(n.Flags.String())
	b.WriteByte(' ')
	if n.MasterID == "" {
		b.WriteByte('-')
	} else {
		b.WriteString(string(n.MasterID))
	}
	for _, v := range []int64{n.PingSent, n.PongRecv} {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatUint(n.ConfigEpoch, 10))
	if n.Connected {
		b.WriteString(" connected")
	} else {
		b.WriteString(" disconnected")
	}
	for _, r := range n.Slots.Ranges() {
		b.WriteByte(' ')
		b.WriteString(r.String())
	}
	writeOpenSlots(&b, n.Migrating, "->-")
	writeOpenSlots(&b, n.Importing, "-<-")
	return b.String()
}

func writeOpenSlots(b *strings.Builder, m map[int]NodeID, arrow string) {
	slots := make([]int, 0, len(m))
	for s := range m {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(s))
		b.WriteString(arrow)
		b.WriteString(string(m[s]))
		b.WriteByte(']')
	}
}

// wireAddr undoes the brackets the parser puts around an IPv6 host: CLUSTER
// NODES prints "ip:port" with the IPv6 address unbracketed.
func wireAddr(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	host, port := addr[:i], addr[i:]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' && strings.Contains(host, ":") {
		host = host[1 : len(host)-1]
	}
	return host + port
}

// String renders the view as a CLUSTER NODES reply, one line per node in
// listing order, each line ending in a newline.
func (v *View) String() string {
	var b strings.Builder
	for _, n := range v.Nodes {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	return b.String()
}
