// Command image builds redkube's operator image without Docker: a
// multi-platform OCI image index written as an OCI image-layout tar archive
// (`skopeo copy oci-archive:...`, `podman load -i ...`).
//
// Each platform's image has no base: one layer holding the binaries given by
// --binary OS/ARCH:NAME=PATH at the root of the file system, owned by
// 65532:65532 with mode 0755, run as user 65532:65532 with /<entrypoint> as
// the entrypoint. There is no shell, no /tmp and no CA bundle: the manager
// writes nothing to disk and trusts only the CAs Kubernetes mounts for it.
//
// The build is reproducible: the image's created time, the file mtimes and
// the archive's mtimes are all SOURCE_DATE_EPOCH (the Makefile sets it from
// the HEAD commit's time), layers are compressed by a deterministic gzip, so
// the same binaries and flags give the same index digest and the same
// archive bytes.
//
// `make image` cross-compiles the binaries and runs this command; see the
// Makefile and docs/design/2026-12-04-image.md. Errors name the flag or the
// file they concern; the exit status is 1, or 2 for bad usage.
package main
