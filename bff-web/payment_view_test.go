package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestOrderPageShowsOnlyADocumentedPayment: the order page shows the
// payment only when its status is one of the document's enum and its last4
// is four digits; any other answer of the payment service leaves the
// payment out, named in degraded, rather than passing it on.
func TestOrderPageShowsOnlyADocumentedPayment(t *testing.T) {
	// answer is the status and last4 the payment service gives the order
	// page's payment read; every other call reaches the sandbox.
	var answer atomic.Pointer[[2]string]
	var target atomic.Pointer[url.URL]
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := answer.Load(); a != nil && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/payments/") && !strings.Contains(r.URL.Path, "by-reference") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%q,"status":%q,"method":{"type":"card","brand":"visa","last4":%q}}`, strings.TrimPrefix(r.URL.Path, "/payments/"), a[0], a[1])
			return
		}
		if to := target.Load(); to != nil {
			httputil.NewSingleHostReverseProxy(to).ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable) // the readiness probe, before the sandbox is known
	}))
	t.Cleanup(fake.Close)
	s := startStack(t, "UPSTREAM_PAYMENT_URLS", fake.URL)
	u, err := url.Parse(s.PaymentURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	var placed orderView
	s.order(t, ada, orderBody("tok_visa", line(2, 1))).JSON(t, &placed)

	tests := []struct {
		name   string
		status string
		last4  string
		shown  bool
	}{
		{"captured card", "captured", "4242", true},
		{"refunded card", "refunded", "0005", true},
		{"last4 with a letter", "captured", "42a1", false},
		{"last4 with a sign", "captured", "-424", false},
		{"last4 with a space", "captured", " 424", false},
		{"last4 in other digits", "captured", "٤٢", false},
		{"five digits", "captured", "42424", false},
		{"status not in the enum", "pending_review", "4242", false},
		{"status in capitals", "CAPTURED", "4242", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer.Store(&[2]string{tt.status, tt.last4})
			got := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, ada.headers(reading)...)
			var v orderView
			got.JSON(t, &v)
			if got.Status != 200 || (v.Payment != nil) != tt.shown || (len(v.Degraded) == 0) != tt.shown {
				t.Errorf("status %d payment %+v degraded %v, want 200 with the payment shown: %v", got.Status, v.Payment, v.Degraded, tt.shown)
			}
		})
	}
}
