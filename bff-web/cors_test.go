package main

import (
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
)

// TestCORSLetsTheSPARevalidate: the SPA's origin may send If-None-Match
// (its preflight grants it) and read the ETag of an answer, so that it can
// revalidate a read and get a 304, as the document offers.
func TestCORSLetsTheSPARevalidate(t *testing.T) {
	s := startStack(t, "BFF_ALLOWED_ORIGINS", spaOrigin)
	pre := servertest.Do(t, "OPTIONS", s.Base+"/api/products", nil, "Origin", spaOrigin,
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "if-none-match")
	if pre.Status != 204 {
		t.Fatalf("preflight: status %d, want 204", pre.Status)
	}
	if got := pre.Header.Get("Access-Control-Allow-Headers"); !hasToken(got, "If-None-Match") {
		t.Errorf("preflight: got Access-Control-Allow-Headers %q, want If-None-Match in it", got)
	}

	first := servertest.Do(t, "GET", s.Base+"/api/products", nil, "Origin", spaOrigin)
	etag := first.Header.Get("ETag")
	if first.Status != 200 || etag == "" {
		t.Fatalf("read: status %d, ETag %q; want 200 with an ETag", first.Status, etag)
	}
	if got := first.Header.Get("Access-Control-Expose-Headers"); !hasToken(got, "ETag") {
		t.Errorf("read: got Access-Control-Expose-Headers %q, want ETag in it", got)
	}
	again := servertest.Do(t, "GET", s.Base+"/api/products", nil, "Origin", spaOrigin, "If-None-Match", etag)
	if again.Status != 304 || again.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Errorf("revalidation: status %d, Access-Control-Allow-Origin %q; want 304 granted to %s",
			again.Status, again.Header.Get("Access-Control-Allow-Origin"), spaOrigin)
	}
}

// hasToken reports whether the comma-separated list has name, in any case.
func hasToken(list, name string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), name) {
			return true
		}
	}
	return false
}

// TestCORSOnRefusalsBeforeTheRoutes: a request refused before the API's
// CORS policy runs (a body over the limit, a body sent gzipped) still
// carries the allowed origin's grant, so that the SPA reads the problem
// rather than a CORS failure; another origin gets none.
func TestCORSOnRefusalsBeforeTheRoutes(t *testing.T) {
	s := startStack(t, "BFF_ALLOWED_ORIGINS", spaOrigin)
	tooLarge := `{"email":"` + strings.Repeat("a", 70_000) + `"}`
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		grant   string
	}{
		{"a body over the limit", tooLarge, []string{"Origin", spaOrigin}, 413, spaOrigin},
		{"a gzipped body", `{}`, []string{"Origin", spaOrigin, "Content-Encoding", "gzip"}, 415, spaOrigin},
		{"a body over the limit from elsewhere", tooLarge, []string{"Origin", "https://evil.example"}, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "POST", s.Base+"/api/session", tt.body, tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tt.grant {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, tt.grant)
			}
			if !hasToken(r.Header.Get("Vary"), "Origin") {
				t.Errorf("got Vary %q, want Origin in it", r.Header.Get("Vary"))
			}
			if tt.grant != "" && (r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
				!hasToken(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID")) {
				t.Errorf("got Allow-Credentials %q, Expose-Headers %q; want the grant corsPolicy gives",
					r.Header.Get("Access-Control-Allow-Credentials"), r.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}
