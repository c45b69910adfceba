package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrChecksum matches the error of an object whose size or SHA-256 differs
// from what the manifest records (corrupted or truncated).
var ErrChecksum = errors.New("object does not match the manifest")

// ReadManifest reads and validates the manifest of the backup in store.
// A location without one holds no complete backup (ErrNotFound).
func ReadManifest(ctx context.Context, store Store) (*Manifest, error) {
	r, err := store.Get(ctx, ManifestName)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s holds no complete backup (no %s): %w", store.Location(), ManifestName, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read the manifest at %s: %w", store.Location(), err)
	}
	defer func() { _ = r.Close() }() // read-only; the decode result says all
	m, err := DecodeManifest(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store.Location(), err)
	}
	return m, nil
}

// download copies shard's object from store to the local file p, checking
// its size and SHA-256 against the manifest. A mismatch fails with
// ErrChecksum naming the object.
func download(ctx context.Context, store Store, sh Shard, p string, tr *tracker) error {
	r, err := store.Get(ctx, sh.Object)
	if err != nil {
		return fmt.Errorf("verify %s: %w", sh.Object, err)
	}
	defer func() { _ = r.Close() }() // read-only
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("verify %s: %w", sh.Object, err)
	}
	h := sha256.New()
	// One byte more than the manifest says reveals an object that grew.
	n, err := io.Copy(io.MultiWriter(f, h, byteCounter{tr}), io.LimitReader(ctxReader{ctx: ctx, r: r}, sh.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("verify %s: after %d bytes: %w", sh.Object, n, err)
	}
	if n != sh.Size {
		return fmt.Errorf("verify %s: %d bytes, the manifest says %d (truncated or appended to): %w", sh.Object, n, sh.Size, ErrChecksum)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != sh.SHA256 {
		return fmt.Errorf("verify %s: sha256 %s, the manifest says %s (corrupted): %w", sh.Object, sum, sh.SHA256, ErrChecksum)
	}
	tr.add(1, 0, 0)
	return nil
}
