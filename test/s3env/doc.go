// Package s3env starts a real S3-compatible server for tests: SeaweedFS's
// S3 gateway (`weed server -filer -s3`, Apache-2.0), every port on
// 127.0.0.1, its data in a temp directory, telemetry off. The weed binary
// is built from its Go module by hack/build-s3.sh into a cache keyed by
// hack/s3-build's go.sum; tests find it through REDKUBE_S3_BIN=<the folder
// that script prints> (make test sets it) and skip, saying how to get it,
// when the variable is unset.
package s3env
