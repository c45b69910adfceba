package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/bench/internal/benchenv"
)

// env is the local cluster, the API clients and the manager process.
type env struct {
	*benchenv.Env
	mgr *benchenv.Manager
}

// startEnv starts a 3-node local cluster with the node agent on a pod
// network private to this process, installs the CRD and starts the
// manager binary against it. The caller stops it with Stop; on error,
// startEnv has stopped what it started.
func startEnv(ctx context.Context, cfg config, log *slog.Logger) (*env, error) {
	be, err := benchenv.Start(ctx, benchenv.Options{
		Name:    "operator-bench",
		BinDir:  cfg.binDir,
		CRDDir:  cfg.crdDir,
		Network: benchenv.Network("rkbench", 248),
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	mgr, err := be.StartManager(ctx, benchenv.ManagerOptions{Binary: cfg.manager, LogPath: cfg.managerLog})
	if err != nil {
		return nil, errors.Join(err, be.Stop())
	}
	return &env{Env: be, mgr: mgr}, nil
}

// redisClusterYAML is a 3x1 RedisCluster with the operator's defaults
// (cluster-node-timeout 5000, as in the tutorial's redis.conf).
func redisClusterYAML(name string) string {
	return fmt.Sprintf(`apiVersion: %s
kind: RedisCluster
metadata:
  name: %s
  namespace: default
spec:
  masters: 3
  replicasPerMaster: 1
  storage:
    size: 64Mi
`, redisv1alpha1.GroupVersion.String(), name)
}
