package main

import (
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
	dir := t.TempDir()
	cfg, err := loadConfig(func(k string) string {
		if k == "STATE_DIR" {
			return dir
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New("bff-web", cfg.Base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	routes(g, cfg)
	contract.CheckRoutes(t, g.Server.App, openAPIDocument)
}
