// Package chart holds the tests of the Helm chart (charts/redkube): helm
// lint --strict; what helm template renders in both watch modes, parsed
// into objects (the Deployment's security context, replicas and flags, RBAC
// without wildcards and built from the generated rules, a Role in each
// watched namespace, the CRD, the optional monitoring objects), compared
// with golden files (testdata/, rewritten with -update: make golden); the
// values schema's messages for invalid values, as helm install prints
// them; the packaged chart; and, against a real kube-apiserver (envtest
// with the binaries of hack/build-k8s.sh), the CRDs created and every other
// rendered object accepted by a server-side dry run in both modes, the
// release manifest of make release too; helm install, an upgrade to the
// namespaces watch mode and helm uninstall on an empty API server; and the
// kustomize manifests of config/ agreeing with the chart.
//
// The tests need helm from hack/build-tools.sh ($REDKUBE_TOOLS_BIN) and
// skip without it or under -short; the API-server tests also need
// $REDKUBE_K8S_BIN. make test sets both.
package chart
