package localkube

import (
	"context"
	"fmt"

	"github.com/redkube/redkube/internal/localkube/loadbalancer"
)

// startLoadBalancer runs the load-balancer controller until bgCtx ends.
func (c *Cluster) startLoadBalancer(bgCtx context.Context) error {
	lb, err := loadbalancer.New(loadbalancer.Config{Client: c.Client, Pool: c.opts.loadBalancerPool(), Logger: c.log.With("part", "loadbalancer")})
	if err != nil {
		return fmt.Errorf("load-balancer controller: %w", err)
	}
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		if err := lb.Run(bgCtx); err != nil {
			c.log.Error("load-balancer controller failed", "err", err)
			c.fail(fmt.Errorf("load-balancer controller: %w", err))
		}
	}()
	return nil
}
