package main

import (
	"context"
	"io"
	"testing"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver/servertest/contract"
)

// TestMain checks every answer the tests receive against openapi.json.
func TestMain(m *testing.M) { contract.Main(m, openAPIDocument) }

func TestOpenAPIDocumentIsServed(t *testing.T) {
	contract.CheckServed(t, startStack(t).base, openAPIDocument)
}

// TestOpenAPIDescribesEveryRoute compares the routes the app registers with
// the operations the document publishes, both ways.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New("bff-web", cfg.Base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Flow.Close(context.Background()) })
	routes(g, cfg)
	contract.CheckRoutes(t, g.Server.App, openAPIDocument)
}
