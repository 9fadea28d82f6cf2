package httpserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
)

// TestContentCodings sends a body under each Content-Encoding: a field that
// names only identity, or nothing, reaches the handler as sent; any other
// coding, on any line of the field, is a 415 with Accept-Encoding:
// identity before the handler runs.
func TestContentCodings(t *testing.T) {
	s := newServer(t, nil)
	reached := 0
	s.App.Post("/echo", func(c *fiber.Ctx) error {
		reached++
		return c.Send(c.Body())
	})
	s.start(t)
	const body = `{"name":"ada"}`
	tests := []struct {
		name  string
		lines []string
		want  int
	}{
		{"none", nil, 200},
		{"empty", []string{""}, 200},
		{"identity", []string{"identity"}, 200},
		{"identity in capitals, twice", []string{"IDENTITY, Identity"}, 200},
		{"identity on two lines", []string{"identity", "identity,"}, 200},
		{"gzip", []string{"gzip"}, 415},
		{"gzip in capitals", []string{"GZIP"}, 415},
		{"two layers", []string{"gzip, gzip"}, 415},
		{"br", []string{"br"}, 415},
		{"deflate", []string{"deflate"}, 415},
		{"zstd", []string{"zstd"}, 415},
		{"unknown", []string{"x-rot13"}, 415},
		{"identity then gzip", []string{"identity, gzip"}, 415},
		{"gzip on a second line", []string{"identity", "gzip"}, 415},
		{"gzip on the first line", []string{"gzip", "identity"}, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reached
			r := servertest.DoLines(t, "POST", s.base+"/echo", body, http.Header{"Content-Encoding": tt.lines})
			if r.Status != tt.want {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.want, r.Body)
			}
			if tt.want == 200 {
				if string(r.Body) != body {
					t.Errorf("the handler read %q, want the body as sent", r.Body)
				}
				return
			}
			if p := r.Problem(t); p["code"] != "unsupported_media_type" {
				t.Errorf("got problem %v, want unsupported_media_type", p)
			}
			if got := r.Header.Get("Accept-Encoding"); got != "identity" {
				t.Errorf("got Accept-Encoding %q, want identity", got)
			}
			if reached != before {
				t.Error("the handler ran")
			}
		})
	}
}

// TestFrameworkErrorsEchoNothing sends requests that Fiber or fasthttp
// refuse themselves, each with a secret in its path and headers: each
// answer is the fixed problem of its status, without an instance, and
// quotes nothing of the request.
func TestFrameworkErrorsEchoNothing(t *testing.T) {
	s := hostileServer(t, func(c *httpserver.Config) { c.BodyLimit, c.HeaderLimit = 1024, 4096 })
	const secret = "TOPSECRET"
	creds := "Authorization: Bearer " + secret + "\r\nCookie: sf_session=" + secret + "\r\n"
	tests := []struct {
		name, request string
		status        int
		code          string
	}{
		{"unknown route", "GET /" + secret + " HTTP/1.1\r\nHost: x\r\n" + creds + "\r\n", 404, "not_found"},
		{"wrong method", "PUT /echo?" + secret + " HTTP/1.1\r\nHost: x\r\n" + creds + "Content-Length: 0\r\n\r\n", 405, "method_not_allowed"},
		{"headers too large", "GET /page?" + secret + " HTTP/1.1\r\nHost: x\r\n" + creds + "X-Pad: " + strings.Repeat(secret, 600) + "\r\n\r\n", 431, "headers_too_large"},
		{"body too large", "POST /echo?" + secret + " HTTP/1.1\r\nHost: x\r\n" + creds + "Content-Length: 2000\r\n\r\n" + strings.Repeat("x", 2000), 413, "payload_too_large"},
		{"not HTTP", secret + "\r\n" + creds + "\r\n", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Raw(t, s.base, tt.request)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if p := r.Problem(t); p["code"] != tt.code || p["detail"] == "" || p["instance"] != nil {
				t.Errorf("got problem %v, want %s with a fixed detail and no instance", p, tt.code)
			}
			if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Content-Type-Options") == "" {
				t.Errorf("got headers %v, want the request id and the security headers", r.Header)
			}
			if strings.Contains(string(r.Body), secret) || strings.Contains(fmtHeader(r.Header), secret) {
				t.Errorf("the answer quotes the request: %v %s", r.Header, r.Body)
			}
		})
	}
}

func fmtHeader(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// TestBodiesAreJSON: on a route with JSONBodies, a body declared as
// anything but JSON (a form, plain text, nothing) is a 415 before the
// handler runs; JSON with parameters
// or a +json type, and a request without a body, reach it.
func TestBodiesAreJSON(t *testing.T) {
	s := newServer(t, nil)
	reached := 0
	s.App.Post("/echo", httpserver.JSONBodies, func(c *fiber.Ctx) error {
		reached++
		return c.SendStatus(fiber.StatusNoContent)
	})
	s.start(t)
	for _, tt := range []struct {
		contentType, body string
		want              int
	}{
		{"application/json", `{}`, 204},
		{"Application/JSON; charset=utf-8", `{}`, 204},
		{"application/merge-patch+json", `{}`, 204},
		{"text/plain", `{}`, 415},
		{"application/x-www-form-urlencoded", `{}`, 415},
		{"", `{}`, 415},
		{"application/jsonx", `{}`, 415},
		{"", ``, 204},
		{"text/plain", ``, 204},
	} {
		before := reached
		r := servertest.DoLines(t, "POST", s.base+"/echo", tt.body, http.Header{"Content-Type": {tt.contentType}})
		if r.Status != tt.want {
			t.Errorf("%q with %q: got status %d, want %d; body %s", tt.contentType, tt.body, r.Status, tt.want, r.Body)
		}
		if tt.want == 415 && (reached != before || r.Problem(t)["code"] != "unsupported_media_type") {
			t.Errorf("%q: the handler ran, or the problem is %s", tt.contentType, r.Body)
		}
	}
}

// TestRepeatedAuthorizationIsRefused: a request with two Authorization
// lines, on a route that reads the token (required or optional), is a 400
// naming the field before any handler runs, whichever line comes first;
// one line goes through, and a path no route matches is still a
// 404.
func TestRepeatedAuthorizationIsRefused(t *testing.T) {
	s := newServer(t, nil)
	reached := 0
	ok := func(c *fiber.Ctx) error {
		reached++
		return c.SendString(httpserver.UserID(c))
	}
	v := subjectVerifier{} // the token is the user
	s.App.Get("/mine", httpserver.RequireUser(v, nil), ok)
	s.App.Get("/public", httpserver.OptionalUser(v), ok)
	s.start(t)
	tests := []struct {
		name, path string
		lines      []string
		status     int
	}{
		{"one token", "/mine", []string{"Bearer ada"}, 200},
		{"one token, optional", "/public", []string{"Bearer ada"}, 200},
		{"two tokens", "/mine", []string{"Bearer ada", "Bearer grace"}, 400},
		{"two tokens, the other way round", "/mine", []string{"Bearer grace", "Bearer ada"}, 400},
		{"two tokens, optional", "/public", []string{"Bearer ada", "Bearer grace"}, 400},
		{"two tokens, no route", "/nothing", []string{"Bearer ada", "Bearer grace"}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reached
			r := servertest.DoLines(t, "GET", s.base+tt.path, nil, http.Header{"Authorization": tt.lines})
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status == 200 {
				if string(r.Body) != "ada" {
					t.Errorf("the handler saw user %q, want ada", r.Body)
				}
				return
			}
			if p := r.Problem(t); tt.status == 400 && p["field"] != "Authorization" {
				t.Errorf("got problem %v, want one naming Authorization", p)
			}
			if reached != before {
				t.Error("the handler ran")
			}
		})
	}
}
