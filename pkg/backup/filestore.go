package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FileStore keeps a backup's objects as files in one directory (a local
// disk, a PVC, NFS). Objects are written to a temp file in the same
// directory, synced, and renamed into place.
type FileStore struct {
	loc Location
}

// NewFileStore returns the store of a file location. The directory is
// created by Put when missing.
func NewFileStore(loc Location) (*FileStore, error) {
	if loc.Scheme != SchemeFile {
		return nil, fmt.Errorf("file store: location %s is not a file URL", loc)
	}
	return &FileStore{loc: loc}, nil
}

// Location returns the store's location.
func (s *FileStore) Location() Location { return s.loc }

func (s *FileStore) path(name string) (string, error) {
	if err := ValidObjectName(name); err != nil && name != ManifestName {
		return "", err
	}
	return filepath.Join(s.loc.Dir, filepath.FromSlash(name)), nil
}

// Check fails when the location exists but is not a directory. A missing
// directory is created by the first Put, with its parents.
func (s *FileStore) Check(context.Context) error {
	st, err := os.Stat(s.loc.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", s.loc.Dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s: not a directory", s.loc.Dir)
	}
	return nil
}

// Put writes name through a synced temp file renamed into place, then
// syncs the directory so the rename survives a crash.
func (s *FileStore) Put(ctx context.Context, name string, r io.Reader) (err error) {
	dst, err := s.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()           // already failing; the write error says more
			_ = os.Remove(f.Name()) // best effort: a temp name is never read
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: r}); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: sync: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", name, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a rename into it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Get opens name for reading.
func (s *FileStore) Get(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return f, nil
}

// Delete removes name; a missing file is no error.
func (s *FileStore) Delete(_ context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
