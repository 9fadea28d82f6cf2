// Package redisstore keeps the state that replicas of a BFF must share in
// Redis: the checkout saga journal (an orderflow.Journal, which is also every
// Idempotency-Key's record) and rate-limit buckets (a ratelimit.Store). Each
// store takes a redis.UniversalClient, so a single server, a Sentinel group
// or a Cluster will do, and a key prefix under which all its keys live.
// Every operation is one atomic script or command; a rate-limit take touches
// one key, a journal write a record and its index, kept in one Cluster slot.
package redisstore
