// Package auth plans changes of the password Redis nodes require, so that
// no moment of the change refuses a replica its replication link or the
// operator its connection: Rotation returns rounds, each to run on every
// node before the next begins.
//
// It is core logic: no I/O, no Kubernetes. The operator runs the rounds
// (internal/controller) and issue 11's ACL users will extend them.
package auth
