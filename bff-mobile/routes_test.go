package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest/contract"
)

// TestOpenAPIDescribesEveryRoute compares the routes the app registers with
// the operations the document publishes, both ways.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	contract.CheckBuiltRoutes(t, bff.Build, openAPIDocument)
}
