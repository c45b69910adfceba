// Package topology is the typed model of a Redis Cluster as its nodes report
// it: node identities, roles, flags, link state, slot ownership and open
// (migrating/importing) slots.
//
// It parses the text of CLUSTER NODES once into these types so that no caller
// ever indexes a whitespace-split field. The package does no I/O and imports
// nothing from Kubernetes; the planner, the executor, rcctl and the operator
// all share it.
//
// Errors: parse functions return *ParseError, which names the offending line.
package topology
