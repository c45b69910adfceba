package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/topology"
)

// FormatVersion is the manifest format this package writes. A reader
// refuses manifests of a newer version (ErrNewerFormat) and reads every
// older one it knows.
const FormatVersion = 1

// ManifestName is the object name of the manifest inside a backup. It is
// written last: a backup without it is incomplete.
const ManifestName = "manifest.json"

// ErrNewerFormat matches the error of a manifest written by a newer
// redkube in a format this one cannot read.
var ErrNewerFormat = errors.New("manifest format is newer than this redkube reads")

// Role is the replication role of the node a shard's RDB came from.
type Role string

// Roles of a source node.
const (
	// RoleReplica: the RDB came from an in-sync replica (the master was
	// not forked).
	RoleReplica Role = "replica"
	// RoleMaster: the shard had no in-sync replica and the master served
	// the RDB.
	RoleMaster Role = "master"
)

// Manifest describes one complete backup: one RDB object per shard.
type Manifest struct {
	// Format is the manifest format version (FormatVersion when written).
	Format int `json:"format"`
	// Cluster is a caller-chosen label of the cluster (the operator writes
	// namespace/name); may be empty.
	Cluster string `json:"cluster,omitempty"`
	// Started and Finished bound the whole backup.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Shards are the cluster's shards, ordered by their first slot.
	Shards []Shard `json:"shards"`
}

// Shard is the backup of one master and its replicas.
type Shard struct {
	// MasterID is the node ID of the shard's master at backup time.
	MasterID topology.NodeID `json:"masterID"`
	// SourceID and SourceAddr name the node the RDB was fetched from,
	// SourceRole says whether it was a replica or the master.
	SourceID   topology.NodeID `json:"sourceID"`
	SourceAddr string          `json:"sourceAddr"`
	SourceRole Role            `json:"sourceRole"`
	// Note says why the master served the RDB (no replica in sync), empty
	// for a replica source.
	Note string `json:"note,omitempty"`
	// Slots are the slots the master owned (JSON: ranges, "0-5460").
	Slots topology.SlotSet `json:"slots"`
	// Keys is DBSIZE of the source node just before the fetch.
	Keys int64 `json:"keys"`
	// RedisVersion is the source node's redis_version.
	RedisVersion string `json:"redisVersion"`
	// Object is the RDB's object name, relative to the backup's location.
	Object string `json:"object"`
	// Size is the RDB's length in bytes and SHA256 its hex digest.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Started and Finished bound the fetch of this shard.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// TotalKeys is the sum of the shards' key counts.
func (m *Manifest) TotalKeys() int64 {
	var n int64
	for _, s := range m.Shards {
		n += s.Keys
	}
	return n
}

// TotalSize is the sum of the shards' RDB sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, s := range m.Shards {
		n += s.Size
	}
	return n
}

// Encode writes the manifest as indented JSON.
func (m *Manifest) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return nil
}

// DecodeManifest reads and validates a manifest. A manifest of a newer
// format fails with ErrNewerFormat before anything else is checked.
func DecodeManifest(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("read manifest: larger than %d bytes", maxManifestSize)
	}
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if probe.Format > FormatVersion {
		return nil, fmt.Errorf("manifest format %d, this redkube reads up to %d: %w", probe.Format, FormatVersion, ErrNewerFormat)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// maxManifestSize bounds the manifest read (a manifest names at most a few
// hundred shards; anything this large is not one).
const maxManifestSize = 16 << 20

// Validate checks what a restore relies on: a known format, at least one
// shard, object names that stay inside the backup and are distinct, a
// well-formed digest, and slot sets that do not overlap.
func (m *Manifest) Validate() error {
	if m.Format < 1 || m.Format > FormatVersion {
		return fmt.Errorf("manifest: format %d is not one of 1..%d", m.Format, FormatVersion)
	}
	if len(m.Shards) == 0 {
		return errors.New("manifest: no shards")
	}
	var all topology.SlotSet
	objects := map[string]bool{}
	for i, s := range m.Shards {
		if err := s.validate(); err != nil {
			return fmt.Errorf("manifest: shard %d: %w", i, err)
		}
		if objects[s.Object] {
			return fmt.Errorf("manifest: shard %d: object %q named twice", i, s.Object)
		}
		objects[s.Object] = true
		if overlap := all.Intersect(s.Slots); !overlap.IsEmpty() {
			return fmt.Errorf("manifest: shard %d: slots %s are also another shard's", i, overlap.String())
		}
		all = all.Union(s.Slots)
	}
	return nil
}

// validate checks one shard's fields.
func (s Shard) validate() error {
	if err := ValidObjectName(s.Object); err != nil {
		return err
	}
	if s.Size < 0 || s.Keys < 0 {
		return fmt.Errorf("negative size %d or key count %d", s.Size, s.Keys)
	}
	if len(s.SHA256) != 64 || strings.Trim(s.SHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", s.SHA256)
	}
	if s.SourceRole != RoleReplica && s.SourceRole != RoleMaster {
		return fmt.Errorf("source role %q is neither %q nor %q", s.SourceRole, RoleReplica, RoleMaster)
	}
	return nil
}

// ValidObjectName reports whether name is a relative object name that
// stays inside the backup's location: not empty, no leading slash, no
// "." or ".." element, no backslash or control character, not the
// manifest's name.
func ValidObjectName(name string) error {
	switch {
	case name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name:
		return fmt.Errorf("object name %q is not a clean relative path", name)
	case name == ManifestName:
		return fmt.Errorf("object name %q is the manifest's", name)
	case strings.ContainsAny(name, "\\"):
		return fmt.Errorf("object name %q contains a backslash", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." {
			return fmt.Errorf("object name %q leaves the backup", name)
		}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("object name %q contains a control character", name)
		}
	}
	return nil
}
