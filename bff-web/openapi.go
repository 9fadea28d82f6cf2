package main

import _ "embed"

// openAPIDocument is the contract the SPA builds against: the screens under
// /api with their degraded markers, the session cookie and the CSRF header.
// It is kept beside the code it describes and served at /openapi.json; the
// end-to-end tests check every answer they receive against it, so it cannot
// drift from what the server does.
//
//go:embed openapi.json
var openAPIDocument []byte
