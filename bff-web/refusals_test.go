package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest/contract"
)

// TestServerRefusalsAreDocumented: every operation of openapi.json lists
// the answers the server gives before any route runs (a malformed or slow
// request, one over the body or header limit, a connection over the
// connection limit), as they are sent.
func TestServerRefusalsAreDocumented(t *testing.T) {
	contract.CheckServerRefusals(t, run, openAPIDocument, shop.Settings...)
}
