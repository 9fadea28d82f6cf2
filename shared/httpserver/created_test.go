package httpserver_test

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
)

// TestCreated: a created resource is a 201 at its location that no cache
// keeps, marked when it replays a key's first outcome, and still names its
// id when its body cannot be encoded.
func TestCreated(t *testing.T) {
	s := newServer(t, nil)
	s.App.Post("/things", func(c *fiber.Ctx) error {
		return httpserver.Created(c, "t-1", "/things/t-1", map[string]string{"id": "t-1", "name": "thing"})
	})
	s.App.Post("/replayed", func(c *fiber.Ctx) error {
		httpserver.MarkReplayed(c)
		return httpserver.Created(c, "t-2", "/things/t-2", map[string]any{"id": "t-2", "unencodable": make(chan int)})
	})
	s.start(t)
	tests := []struct {
		path, wantLocation, wantBody, wantReplayed string
	}{
		{"/things", "/things/t-1", `{"id":"t-1","name":"thing"}`, ""},
		{"/replayed", "/things/t-2", `{"id":"t-2"}`, "true"},
	}
	for _, tt := range tests {
		r := servertest.Do(t, "POST", s.base+tt.path, nil)
		if r.Status != 201 || r.Header.Get("Location") != tt.wantLocation || string(r.Body) != tt.wantBody ||
			r.Header.Get("Cache-Control") != "no-store" || r.Header.Get(httpserver.HeaderIdempotentReplayed) != tt.wantReplayed {
			t.Errorf("%s: got %d, Location %q, Cache-Control %q, replayed %q, body %s; want 201 at %s, no-store, replayed %q, %s",
				tt.path, r.Status, r.Header.Get("Location"), r.Header.Get("Cache-Control"), r.Header.Get(httpserver.HeaderIdempotentReplayed), r.Body,
				tt.wantLocation, tt.wantReplayed, tt.wantBody)
		}
	}
}
