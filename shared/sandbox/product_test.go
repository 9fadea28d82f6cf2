package sandbox_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/product"
)

func TestCatalogSeed(t *testing.T) {
	rn, _ := startManual(t)
	all := listAll[product.Product](t, rn.ProductURL+"/products?limit=7&cursor=", 10)
	if len(all) < 40 {
		t.Fatalf("got %d products, want at least 40", len(all))
	}
	categories := map[string]int{}
	for i, p := range all {
		if p.ID != int64(i+1) {
			t.Fatalf("product %d has id %d, want ids 1.. in order", i, p.ID)
		}
		categories[p.Category]++
		if p.Name == "" || p.SKU == "" || p.Brand == "" || len(p.Attributes) == 0 {
			t.Errorf("product %d lacks name, sku, brand or attributes: %+v", p.ID, p)
		}
		if n := strings.Count(p.Description, ". ") + 1; n < 2 || n > 4 {
			t.Errorf("product %d: got %d sentences in %q, want 2-4", p.ID, n, p.Description)
		}
		if p.Price.Currency != "EUR" || p.Price.Amount <= 0 {
			t.Errorf("product %d: got price %+v, want positive EUR", p.ID, p.Price)
		}
		if p.Stock < 5 || p.Stock > 100 {
			t.Errorf("product %d: got stock %d, want 5..100", p.ID, p.Stock)
		}
		if p.Rating < 0 || p.Rating > 5 {
			t.Errorf("product %d: got rating %v, want 0..5", p.ID, p.Rating)
		}
		if len(p.Images) < 2 || len(p.Images) > 4 || p.Images[0].Kind != "main" || p.Images[1].Kind != "thumbnail" {
			t.Errorf("product %d: got images %+v, want main, thumbnail and up to two gallery", p.ID, p.Images)
		}
		if want := fmt.Sprintf("https://img.storefront.dev/products/%d/main.jpg", p.ID); p.Images[0].URL != want {
			t.Errorf("product %d: got main image %q, want %q", p.ID, p.Images[0].URL, want)
		}
	}
	if len(categories) < 5 {
		t.Errorf("got categories %v, want at least 5", categories)
	}

	// The seed is deterministic: a second sandbox serves the same catalog.
	other, _ := startManual(t)
	var first product.Page
	do(t, "GET", other.ProductURL+"/products?limit=100", nil).want(t, http.StatusOK).decode(t, &first)
	for i := range first.Items {
		if first.Items[i].Name != all[i].Name || first.Items[i].Stock != all[i].Stock || first.Items[i].Price != all[i].Price {
			t.Fatalf("product %d differs between two sandboxes", first.Items[i].ID)
		}
	}
}

func TestGetProduct(t *testing.T) {
	rn, _ := startManual(t)
	var p product.Product
	do(t, "GET", rn.ProductURL+"/products/7", nil).want(t, http.StatusOK).decode(t, &p)
	if p.ID != 7 || p.Name == "" {
		t.Errorf("got %+v, want product 7", p)
	}
	if !p.UpdatedAt.Equal(t0) {
		t.Errorf("got updated_at %v, want the clock's %v", p.UpdatedAt, t0)
	}

	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/products/9999", http.StatusNotFound, "not_found"},
		{"/products/0", http.StatusBadRequest, "invalid_request"},
		{"/products/abc", http.StatusBadRequest, "invalid_request"},
		{"/nothing/here", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			do(t, "GET", rn.ProductURL+tt.path, nil).problem(t, tt.status, tt.code)
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		r := do(t, "PUT", rn.ProductURL+"/products/7", nil)
		r.problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("got Allow %q, want GET listed", r.header.Get("Allow"))
		}
	})
}

func TestBatchProducts(t *testing.T) {
	rn, _ := startManual(t)
	var b product.Batch
	do(t, "GET", rn.ProductURL+"/products?ids=3,999,1,3,2", nil).want(t, http.StatusOK).decode(t, &b)
	var got []int64
	for _, p := range b.Items {
		got = append(got, p.ID)
	}
	if fmt.Sprint(got) != "[3 1 2]" {
		t.Errorf("got ids %v, want [3 1 2] (requested order, duplicates once)", got)
	}
	if fmt.Sprint(b.Missing) != "[999]" {
		t.Errorf("got missing %v, want [999]", b.Missing)
	}

	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	for _, q := range []string{"ids=", "ids=1,x", "ids=1,-2", "ids=1&category=books", "ids=" + strings.Join(ids, ",")} {
		t.Run(q[:min(len(q), 20)], func(t *testing.T) {
			do(t, "GET", rn.ProductURL+"/products?"+q, nil).problem(t, http.StatusBadRequest, "invalid_request")
		})
	}
}

func TestListProducts(t *testing.T) {
	rn, _ := startManual(t)
	var page product.Page
	do(t, "GET", rn.ProductURL+"/products", nil).want(t, http.StatusOK).decode(t, &page)
	if len(page.Items) != 20 || page.NextCursor == "" {
		t.Errorf("got %d items and cursor %q, want the default 20 and a cursor", len(page.Items), page.NextCursor)
	}

	var seen []int64
	for _, it := range listAll[product.Product](t, rn.ProductURL+"/products?category=kitchen&limit=3&cursor=", 10) {
		if it.Category != "kitchen" {
			t.Errorf("got category %q in the kitchen listing", it.Category)
		}
		seen = append(seen, it.ID)
	}
	if len(seen) != 8 {
		t.Errorf("got %d kitchen products %v, want 8", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Errorf("got ids %v, want ascending without repeats", seen)
		}
	}

	var empty product.Page
	do(t, "GET", rn.ProductURL+"/products?category=spaceships", nil).want(t, http.StatusOK).decode(t, &empty)
	if len(empty.Items) != 0 || empty.NextCursor != "" {
		t.Errorf("got %+v for an unknown category, want an empty last page", empty)
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=!!", "cursor=bm9wZQ"} {
		t.Run(q, func(t *testing.T) {
			do(t, "GET", rn.ProductURL+"/products?"+q, nil).problem(t, http.StatusBadRequest, "invalid_request")
		})
	}
}

func reserve(t *testing.T, rn *sandboxtest.Running, ref string, lines ...product.Line) product.Reservation {
	t.Helper()
	var res product.Reservation
	do(t, "POST", rn.ProductURL+"/reservations", product.ReserveRequest{Reference: ref, Items: lines}).
		want(t, http.StatusCreated).decode(t, &res)
	return res
}

func TestReserve(t *testing.T) {
	rn, _ := startManual(t)
	if err := rn.SetStock(t.Context(), 1, 10); err != nil {
		t.Fatal(err)
	}
	if err := rn.SetStock(t.Context(), 2, 3); err != nil {
		t.Fatal(err)
	}

	res := reserve(t, rn, "ref-1", product.Line{ProductID: 1, Quantity: 2}, product.Line{ProductID: 2, Quantity: 1}, product.Line{ProductID: 1, Quantity: 3})
	if res.Status != product.ReservationActive || !res.ExpiresAt.Equal(t0.Add(10*time.Minute)) || !res.CreatedAt.Equal(t0) {
		t.Errorf("got %+v, want active, created now, expiring in the default 10m", res)
	}
	if fmt.Sprint(res.Items) != "[{1 5} {2 1}]" {
		t.Errorf("got items %v, want duplicate lines summed: [{1 5} {2 1}]", res.Items)
	}
	var p product.Product
	do(t, "GET", rn.ProductURL+"/products/1", nil).want(t, http.StatusOK).decode(t, &p)
	if p.Stock != 5 {
		t.Errorf("got stock %d after reserving 5 of 10, want 5", p.Stock)
	}

	t.Run("out of stock lists every short line and changes nothing", func(t *testing.T) {
		pr := do(t, "POST", rn.ProductURL+"/reservations", product.ReserveRequest{Reference: "ref-2", Items: []product.Line{
			{ProductID: 1, Quantity: 6}, {ProductID: 3, Quantity: 1}, {ProductID: 2, Quantity: 3},
		}}).problem(t, http.StatusConflict, "out_of_stock")
		if got := fmt.Sprint(pr.Unavailable); got != "[{1 6 5} {2 3 2}]" {
			t.Errorf("got unavailable %s, want [{1 6 5} {2 3 2}]", got)
		}
		st := rn.State(t)
		if got := stockOf(t, st, 3); got.Available != got.Initial {
			t.Errorf("got product 3 %+v, want untouched (all or nothing)", got)
		}
	})

	bad := []struct {
		name string
		body string
		code string
	}{
		{"unknown product", `{"reference":"b1","items":[{"product_id":4242,"quantity":1}]}`, "unknown_product"},
		{"zero quantity", `{"reference":"b2","items":[{"product_id":1,"quantity":0}]}`, "invalid_request"},
		{"negative quantity", `{"reference":"b3","items":[{"product_id":1,"quantity":-1}]}`, "invalid_request"},
		{"no items", `{"reference":"b4","items":[]}`, "invalid_request"},
		{"no reference", `{"items":[{"product_id":1,"quantity":1}]}`, "invalid_request"},
		{"negative ttl", `{"reference":"b5","items":[{"product_id":1,"quantity":1}],"ttl_seconds":-1}`, "invalid_request"},
		{"wrong type", `{"reference":"b6","items":[{"product_id":"one","quantity":1}]}`, "invalid_request"},
		{"malformed", `{"reference":`, "malformed_json"},
		{"empty", ``, "malformed_json"},
		{"trailing data", `{"reference":"b7","items":[{"product_id":1,"quantity":1}]} {}`, "malformed_json"},
		{"duplicate reference", `{"reference":"ref-1","items":[{"product_id":1,"quantity":1}]}`, "duplicate_reference"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status := http.StatusBadRequest
			hdr := []string{}
			if tt.code == "duplicate_reference" {
				status = http.StatusConflict
				hdr = []string{"Idempotency-Key", "another-key"}
			}
			do(t, "POST", rn.ProductURL+"/reservations", tt.body, hdr...).problem(t, status, tt.code)
		})
	}
	st := rn.State(t)
	if len(st.Product.Reservations) != 1 {
		t.Errorf("got %d reservations, want 1 (refusals change nothing)", len(st.Product.Reservations))
	}
	checkStockConserved(t, st)
}

func checkStockConserved(t *testing.T, st sandbox.State) {
	t.Helper()
	for _, p := range st.Product.Products {
		if p.Available < 0 || p.Initial != p.Available+p.Reserved+p.Sold {
			t.Errorf("product %d: stock not conserved: %+v", p.ID, p)
		}
	}
}

func TestReservationLifecycle(t *testing.T) {
	rn, clock := startManual(t)
	if err := rn.SetStock(t.Context(), 5, 10); err != nil {
		t.Fatal(err)
	}
	line := product.Line{ProductID: 5, Quantity: 4}

	committed := reserve(t, rn, "commit-me", line)
	released := reserve(t, rn, "release-me", line)

	var got product.Reservation
	do(t, "GET", rn.ProductURL+"/reservations/"+committed.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.ID != committed.ID || got.Reference != "commit-me" {
		t.Errorf("got %+v, want reservation %s", got, committed.ID)
	}
	do(t, "GET", rn.ProductURL+"/reservations/by-reference/release-me", nil).want(t, http.StatusOK).decode(t, &got)
	if got.ID != released.ID {
		t.Errorf("by reference: got %s, want %s", got.ID, released.ID)
	}
	do(t, "GET", rn.ProductURL+"/reservations/res_nope", nil).problem(t, http.StatusNotFound, "not_found")
	do(t, "GET", rn.ProductURL+"/reservations/by-reference/nope", nil).problem(t, http.StatusNotFound, "not_found")

	for range 2 {
		do(t, "POST", rn.ProductURL+"/reservations/"+committed.ID+"/commit", nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != product.ReservationCommitted {
			t.Errorf("commit: got status %q, want committed", got.Status)
		}
		do(t, "DELETE", rn.ProductURL+"/reservations/"+released.ID, nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != product.ReservationReleased {
			t.Errorf("release: got status %q, want released", got.Status)
		}
	}
	if got := stockOf(t, rn.State(t), 5); got != (sandbox.StockLevel{ID: 5, Initial: 10, Available: 6, Reserved: 0, Sold: 4}) {
		t.Errorf("got %+v, want 4 sold and 6 available", got)
	}
	do(t, "POST", rn.ProductURL+"/reservations/"+released.ID+"/commit", nil).problem(t, http.StatusConflict, "reservation_released")
	do(t, "DELETE", rn.ProductURL+"/reservations/"+committed.ID, nil).problem(t, http.StatusConflict, "reservation_committed")
	do(t, "POST", rn.ProductURL+"/reservations/res_nope/commit", nil).problem(t, http.StatusNotFound, "not_found")
	do(t, "DELETE", rn.ProductURL+"/reservations/res_nope", nil).problem(t, http.StatusNotFound, "not_found")

	t.Run("expiry", func(t *testing.T) {
		short := reserve(t, rn, "expire-me", product.Line{ProductID: 5, Quantity: 6})
		custom := do(t, "POST", rn.ProductURL+"/reservations", product.ReserveRequest{Reference: "custom-ttl", Items: []product.Line{{ProductID: 6, Quantity: 1}}, TTLSeconds: 3600}).want(t, http.StatusCreated)
		var long product.Reservation
		custom.decode(t, &long)
		if !long.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("got expires_at %v, want ttl_seconds honoured: %v", long.ExpiresAt, t0.Add(time.Hour))
		}
		if got := stockOf(t, rn.State(t), 5); got.Available != 0 {
			t.Fatalf("got %+v, want everything reserved", got)
		}

		clock.Advance(10*time.Minute - time.Second)
		if got := stockOf(t, rn.State(t), 5); got.Reserved != 6 {
			t.Errorf("a second before expiry: got %+v, want 6 still reserved", got)
		}
		clock.Advance(time.Second)
		st := rn.State(t)
		if got := stockOf(t, st, 5); got.Available != 6 || got.Reserved != 0 {
			t.Errorf("at expiry: got %+v, want the 6 units back", got)
		}
		do(t, "GET", rn.ProductURL+"/reservations/"+short.ID, nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != product.ReservationExpired {
			t.Errorf("got status %q, want expired", got.Status)
		}
		do(t, "POST", rn.ProductURL+"/reservations/"+short.ID+"/commit", nil).problem(t, http.StatusConflict, "reservation_expired")
		do(t, "DELETE", rn.ProductURL+"/reservations/"+short.ID, nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != product.ReservationExpired {
			t.Errorf("release of an expired reservation: got status %q, want expired", got.Status)
		}
		if got := stockOf(t, rn.State(t), 6); got.Reserved != 1 {
			t.Errorf("got %+v, want the 1h reservation still holding its unit", got)
		}
		checkStockConserved(t, rn.State(t))
	})
}

func TestSetStock(t *testing.T) {
	rn, _ := startManual(t)
	if err := rn.Sandbox.SetStock(3, 2); err != nil {
		t.Fatal(err)
	}
	reserve(t, rn, "hold", product.Line{ProductID: 3, Quantity: 1})
	if err := rn.Sandbox.SetStock(3, 5); err == nil {
		t.Error("SetStock with units reserved: got nil error, want one")
	}
	tests := []struct {
		path   string
		body   string
		status int
		code   string
	}{
		{"/__admin/products/3/stock", `{"stock":5}`, http.StatusConflict, "stock_reserved"},
		{"/__admin/products/9999/stock", `{"stock":5}`, http.StatusNotFound, "not_found"},
		{"/__admin/products/4/stock", `{"stock":-1}`, http.StatusBadRequest, "invalid_request"},
		{"/__admin/products/4/stock", `{}`, http.StatusBadRequest, "invalid_request"},
		{"/__admin/products/x/stock", `{"stock":1}`, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.path+tt.body, func(t *testing.T) {
			do(t, "PUT", rn.ProductURL+tt.path, tt.body).problem(t, tt.status, tt.code)
		})
	}
	var lvl sandbox.StockLevel
	do(t, "PUT", rn.ProductURL+"/__admin/products/4/stock", `{"stock":0}`).want(t, http.StatusOK).decode(t, &lvl)
	if lvl != (sandbox.StockLevel{ID: 4}) {
		t.Errorf("got %+v, want zero stock", lvl)
	}
	do(t, "POST", rn.ProductURL+"/reservations", product.ReserveRequest{Reference: "none-left", Items: []product.Line{{ProductID: 4, Quantity: 1}}}).
		problem(t, http.StatusConflict, "out_of_stock")
}
