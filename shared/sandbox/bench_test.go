package sandbox_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"storefront.dev/shared/sandbox"
)

// The benchmarks call the handlers in process, so they measure the
// services rather than the loopback network.

func BenchmarkGetProduct(b *testing.B) {
	h := sandbox.New(sandbox.Config{}).Handler(sandbox.ServiceProduct)
	req := httptest.NewRequest("GET", "/products/7", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("got %d", rec.Code)
		}
	}
}

func BenchmarkReserveRelease(b *testing.B) {
	sb := sandbox.New(sandbox.Config{})
	h := sb.Handler(sandbox.ServiceProduct)
	if err := sb.SetStock(1, 1_000_000); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"reference":"bench-%d","items":[{"product_id":1,"quantity":1},{"product_id":2,"quantity":1}]}`, i)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/reservations", strings.NewReader(body)))
		if rec.Code != http.StatusCreated {
			b.Fatalf("got %d: %s", rec.Code, rec.Body)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("DELETE", fmt.Sprintf("/reservations/res_%06d", i), nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("got %d: %s", rec.Code, rec.Body)
		}
	}
}
