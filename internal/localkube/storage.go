package localkube

import (
	"context"
	"fmt"

	"github.com/redkube/redkube/internal/storage"
)

// startStorage creates the default StorageClass and runs the directory
// provisioner until bgCtx ends.
func (c *Cluster) startStorage(ctx, bgCtx context.Context) error {
	if err := storage.EnsureDefaultStorageClass(ctx, c.Client); err != nil {
		return err
	}
	prov, err := storage.New(storage.Config{Client: c.Client, BaseDir: c.VolumesDir(), Logger: c.log.With("part", "provisioner")})
	if err != nil {
		return fmt.Errorf("storage provisioner: %w", err)
	}
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		if err := prov.Run(bgCtx); err != nil {
			c.log.Error("provisioner failed", "err", err)
			c.fail(fmt.Errorf("storage provisioner: %w", err))
		}
	}()
	return nil
}
