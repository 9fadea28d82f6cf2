package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
)

// Unpublished are the operational routes a BFF's contract leaves out: they
// serve probes and scrapers, not frontends.
var Unpublished = []string{"/healthz", "/readyz", "/metrics"}

// Main is a BFF test binary's TestMain: every request the tests send through
// servertest has its answer checked against document, so a response that
// drifts from the published contract fails the test that received it.
func Main(m *testing.M, document []byte) {
	c, err := Load(document, Exclude(Unpublished...))
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapi.json: %v\n", err)
		os.Exit(1)
	}
	servertest.SetContract(c)
	os.Exit(m.Run())
}

// CheckProblemCodes checks that document's Problem schema lists exactly the
// codes a problem can carry (problem.Codes), so that a client generated
// from it can switch on every code it will meet.
func CheckProblemCodes(t *testing.T, document []byte) {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		t.Fatal(err)
	}
	documented := doc.Components.Schemas.Problem.Properties.Code.Enum
	for _, c := range problem.Codes() {
		if !slices.Contains(documented, string(c)) {
			t.Errorf("the code %q can be sent but is missing from components.schemas.Problem's enum", c)
		}
	}
	for _, c := range documented {
		if !slices.Contains(problem.Codes(), problem.Code(c)) {
			t.Errorf("the enum lists %q, which no problem carries", c)
		}
	}
}

// CheckServed checks that base serves document at /openapi.json.
func CheckServed(t *testing.T, base string, document []byte) {
	t.Helper()
	r := servertest.Do(t, "GET", base+"/openapi.json", nil)
	if r.Status != 200 || !bytes.Equal(r.Body, document) {
		t.Fatalf("GET /openapi.json: status %d, %d bytes; want 200 and the embedded %d bytes", r.Status, len(r.Body), len(document))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// CheckBuiltRoutes builds a BFF with build (a gateway.BFF's Build), from no
// setting but STATE_DIR, a fresh directory, and checks the routes it
// registers with CheckRoutes, without serving them.
func CheckBuiltRoutes(t *testing.T, build func(getenv func(string) string, stdout io.Writer) (*gateway.Gateway, error), document []byte) {
	t.Helper()
	dir := t.TempDir()
	g, err := build(func(k string) string {
		if k == "STATE_DIR" {
			return dir
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	CheckRoutes(t, g.Server.App, document)
}

// CheckRoutes compares the routes an app registers with the operations
// document publishes, both ways.
func CheckRoutes(t *testing.T, app *fiber.App, document []byte) {
	t.Helper()
	doc, err := Load(document)
	if err != nil {
		t.Fatal(err)
	}
	served := map[Operation]bool{}
	for _, r := range app.GetRoutes(true) {
		// Fiber answers HEAD for every GET by itself.
		if r.Method == "HEAD" || slices.Contains(Unpublished, r.Path) {
			continue
		}
		served[Operation{Method: r.Method, Path: Template(r.Path)}] = true
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
