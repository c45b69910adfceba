// Package planner turns an observed Redis Cluster topology into a Plan: an
// ordered list of Steps (assign slots, meet, replicate, migrate, fix, forget,
// fail over) that an executor carries out.
//
// Every function here is pure: no I/O, no clock, no randomness, no
// Kubernetes. Given the same input it returns the same plan, so plans can be
// printed (rcctl --dry-run), golden-tested and property-tested.
package planner
