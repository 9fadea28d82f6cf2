// Package sandbox holds stateful reference implementations of the five
// upstream services (product, order, payment, user, notification). Client
// tests, BFF tests and the sandbox command (deploy/sandbox) all serve these
// same handlers, so what the gateways are tested against is what a developer
// runs locally. No production package imports it: only the sandbox command
// and tests do, the tests through package sandboxtest, which serves it on
// port 0 for the length of a test.
//
// The services keep state and enforce the rules a real service would:
// reservations and payment holds expire on the Config's Clock, every write is
// idempotent by its Idempotency-Key header or its body's reference, and each
// service is safe for concurrent use. Every service also exposes sandbox-only
// admin routes under /__admin: its state (with per-route request counters),
// fault injection (status, latency, dropped connection, after the write took
// effect, rate, count, bounded concurrency), reset and, on the product
// service, setting stock.
// Admin is a client of those routes.
package sandbox
