package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest"
)

// TestCachingAndCompression: web GET screens are compressed when accepted,
// carry a strong ETag that a matching If-None-Match turns into a bodiless
// 304, and say who may cache them: the catalog a shared cache (revalidating),
// the user's orders only the browser, the account page nobody.
func TestCachingAndCompression(t *testing.T) {
	s, ada := startAsAda(t)
	s.order(t, ada, orderBody("tok_visa", line(2, 1)))
	cases := []struct {
		path         string
		signedIn     bool
		cacheControl string
	}{
		{"/api/products?limit=10", false, "no-cache"},
		{"/api/products/2", false, "no-cache"},
		{"/api/orders", true, "private, no-cache"},
		{"/api/me", true, "no-store"},
	}
	for _, tc := range cases {
		var headers []string
		if tc.signedIn {
			headers = ada.headers(reading)
		}
		plain := servertest.Do(t, "GET", s.Base+tc.path, nil, append(headers, "Accept-Encoding", "identity")...)
		gz := servertest.Do(t, "GET", s.Base+tc.path, nil, append(headers, "Accept-Encoding", "gzip")...)
		if plain.Status != 200 || gz.Status != 200 {
			t.Fatalf("%s: %d and %d", tc.path, plain.Status, gz.Status)
		}
		etag := plain.Header.Get("ETag")
		if len(plain.Body) >= 1024 && (gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") != etag[:len(etag)-1]+`-gzip"`) {
			t.Errorf("%s (%d bytes) with gzip accepted: Content-Encoding %q ETag %q, want gzip and %s marked -gzip",
				tc.path, len(plain.Body), gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), etag)
		}
		if got := plain.Header.Get("Cache-Control"); got != tc.cacheControl {
			t.Errorf("%s: Cache-Control %q, want %q", tc.path, got, tc.cacheControl)
		}
		again := servertest.Do(t, "GET", s.Base+tc.path, nil, append(headers, "If-None-Match", etag)...)
		if etag == "" || again.Status != 304 || len(again.Body) != 0 {
			t.Errorf("%s with If-None-Match %s: %d with %d bytes, want a bodiless 304", tc.path, etag, again.Status, len(again.Body))
		}
	}
}
