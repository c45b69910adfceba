package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// The image's user and the owner of its files: distroless's "nonroot", a
// number so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
const (
	imageUID  = 65532
	imageGID  = 65532
	imageUser = "65532:65532"
	// fileMode is the mode of every binary in the layer.
	fileMode = 0o755
)

// OCI annotation keys (image-spec annotations.md) used as both config labels
// and manifest annotations.
const (
	annotationTitle       = "org.opencontainers.image.title"
	annotationDescription = "org.opencontainers.image.description"
	annotationSource      = "org.opencontainers.image.source"
	annotationVersion     = "org.opencontainers.image.version"
	annotationRevision    = "org.opencontainers.image.revision"
	annotationCreated     = "org.opencontainers.image.created"
	annotationLicenses    = "org.opencontainers.image.licenses"
	// annotationRefName names an entry of an image layout's index.json.
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationContainerdName is the name containerd (ctr import, BuildKit's
	// OCI exporter) gives an imported image.
	annotationContainerdName = "io.containerd.image.name"
)

// Binary is one file of a platform's layer.
type Binary struct {
	// Platform is the platform whose image holds the file.
	Platform v1.Platform
	// Name is the file's name in the image's root folder.
	Name string
	// Path is the file to copy, on this machine.
	Path string
}

// ParseBinary parses a --binary value, OS/ARCH[/VARIANT]:NAME=PATH, such as
// linux/arm64:manager=bin/linux_arm64/manager.
func ParseBinary(s string) (Binary, error) {
	plat, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Binary{}, fmt.Errorf("binary %q: want OS/ARCH:NAME=PATH", s)
	}
	name, file, ok := strings.Cut(rest, "=")
	if !ok || name == "" || file == "" {
		return Binary{}, fmt.Errorf("binary %q: want OS/ARCH:NAME=PATH", s)
	}
	if strings.Contains(name, "/") || name == "." || name == ".." {
		return Binary{}, fmt.Errorf("binary %q: name %q must be a plain file name", s, name)
	}
	p, err := v1.ParsePlatform(plat)
	if err != nil {
		return Binary{}, fmt.Errorf("binary %q: platform: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" {
		return Binary{}, fmt.Errorf("binary %q: platform %q: want OS/ARCH", s, plat)
	}
	return Binary{Platform: *p, Name: name, Path: file}, nil
}

// Metadata describes the image in its labels and annotations.
type Metadata struct {
	Title       string
	Description string
	// Source is the URL of the source repository.
	Source string
	// Version is the release version, such as 0.1.0.
	Version string
	// Revision is the git commit; empty leaves its annotation out.
	Revision string
	// Licenses is an SPDX license expression.
	Licenses string
	// Created is the image's creation time and every file's mtime
	// (SOURCE_DATE_EPOCH).
	Created time.Time
}

// annotations returns the OCI annotations describing m, also used as labels.
func (m Metadata) annotations() map[string]string {
	a := map[string]string{
		annotationTitle:       m.Title,
		annotationDescription: m.Description,
		annotationSource:      m.Source,
		annotationVersion:     m.Version,
		annotationCreated:     m.Created.UTC().Format(time.RFC3339),
		annotationLicenses:    m.Licenses,
	}
	if m.Revision != "" {
		a[annotationRevision] = m.Revision
	}
	return a
}

// Spec is what the image is built from.
type Spec struct {
	// Binaries lists every file of every platform; each platform needs the
	// same names.
	Binaries []Binary
	// Entrypoint is the name of the binary the image runs.
	Entrypoint string
	Metadata   Metadata
}

// PlatformImage is one platform's image in the index.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
	// Names lists the layer's files, sorted.
	Names []string
}

// platforms groups the binaries by platform, in the order the platforms
// first appear, and checks that every platform has the same names and the
// entrypoint.
func (s Spec) platforms() ([]PlatformImage, map[string][]Binary, error) {
	if len(s.Binaries) == 0 {
		return nil, nil, errors.New("no binaries: give at least one --binary OS/ARCH:NAME=PATH")
	}
	var out []PlatformImage
	files := map[string][]Binary{}
	for _, b := range s.Binaries {
		key := b.Platform.String()
		if _, ok := files[key]; !ok {
			out = append(out, PlatformImage{Platform: b.Platform})
		}
		for _, o := range files[key] {
			if o.Name == b.Name {
				return nil, nil, fmt.Errorf("platform %s: binary %q given twice (%s and %s)", key, b.Name, o.Path, b.Path)
			}
		}
		files[key] = append(files[key], b)
	}
	for i := range out {
		key := out[i].Platform.String()
		slices.SortFunc(files[key], func(a, b Binary) int { return strings.Compare(a.Name, b.Name) })
		for _, b := range files[key] {
			out[i].Names = append(out[i].Names, b.Name)
		}
		if !slices.Contains(out[i].Names, s.Entrypoint) {
			return nil, nil, fmt.Errorf("platform %s: no binary named %q for the entrypoint", key, s.Entrypoint)
		}
		if !slices.Equal(out[i].Names, out[0].Names) {
			return nil, nil, fmt.Errorf("platform %s has binaries %v, platform %s has %v: every platform needs the same", key, out[i].Names, out[0].Platform.String(), out[0].Names)
		}
	}
	return out, files, nil
}

// Build builds the image index of s: one image per platform, in the order
// the platforms first appear in s.Binaries.
func Build(s Spec) (v1.ImageIndex, []PlatformImage, error) {
	if s.Metadata.Created.IsZero() {
		return nil, nil, errors.New("no creation time: set SOURCE_DATE_EPOCH")
	}
	images, files, err := s.platforms()
	if err != nil {
		return nil, nil, err
	}
	// Compressing is the slow part; platforms are independent.
	var g errgroup.Group
	for i := range images {
		g.Go(func() error {
			img, err := buildImage(images[i].Platform, files[images[i].Platform.String()], s.Entrypoint, s.Metadata)
			if err != nil {
				return fmt.Errorf("platform %s: %w", images[i].Platform.String(), err)
			}
			images[i].Image = img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pi := range images {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        pi.Image,
			Descriptor: v1.Descriptor{Platform: &pi.Platform},
		})
	}
	idx, ok := mutate.Annotations(idx, s.Metadata.annotations()).(v1.ImageIndex)
	if !ok {
		return nil, nil, errors.New("annotate the index: go-containerregistry returned no image index")
	}
	return idx, images, nil
}

// buildImage builds one platform's image: one layer of bins, the config, the
// annotations.
func buildImage(p v1.Platform, bins []Binary, entrypoint string, m Metadata) (v1.Image, error) {
	compressed, err := layerTarGzip(bins, m.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("read back the layer: %w", err)
	}
	names := make([]string, 0, len(bins))
	for _, b := range bins {
		names = append(names, "/"+b.Name)
	}
	created := v1.Time{Time: m.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: COPY " + strings.Join(names, " ") + " /",
			Comment:   "redkube make image",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = p.Architecture
	cf.OS = p.OS
	cf.Variant = p.Variant
	cf.Created = created
	cf.Config = v1.Config{
		User:       imageUser,
		Entrypoint: []string{"/" + entrypoint},
		WorkingDir: "/",
		Labels:     m.annotations(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set the config: %w", err)
	}
	annotated, ok := mutate.Annotations(img, m.annotations()).(v1.Image)
	if !ok {
		return nil, errors.New("annotate the manifest: go-containerregistry returned no image")
	}
	return annotated, nil
}

// layerTarGzip returns the gzip-compressed tar of bins at the root, owned by
// imageUID:imageGID, mode fileMode, mtime mtime, sorted by name.
func layerTarGzip(bins []Binary, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip writer: %w", err)
	}
	tw := tar.NewWriter(zw)
	for _, b := range bins {
		if err := addFile(tw, b, mtime); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish the layer's tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("finish the layer's gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func addFile(tw *tar.Writer, b Binary, mtime time.Time) error {
	f, err := os.Open(b.Path)
	if err != nil {
		return fmt.Errorf("binary %s: %w", b.Name, err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("binary %s: %w", b.Name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("binary %s: %s is not a regular file", b.Name, b.Path)
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     path.Clean(b.Name),
		Mode:     fileMode,
		Uid:      imageUID,
		Gid:      imageGID,
		Size:     st.Size(),
		ModTime:  mtime.UTC().Truncate(time.Second),
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("binary %s: tar header: %w", b.Name, err)
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("binary %s: copy %s into the layer: %w", b.Name, b.Path, err)
	}
	if n != st.Size() {
		return fmt.Errorf("binary %s: %s changed size while copied (%d bytes, then %d)", b.Name, b.Path, st.Size(), n)
	}
	return nil
}
