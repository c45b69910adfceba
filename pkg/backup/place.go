package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Placement is where a redis-server loads its dataset at start, read from
// its redis.conf by ReadPlacement.
type Placement struct {
	// Dir is the working directory (dir).
	Dir string
	// DBFilename is the RDB's name in Dir (dbfilename).
	DBFilename string
	// AppendOnly is appendonly: when on, Redis 7 loads only the AOF (its
	// manifest in AppendDirName) and ignores DBFilename, even when no AOF
	// exists.
	AppendOnly bool
	// AppendDirName and AppendFilename name the multi-part AOF
	// (appenddirname, appendfilename).
	AppendDirName, AppendFilename string
	// ClusterConfigFile is the node's cluster state (cluster-config-file),
	// relative to Dir unless absolute.
	ClusterConfigFile string
}

// ReadPlacement reads the directives of a redis.conf that say where the
// dataset is loaded from, with Redis's defaults for those not set (the
// last occurrence of a directive wins, as in Redis). Include directives
// are not followed: the operator's included files set users only.
func ReadPlacement(r io.Reader) (Placement, error) {
	p := Placement{Dir: ".", DBFilename: "dump.rdb", AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", ClusterConfigFile: "nodes.conf"}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = unquote(strings.TrimSpace(val))
		switch strings.ToLower(key) {
		case "dir":
			p.Dir = val
		case "dbfilename":
			p.DBFilename = val
		case "appendonly":
			switch strings.ToLower(val) {
			case "yes":
				p.AppendOnly = true
			case "no":
				p.AppendOnly = false
			default:
				return Placement{}, fmt.Errorf("redis.conf line %d: appendonly %q is neither yes nor no", n, val)
			}
		case "appenddirname":
			p.AppendDirName = val
		case "appendfilename":
			p.AppendFilename = val
		case "cluster-config-file":
			p.ClusterConfigFile = val
		}
	}
	if err := sc.Err(); err != nil {
		return Placement{}, fmt.Errorf("read redis.conf: %w", err)
	}
	for _, name := range []string{p.DBFilename, p.AppendDirName, p.AppendFilename} {
		if name == "" || strings.Contains(name, "/") {
			return Placement{}, fmt.Errorf("redis.conf: file name %q is empty or has a slash", name)
		}
	}
	return p, nil
}

// unquote strips one pair of double or single quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// NodesConf is the path of the node's cluster state file.
func (p Placement) NodesConf() string {
	if filepath.IsAbs(p.ClusterConfigFile) {
		return p.ClusterConfigFile
	}
	return filepath.Join(p.Dir, p.ClusterConfigFile)
}

// RDBPath is the file the shard's RDB goes to: the AOF's base file when
// appendonly is on (Redis 7's multi-part AOF loads an RDB base), the RDB
// otherwise.
func (p Placement) RDBPath() string {
	if p.AppendOnly {
		return filepath.Join(p.Dir, p.AppendDirName, p.baseName())
	}
	return filepath.Join(p.Dir, p.DBFilename)
}

// baseName is the first AOF base file's name, as Redis 7 names it.
func (p Placement) baseName() string { return p.AppendFilename + ".1.base.rdb" }

// manifestPath is the multi-part AOF's manifest.
func (p Placement) manifestPath() string {
	return filepath.Join(p.Dir, p.AppendDirName, p.AppendFilename+".manifest")
}

// PlaceResult says what PlaceShard did.
type PlaceResult struct {
	// Placed is false when the node already had a cluster state (nothing
	// was written).
	Placed bool
	// Path is the file the RDB was written to.
	Path string
	// Shard is the placed shard.
	Shard *Shard
}

// PlaceShard puts the backup's shard index where a fresh redis-server
// configured as p loads it at start, so it comes up holding the shard's
// keys. It does nothing when the node has a cluster state file already
// (the node has started before: its data is its own). With appendonly
// on, the RDB becomes the multi-part AOF's base file and its manifest is
// written after it (Redis 7 ignores dbfilename when appendonly is on);
// otherwise it becomes dbfilename. Either way the file is written by
// FetchShard: verified against the manifest, then renamed into place.
func PlaceShard(ctx context.Context, store Store, index int, p Placement, o FetchShardOptions) (PlaceResult, error) {
	if _, err := os.Stat(p.NodesConf()); err == nil {
		return PlaceResult{}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return PlaceResult{}, fmt.Errorf("place shard %d: %w", index, err)
	}
	dst := p.RDBPath()
	if p.AppendOnly {
		// A fresh node's AOF directory: anything there is a previous
		// attempt's, replaced whole.
		if err := os.RemoveAll(filepath.Dir(dst)); err != nil {
			return PlaceResult{}, fmt.Errorf("place shard %d: %w", index, err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return PlaceResult{}, fmt.Errorf("place shard %d: %w", index, err)
		}
	}
	sh, err := FetchShard(ctx, store, index, dst, o)
	if err != nil {
		return PlaceResult{}, err
	}
	if p.AppendOnly {
		m := p.manifestPath()
		line := fmt.Sprintf("file %s seq 1 type b\n", p.baseName())
		if err := os.WriteFile(m+".part", []byte(line), 0o644); err != nil {
			return PlaceResult{}, fmt.Errorf("place shard %d: AOF manifest: %w", index, err)
		}
		if err := syncAndRename(m+".part", m); err != nil {
			return PlaceResult{}, fmt.Errorf("place shard %d: AOF manifest: %w", index, err)
		}
	}
	return PlaceResult{Placed: true, Path: dst, Shard: sh}, nil
}
