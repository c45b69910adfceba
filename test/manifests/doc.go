// Package manifests holds a test that the hand-written and generated
// manifests under config/ build with kustomize and are accepted by a real
// kube-apiserver (server-side dry run), with the CRD installed.
package manifests
