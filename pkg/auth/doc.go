// Package auth plans changes of the password Redis nodes require, so that
// no moment of the change refuses a replica its replication link or the
// operator its connection: Rotation returns rounds, each to run on every
// node before the next begins.
//
// It also models ACL users (users.go): the rules a spec may hold, the
// ACL SETUSER arguments and `user` directives that make a node hold
// exactly a user (password hashes, never passwords), and the comparison
// of nodes' ACL LIST lines that finds the nodes that lag.
//
// It is core logic: no I/O, no Kubernetes. The operator runs the rounds
// and applies the users (internal/controller).
package auth
