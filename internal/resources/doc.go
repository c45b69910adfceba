// Package resources renders the Kubernetes objects of a RedisCluster with
// pure builders: the same RedisCluster always yields the same objects, with no
// API calls, clocks or randomness, so the output is golden-file tested and
// hashed.
//
// For a RedisCluster N in namespace NS the builders return:
//
//   - ConfigMap N-config holding redis.conf (RedisConf);
//   - headless Service N-nodes (stable DNS for every pod);
//   - one StatefulSet N-<i> per shard i, with 1+replicasPerMaster pods named
//     N-<i>-<ordinal> and a PVC data-N-<i>-<ordinal> each;
//   - access Service N for clients;
//   - PodDisruptionBudget N-<i> per shard (maxUnavailable 1).
//
// Every name comes from names.go and every label from labels.go; nothing
// else in the project assembles these names. Each object carries a
// controller owner reference to the RedisCluster and the annotation
// AnnotationSpecHash, a hash of the object itself without that annotation,
// so a controller writes an object only when the hash differs from the one
// on the live object.
//
// Builders return an error only for arguments no valid RedisCluster can
// produce (a shard index out of range) or when hashing fails.
package resources
