package backup

import (
	"context"
	"errors"
	"fmt"
)

// Delete removes the backup in store: the manifest first, so that from
// then on the location holds no complete backup (a restore refuses it),
// then every shard's object. A location without a manifest holds nothing
// to delete and returns (nil, nil): a failed backup removed its own
// objects, and a repeated Delete after one that failed halfway has only
// objects without a manifest left, which it cannot name (the error of the
// first one did). It returns the manifest of what it deleted.
func Delete(ctx context.Context, store Store) (*Manifest, error) {
	m, err := ReadManifest(ctx, store)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := store.Delete(ctx, ManifestName); err != nil {
		return nil, fmt.Errorf("delete the manifest at %s: %w", store.Location(), err)
	}
	var errs []error
	for _, sh := range m.Shards {
		if err := store.Delete(ctx, sh.Object); err != nil {
			errs = append(errs, fmt.Errorf("delete %s at %s: %w", sh.Object, store.Location(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("the manifest is deleted, some objects are left: %w", err)
	}
	return m, nil
}
