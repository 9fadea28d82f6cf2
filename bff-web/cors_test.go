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
