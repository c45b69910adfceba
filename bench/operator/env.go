package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/test/harness"
)

// env is the local cluster, the API clients and the manager process.
type env struct {
	*harness.Env
	mgr *harness.Operator
}

// startEnv starts a 3-node local cluster with the node agent on a pod
// network private to this process, installs the CRD and starts the
// manager binary against it. The caller stops it with Stop; on error,
// startEnv has stopped what it started.
func startEnv(ctx context.Context, cfg config, log *slog.Logger) (*env, error) {
	he, err := harness.Start(ctx, harness.Options{
		Name:    "operator-bench",
		BinDir:  cfg.binDir,
		CRDDir:  cfg.crdDir,
		Network: harness.Network("rkbench", 248),
		Logger:  log,
		// The last scenario installs the operator with its chart: the
		// node agent runs the operator image as this manager binary,
		// which reaches the API server through the kubernetes Service.
		Services: true,
		Binaries: filepath.Dir(cfg.manager),
	})
	if err != nil {
		return nil, err
	}
	mgr, err := he.StartOperator(ctx, harness.OperatorOptions{Binary: cfg.manager, LogPath: cfg.managerLog})
	if err != nil {
		return nil, errors.Join(err, he.Stop())
	}
	return &env{Env: he, mgr: mgr}, nil
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
