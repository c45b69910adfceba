// Package metricsauth guards an HTTP endpoint (the manager's /metrics)
// with the API server's authentication and authorization, as kube-rbac-proxy
// and controller-runtime's metrics/filters do: the request's bearer token is
// reviewed (TokenReview) and the user it names must be allowed the request's
// verb on its path as a non-resource URL (SubjectAccessReview), for example
// by a ClusterRole with `nonResourceURLs: ["/metrics"], verbs: ["get"]`.
// The server's own identity needs create on tokenreviews
// (authentication.k8s.io) and subjectaccessreviews (authorization.k8s.io).
//
// It is built on client-go's typed clients only. controller-runtime's
// filter brings k8s.io/apiserver's delegating authenticator and authorizer
// along, which made the manager binary 50 MB larger and its resident memory
// 24 MiB higher at rest (docs/design/2026-12-04-manager-in-a-pod.md).
//
// # Errors
//
// A request without a bearer token, or whose token the API server does not
// authenticate, gets 401; a user not allowed the path gets 403; a review
// that fails (the API server unreachable, the server's identity lacking
// permission) gets 500 and is logged. Reviews are cached as
// controller-runtime caches them: a token's outcome for a minute, an
// allowed access for five minutes, a denied one for thirty seconds.
package metricsauth
