package main

import _ "embed"

// openAPIDocument is what the apps build against: the trimmed /v1
// payloads, bearer tokens, the mandatory Idempotency-Key on writes, ETags.
// Served at /openapi.json and checked against every answer the end-to-end
// tests receive, it cannot drift from what the server does.
//
//go:embed openapi.json
var openAPIDocument []byte
