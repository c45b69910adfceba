// Package backup takes per-shard RDB backups of a Redis Cluster into
// object storage and restores them into a cluster of any shape. It is
// core engine: no Kubernetes; rcctl backup/restore and the operator's
// backup Job call the same functions.
//
// # Backup
//
// Backup observes nothing itself: it takes the caller's topology.Snapshot
// (redisadmin.Discover) and picks one source node per shard with
// PlanSources — the best-ranked replica within planner.CaughtUpLag of its
// master, so the master is not forked, else the master, with the reason
// recorded in the manifest (Shard.Note). FetchRDB reads each source's
// dataset over the replication protocol, as `redis-cli --rdb` does (AUTH,
// REPLCONF capa eof, REPLCONF rdb-only 1, SYNC; the `$<len>` bulk or the
// diskless `$EOF:<mark>` form), and streams it into a Store while hashing
// it (SHA-256) and counting its bytes; nothing holds a whole RDB in
// memory. The Manifest (format FormatVersion: shard → master and source
// node, slots, key count, size, digest, Redis version, times) is written
// last: a location without one holds no complete backup. A failed backup
// deletes the objects it stored and writes no manifest.
//
// Consistency is per shard: each RDB is a point-in-time copy of its shard
// at its own moment; the shards' moments differ by the time between their
// forks. See docs/backup.md for quiescing writes when that matters.
//
// # Stores
//
// A backup's location is a URL (ParseLocation): file:///dir (FileStore:
// temp file, fsync, rename, fsync of the directory) or s3://bucket/prefix
// (S3Store on minio-go: multipart upload of unknown length, one part in
// memory; endpoint, credentials, region, TLS and server-side encryption
// from S3Options).
//
// # Restore
//
// Restore changes nothing in the target until it has read the manifest
// (refusing a newer format), checked that the target covers every slot
// and holds no key (unless Force), and downloaded every object and
// matched its size and SHA-256. Then each shard's RDB is loaded into a
// scratch redis-server (the real RDB parser, on a unix socket, no
// persistence) and its keys are copied into the target with pipelined
// PTTL + DUMP and RESTORE … REPLACE ABSTTL, grouped by the target master
// that owns each key's slot and following MOVED. Any number of target
// shards works; placing RDB files where same-layout pods load them is the
// operator's faster path (Manifest.Shards gives each file's slots).
//
// # Errors
//
// Errors are wrapped with the shard, node or object they concern; these
// sentinels classify them (errors.Is):
//
//	ErrNewerFormat     the manifest was written by a newer redkube
//	ErrNotFound        an object (or the manifest: no complete backup) is missing
//	ErrChecksum        an object's size or SHA-256 differs from the manifest
//	ErrTargetNotEmpty  the restore target holds keys and Force is off
//	ErrCredentials     S3 refused the credentials or denied access
//	ErrNoBucket        the S3 bucket does not exist
//	ErrEndpoint        the S3 endpoint could not be reached
//
// Redis errors keep their redisadmin.Error form; context errors stay
// visible through errors.Is.
package backup
