package localkube

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/redkube/redkube/internal/storage"
)

// startStorage creates the default StorageClass and runs the directory
// provisioner until bgCtx ends.
func (c *Cluster) startStorage(ctx, bgCtx context.Context) error {
	if err := storage.EnsureDefaultStorageClass(ctx, c.Client); err != nil {
		return err
	}
	// A client of its own above client-go's default 5 requests/s: a resize
	// takes three writes and two events per claim, and a cluster's claims
	// are expanded together.
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("storage provisioner client: %w", err)
	}
	prov, err := storage.New(storage.Config{Client: client, BaseDir: c.VolumesDir(), Logger: c.log.With("part", "provisioner")})
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
