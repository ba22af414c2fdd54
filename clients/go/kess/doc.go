// Package kess is the Go client of kess: it reads configs and route tables
// from the host agent's file cache, watches them through the agent's
// blocking watch API, picks service instances with the same load balancers
// as the C++ SDK, and registers service instances through the agent.
//
// It behaves exactly like the C++ SDK (sdk/ in the kess repository):
//
//   - ConfigClient reads configs with last-good-value semantics: a garbled,
//     truncated or tampered file, an unknown format or a lower revision
//     never replaces a good value; a tombstone means the config is absent.
//   - Discovery reads route tables and picks instances with weighted
//     random, HRW (rendezvous hashing of a request key) or local-first
//     balancers, in the tiers healthy, then suspect, then the least recently
//     ejected; disabled instances are never picked.
//   - FailureTracker is the caller-side failover: ejection with exponential
//     backoff, a weight ramp back, forgetting after successes or quiet time.
//   - Registration registers an instance through the agent's HTTP API (TCP
//     or its unix socket), renews its TTL checks in a goroutine and
//     deregisters on Close.
//
// The contract with kess is the file cache format (docs/file-cache.md,
// docs/route-table.md) and the agent's local API (docs/agent-api.md);
// nothing else. The package uses the Go standard library only.
package kess
