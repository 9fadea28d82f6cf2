package httpserver_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
)

// TestConditionalGET: an answer of a Cacheable route carries the strong ETag
// of its identity body, marked with the coding when compressed, Vary names
// Accept-Encoding once after what the route set, and If-None-Match with
// either form of the tag is a bodiless 304 carrying the form the client
// holds.
func TestConditionalGET(t *testing.T) {
	s := newServer(t, nil)
	httpserver.Cacheable(s.App, "/api")
	body := strings.Repeat("a screen's worth of JSON ", 20)
	s.App.Get("/api/screen", func(c *fiber.Ctx) error {
		c.Vary(fiber.HeaderOrigin)
		return c.SendString(body)
	})
	s.start(t)
	sum := sha256.Sum256([]byte(body))
	tag := base64.RawURLEncoding.EncodeToString(sum[:16])
	tests := []struct {
		name       string
		headers    []string
		wantStatus int
		wantETag   string
		wantBody   bool
	}{
		{"identity", []string{"Accept-Encoding", "identity"}, 200, `"` + tag + `"`, true},
		{"gzip", []string{"Accept-Encoding", "gzip"}, 200, `"` + tag + `-gzip"`, true},
		{"revalidated", []string{"Accept-Encoding", "identity", "If-None-Match", `"` + tag + `"`}, 304, `"` + tag + `"`, false},
		{"revalidated with the gzip form", []string{"Accept-Encoding", "gzip", "If-None-Match", `W/"other", "` + tag + `-gzip"`}, 304, `"` + tag + `-gzip"`, false},
		{"another tag", []string{"Accept-Encoding", "identity", "If-None-Match", `"other"`}, 200, `"` + tag + `"`, true},
		// A cache holding both forms must not be told to serve gzip to a
		// client that does not take it.
		{"the gzip form, gzip not accepted", []string{"Accept-Encoding", "identity", "If-None-Match", `"` + tag + `-gzip"`}, 200, `"` + tag + `"`, true},
		{"both forms, gzip not accepted", []string{"Accept-Encoding", "identity", "If-None-Match", `"` + tag + `-gzip", "` + tag + `"`}, 304, `"` + tag + `"`, false},
	}
	t.Run("the tag on the second of two If-None-Match lines", func(t *testing.T) {
		req, err := http.NewRequest("GET", s.base+"/api/screen", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "identity")
		req.Header.Add("If-None-Match", `"other"`)
		req.Header.Add("If-None-Match", `"`+tag+`"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 304 || resp.Header.Get("ETag") != `"`+tag+`"` {
			t.Errorf("got %d with ETag %s, want 304 with %q", resp.StatusCode, resp.Header.Get("ETag"), tag)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "GET", s.base+"/api/screen", nil, tt.headers...)
			if r.Status != tt.wantStatus || r.Header.Get("ETag") != tt.wantETag {
				t.Errorf("got %d with ETag %s, want %d with %s", r.Status, r.Header.Get("ETag"), tt.wantStatus, tt.wantETag)
			}
			if got := r.Header.Values("Vary"); len(got) != 1 || got[0] != "Origin, Accept-Encoding" {
				t.Errorf("got Vary %q, want [Origin, Accept-Encoding]", got)
			}
			if got := r.Header.Get("Cache-Control"); got != "private, no-cache" {
				t.Errorf("got Cache-Control %q, want private, no-cache", got)
			}
			if (len(r.Body) > 0) != tt.wantBody {
				t.Errorf("got %d body bytes, want a body: %v", len(r.Body), tt.wantBody)
			}
		})
	}
}
