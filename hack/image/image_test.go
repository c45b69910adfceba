package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var testEpoch = time.Unix(1764806400, 0).UTC() // 2025-12-04T00:00:00Z

// fixture writes small binaries for linux/amd64 and linux/arm64 and returns
// the --binary values naming them; each file's content names its platform.
func fixture(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	var flags []string
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		for _, name := range []string{"manager", "redkube-exporter"} {
			p := filepath.Join(dir, strings.ReplaceAll(plat, "/", "_"), name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			// 0600 on disk: the image's mode must not depend on it.
			if err := os.WriteFile(p, []byte("#!"+plat+" "+name+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			flags = append(flags, "--binary", plat+":"+name+"="+p)
		}
	}
	return flags
}

// buildArchive runs the command with flags and SOURCE_DATE_EPOCH epoch and
// returns the archive's path and what it printed.
func buildArchive(t *testing.T, epoch time.Time, flags ...string) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	args := append([]string{"--tag", "ghcr.io/redkube/redkube-operator:0.1.0", "--version", "0.1.0", "--revision", "abc123", "--output", out}, flags...)
	var stdout, stderr bytes.Buffer
	if code := run(args, fmt.Sprint(epoch.Unix()), &stdout, &stderr); code != 0 {
		t.Fatalf("image exited %d: %s", code, stderr.String())
	}
	return out, stdout.String()
}

// untar extracts archive into a new folder, refusing anything but plain
// folders and files inside it.
func untar(t *testing.T, archive string, epoch time.Time) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatalf("read %s: %v", archive, err)
		}
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("archive entry %s has mtime %v, want SOURCE_DATE_EPOCH", hdr.Name, hdr.ModTime)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q leaves the folder", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("archive entry %q has type %q", hdr.Name, hdr.Typeflag)
		}
	}
}

// readIndex reads the archive back with go-containerregistry's layout and
// returns the only entry of its index.json, checked to be the image index.
func readIndex(t *testing.T, archive string, epoch time.Time) (v1.Descriptor, v1.ImageIndex) {
	t.Helper()
	p, err := layout.FromPath(untar(t, archive, epoch))
	if err != nil {
		t.Fatalf("layout: %v", err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatalf("index.json: %v", err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json has %d entries, want 1", len(m.Manifests))
	}
	desc := m.Manifests[0]
	if desc.MediaType != types.OCIImageIndex {
		t.Fatalf("index.json entry is a %s, want an OCI image index", desc.MediaType)
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		t.Fatalf("image index %s: %v", desc.Digest, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("image index does not validate: %v", err)
	}
	return desc, idx
}

func wantAnnotations(t *testing.T, what string, got map[string]string) {
	t.Helper()
	want := map[string]string{
		"org.opencontainers.image.title":       "redkube-operator",
		"org.opencontainers.image.description": "redkube: the Redis Cluster operator for Kubernetes (manager) and its Redis metrics exporter",
		"org.opencontainers.image.source":      "https://github.com/redkube/redkube",
		"org.opencontainers.image.version":     "0.1.0",
		"org.opencontainers.image.revision":    "abc123",
		"org.opencontainers.image.created":     "2025-12-04T00:00:00Z",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func TestArchiveHoldsAMultiPlatformNonRootImage(t *testing.T) {
	archive, printed := buildArchive(t, testEpoch, fixture(t)...)
	desc, idx := readIndex(t, archive, testEpoch)

	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "ghcr.io/redkube/redkube-operator:0.1.0" {
		t.Errorf("index.json ref.name = %q, want the image reference", got)
	}
	if !strings.Contains(printed, desc.Digest.String()) {
		t.Errorf("printed %q, want the index digest %s", printed, desc.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantAnnotations(t, "index", im.Annotations)
	var platforms []string
	for _, m := range im.Manifests {
		if m.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest %s is a %s, want an OCI manifest", m.Digest, m.MediaType)
		}
		plat := m.Platform.String()
		platforms = append(platforms, plat)
		if !strings.Contains(printed, plat) {
			t.Errorf("printed %q, want a line for %s", printed, plat)
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatalf("%s: %v", plat, err)
		}
		checkImage(t, plat, img)
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", platforms)
	}
}

func checkImage(t *testing.T, plat string, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("%s config: %v", plat, err)
	}
	if got := cf.OS + "/" + cf.Architecture; got != plat {
		t.Errorf("%s config platform = %s", plat, got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("%s user = %q, want 65532:65532", plat, cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/manager"}) || len(cf.Config.Cmd) != 0 {
		t.Errorf("%s entrypoint %q cmd %q, want [/manager] and no cmd", plat, cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if !cf.Created.Equal(testEpoch) {
		t.Errorf("%s created = %v, want SOURCE_DATE_EPOCH %v", plat, cf.Created.Time, testEpoch)
	}
	wantAnnotations(t, plat+" labels", cf.Config.Labels)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	wantAnnotations(t, plat+" manifest", m.Annotations)

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s has %d layers (%v), want 1", plat, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s layer: %v", plat, err)
		}
		names = append(names, hdr.Name)
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o755 || hdr.Uid != 65532 || hdr.Gid != 65532 {
			t.Errorf("%s /%s: type %q mode %o owner %d:%d, want a file 0755 65532:65532", plat, hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid)
		}
		if !hdr.ModTime.Equal(testEpoch) {
			t.Errorf("%s /%s: mtime %v, want SOURCE_DATE_EPOCH", plat, hdr.Name, hdr.ModTime)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if want := "#!" + plat + " " + hdr.Name + "\n"; string(data) != want {
			t.Errorf("%s /%s holds %q, want %q (the file of its own platform)", plat, hdr.Name, data, want)
		}
	}
	if !slices.Equal(names, []string{"manager", "redkube-exporter"}) {
		t.Errorf("%s layer holds %v, want manager and redkube-exporter", plat, names)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestSameInputsAndEpochGiveTheSameDigest(t *testing.T) {
	flags := fixture(t)
	first, _ := buildArchive(t, testEpoch, flags...)
	second, _ := buildArchive(t, testEpoch, flags...)
	other, _ := buildArchive(t, testEpoch.Add(time.Hour), flags...)

	d1, _ := readIndex(t, first, testEpoch)
	d2, _ := readIndex(t, second, testEpoch)
	d3, _ := readIndex(t, other, testEpoch.Add(time.Hour))
	if d1.Digest != d2.Digest {
		t.Errorf("two builds with one epoch: index %s and %s, want the same", d1.Digest, d2.Digest)
	}
	if fileSum(t, first) != fileSum(t, second) {
		t.Errorf("two builds with one epoch wrote different archive bytes")
	}
	if d1.Digest == d3.Digest {
		t.Errorf("builds with different epochs share index %s, want different", d1.Digest)
	}
}

// replaced returns a copy of s with s[i] = v.
func replaced(s []string, i int, v string) []string {
	out := slices.Clone(s)
	out[i] = v
	return out
}

func TestRunRejectsBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere", "redkube-exporter")
	base := fixture(t)
	for _, tc := range []struct {
		name     string
		args     []string
		epoch    string
		wantCode int
		wantErr  []string
	}{
		{
			name:     "names a missing binary and its path",
			args:     replaced(base, 3, "linux/amd64:redkube-exporter="+missing),
			epoch:    "1",
			wantCode: exitFailure,
			wantErr:  []string{"linux/amd64", "binary redkube-exporter", missing},
		},
		{
			name:     "names the platform that lacks a binary the others have",
			args:     append(slices.Clone(base), "--binary", "linux/riscv64:manager="+base[1][strings.Index(base[1], "=")+1:]),
			epoch:    "1",
			wantCode: exitFailure,
			wantErr:  []string{"linux/riscv64", "redkube-exporter"},
		},
		{
			name:     "refuses a platform without the entrypoint",
			args:     append(slices.Clone(base), "--entrypoint", "redis-server"),
			epoch:    "1",
			wantCode: exitFailure,
			wantErr:  []string{`no binary named "redis-server"`},
		},
		{
			name:     "refuses one name given twice for a platform",
			args:     append(slices.Clone(base), base[0], base[1]),
			epoch:    "1",
			wantCode: exitFailure,
			wantErr:  []string{`"manager" given twice`},
		},
		{
			name:     "asks for SOURCE_DATE_EPOCH when unset",
			args:     base,
			epoch:    "",
			wantCode: exitUsage,
			wantErr:  []string{"SOURCE_DATE_EPOCH"},
		},
		{
			name:     "refuses an epoch that is not a number of seconds",
			args:     base,
			epoch:    "2025-12-04",
			wantCode: exitUsage,
			wantErr:  []string{`"2025-12-04"`},
		},
		{
			name:     "refuses a binary without a platform",
			args:     []string{"--binary", "manager=bin/manager"},
			epoch:    "1",
			wantCode: exitUsage,
			wantErr:  []string{"OS/ARCH:NAME=PATH"},
		},
		{
			name:     "refuses a name with a folder",
			args:     []string{"--binary", "linux/amd64:usr/bin/manager=bin/manager"},
			epoch:    "1",
			wantCode: exitUsage,
			wantErr:  []string{"plain file name"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "image.oci.tar")
			args := append([]string{"--tag", "example.com/x:1", "--version", "1.0.0", "--output", out}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, tc.epoch, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not name %q", stderr.String(), w)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed build left %s (stat: %v)", out, err)
			}
			if entries, err := os.ReadDir(filepath.Dir(out)); err != nil || len(entries) != 0 {
				t.Errorf("a failed build left %d files in the output folder (%v)", len(entries), err)
			}
		})
	}
}
