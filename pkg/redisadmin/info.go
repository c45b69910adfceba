package redisadmin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/redkube/redkube/pkg/topology"
)

// ClusterInfo is the typed reply of CLUSTER INFO.
type ClusterInfo struct {
	// StateOK reports cluster_state:ok.
	StateOK bool
	// SlotsAssigned, SlotsOK, SlotsPFail and SlotsFail count slots by state.
	SlotsAssigned int
	SlotsOK       int
	SlotsPFail    int
	SlotsFail     int
	// KnownNodes is cluster_known_nodes.
	KnownNodes int
	// Size is cluster_size: the number of masters serving at least one slot.
	Size int
	// CurrentEpoch is cluster_current_epoch.
	CurrentEpoch uint64
	// MyEpoch is cluster_my_epoch.
	MyEpoch uint64
}

// Memory is the part of INFO memory the engine uses.
type Memory struct {
	// UsedMemory is used_memory in bytes.
	UsedMemory int64
	// MaxMemory is maxmemory in bytes (0 = unlimited).
	MaxMemory int64
}

// infoFields parses "key:value" lines of an INFO-style reply.
func infoFields(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = v
		}
	}
	return m
}

// fieldParser reads typed values from INFO fields, remembering the first
// missing or malformed one.
type fieldParser struct {
	m   map[string]string
	err error
}

func (p *fieldParser) str(k string) string {
	v, ok := p.m[k]
	if !ok && p.err == nil {
		p.err = fmt.Errorf("missing field %q", k)
	}
	return v
}

func (p *fieldParser) int64(k string) int64 {
	v := p.str(k)
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.err = fmt.Errorf("field %q: %w", k, err)
	}
	return n
}

func (p *fieldParser) uint64(k string) uint64 {
	v := p.str(k)
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		p.err = fmt.Errorf("field %q: %w", k, err)
	}
	return n
}

// ParseClusterInfo parses the reply of CLUSTER INFO.
func ParseClusterInfo(text string) (ClusterInfo, error) {
	p := fieldParser{m: infoFields(text)}
	ci := ClusterInfo{
		StateOK:       p.str("cluster_state") == "ok",
		SlotsAssigned: int(p.int64("cluster_slots_assigned")),
		SlotsOK:       int(p.int64("cluster_slots_ok")),
		SlotsPFail:    int(p.int64("cluster_slots_pfail")),
		SlotsFail:     int(p.int64("cluster_slots_fail")),
		KnownNodes:    int(p.int64("cluster_known_nodes")),
		Size:          int(p.int64("cluster_size")),
		CurrentEpoch:  p.uint64("cluster_current_epoch"),
		MyEpoch:       p.uint64("cluster_my_epoch"),
	}
	if p.err != nil {
		return ClusterInfo{}, fmt.Errorf("parse cluster info: %w", p.err)
	}
	return ci, nil
}

// ParseReplication parses the reply of INFO replication. On a replica,
// Offset is slave_repl_offset (what the replica has processed); on a master
// it is master_repl_offset.
func ParseReplication(text string) (topology.Replication, error) {
	p := fieldParser{m: infoFields(text)}
	r := topology.Replication{Role: p.str("role")}
	switch r.Role {
	case "master":
		r.Offset = p.int64("master_repl_offset")
	case "slave":
		r.MasterLinkUp = p.str("master_link_status") == "up"
		r.MasterSyncInProgress = p.str("master_sync_in_progress") == "1"
		r.Offset = p.int64("slave_repl_offset")
	default:
		if p.err == nil {
			p.err = fmt.Errorf("unknown role %q", r.Role)
		}
	}
	if p.err != nil {
		return topology.Replication{}, fmt.Errorf("parse info replication: %w", p.err)
	}
	return r, nil
}

// ParseMemory parses the reply of INFO memory.
func ParseMemory(text string) (Memory, error) {
	p := fieldParser{m: infoFields(text)}
	m := Memory{UsedMemory: p.int64("used_memory"), MaxMemory: p.int64("maxmemory")}
	if p.err != nil {
		return Memory{}, fmt.Errorf("parse info memory: %w", p.err)
	}
	return m, nil
}
