package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// WriteArchive writes idx as an OCI image-layout tar archive at out, its
// index.json naming idx ref (both as org.opencontainers.image.ref.name and
// as containerd's image name). Entries are sorted and dated mtime, so the
// same index gives the same archive bytes. out is replaced atomically.
func WriteArchive(idx v1.ImageIndex, ref, out string, mtime time.Time) (err error) {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".oci-layout-*")
	if err != nil {
		return fmt.Errorf("image layout folder: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the image layout folder: %w", rmErr)
		}
	}()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("image layout in %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationRefName:        ref,
		annotationContainerdName: ref,
	})); err != nil {
		return fmt.Errorf("write the index into the image layout: %w", err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".oci-archive-*")
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer func() {
		// After the rename this fails with ErrNotExist, which is fine.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !os.IsNotExist(rmErr) && err == nil {
			err = fmt.Errorf("remove the temporary archive: %w", rmErr)
		}
	}()
	if err := tarFolder(tmp, dir, mtime); err != nil {
		_ = tmp.Close() // the tar error is the one to report
		return fmt.Errorf("archive %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("archive %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// tarFolder writes the tree under dir to w, in lexical order, with
// reproducible headers: mtime, owner 0:0, mode 0755 for folders and 0644 for
// files.
func tarFolder(w io.Writer, dir string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		hdr := &tar.Header{
			Name:    filepath.ToSlash(rel),
			ModTime: mtime.UTC().Truncate(time.Second),
			Format:  tar.FormatUSTAR,
		}
		if d.IsDir() {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			hdr.Mode = 0o755
			return tw.WriteHeader(hdr)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", file)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Mode = 0o644
		hdr.Size = info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open %s: %w", file, err)
		}
		defer func() { _ = f.Close() }()
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
