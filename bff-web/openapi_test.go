package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/contract"
)

// unpublished are the operational routes the contract leaves out: they
// serve probes and scrapers, not frontends.
var unpublished = []string{"/healthz", "/readyz", "/metrics"}

// TestMain makes every request the tests send through servertest check its
// answer against openapi.json, so a response that drifts from the published
// contract fails the test that received it.
func TestMain(m *testing.M) {
	c, err := contract.Load(openAPIDocument, contract.Exclude(unpublished...))
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapi.json: %v\n", err)
		os.Exit(1)
	}
	servertest.SetContract(c)
	os.Exit(m.Run())
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	s := startStack(t)
	r := servertest.Do(t, "GET", s.base+"/openapi.json", nil)
	if r.Status != 200 || !bytes.Equal(r.Body, openAPIDocument) {
		t.Fatalf("GET /openapi.json: status %d, %d bytes; want 200 and the embedded %d bytes", r.Status, len(r.Body), len(openAPIDocument))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
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
	doc, err := contract.Load(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	served := map[contract.Operation]bool{}
	for _, r := range g.Server.App.GetRoutes(true) {
		// Fiber answers HEAD for every GET by itself.
		if r.Method == "HEAD" || slices.Contains(unpublished, r.Path) {
			continue
		}
		served[contract.Operation{Method: r.Method, Path: contract.Template(r.Path)}] = true
		if !doc.Describes(r.Method, r.Path) {
			t.Errorf("route %s %s is not in openapi.json", r.Method, r.Path)
		}
	}
	if len(served) == 0 {
		t.Fatal("the app registers no route")
	}
	for _, op := range doc.Operations() {
		if !served[op] {
			t.Errorf("openapi.json publishes %s %s, which no route serves", op.Method, op.Path)
		}
	}
}
