package sandbox_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/product"
)

// TestConcurrentReservations has 200 goroutines reserve one product with
// various quantities: stock never goes negative, no more is reserved than
// there was, and what the successful callers hold is exactly what is
// reserved.
func TestConcurrentReservations(t *testing.T) {
	rn, _ := startManual(t)
	const stock = 150
	if err := rn.SetStock(t.Context(), 1, stock); err != nil {
		t.Fatal(err)
	}
	const n = 200
	granted := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			q := 1 + i%4
			r, err := send(http.DefaultClient, "POST", rn.ProductURL+"/reservations",
				product.ReserveRequest{Reference: fmt.Sprintf("race-%d", i), Items: []product.Line{{ProductID: 1, Quantity: q}}})
			switch {
			case err != nil:
				t.Error(err)
			case r.status == http.StatusCreated:
				granted[i] = q
			case r.status != http.StatusConflict:
				t.Errorf("got status %d, want 201 or 409: %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, q := range granted {
		total += q
	}
	st := rn.State(t)
	got := stockOf(t, st, 1)
	if total > stock || got.Reserved != total || got.Available != stock-total || got.Available < 0 {
		t.Errorf("got %+v with %d granted, want reserved == granted <= %d and available == the rest", got, total, stock)
	}
	// Demand (500 units) exceeds stock, so the product must be sold out
	// down to fewer units than the smallest refused request.
	if got.Available >= 4 {
		t.Errorf("got %d units left while requests were refused, want fewer than 4", got.Available)
	}

	// Commit half and release the rest, concurrently.
	ids := map[string]int{}
	for _, r := range st.Product.Reservations {
		ids[r.ID] = r.Items[0].Quantity
	}
	sold := 0
	i := 0
	for id, q := range ids {
		commit := i%2 == 0
		if commit {
			sold += q
		}
		i++
		wg.Go(func() {
			method, url := "DELETE", rn.ProductURL+"/reservations/"+id
			if commit {
				method, url = "POST", url+"/commit"
			}
			if r, err := send(http.DefaultClient, method, url, nil); err != nil || r.status != http.StatusOK {
				t.Errorf("%s %s: %v %d", method, url, err, r.status)
			}
		})
	}
	wg.Wait()
	st = rn.State(t)
	if got := stockOf(t, st, 1); got != (sandbox.StockLevel{ID: 1, Initial: stock, Available: stock - sold, Sold: sold}) {
		t.Errorf("got %+v, want %d sold and the rest available", got, sold)
	}
	// Reservations committed without orders: only the stock rules apply.
	for _, err := range st.StockInvariants() {
		t.Errorf("invariant violated: %v", err)
	}
}

// TestConcurrentMultiLine races reservations of two products in mixed
// shapes: each is all or nothing, so a product's reserved units are exactly
// the sum of the granted requests' lines.
func TestConcurrentMultiLine(t *testing.T) {
	rn, _ := startManual(t)
	for _, id := range []int64{2, 3} {
		if err := rn.SetStock(t.Context(), id, 30); err != nil {
			t.Fatal(err)
		}
	}
	shapes := [][]product.Line{
		{{ProductID: 2, Quantity: 1}, {ProductID: 3, Quantity: 1}},
		{{ProductID: 2, Quantity: 2}},
		{{ProductID: 3, Quantity: 1}, {ProductID: 2, Quantity: 1}, {ProductID: 3, Quantity: 1}},
		{{ProductID: 3, Quantity: 3}},
	}
	const n = 120
	var mu sync.Mutex
	want := map[int64]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			lines := shapes[i%len(shapes)]
			r, err := send(http.DefaultClient, "POST", rn.ProductURL+"/reservations",
				product.ReserveRequest{Reference: fmt.Sprintf("multi-%d", i), Items: lines})
			if err != nil {
				t.Error(err)
				return
			}
			switch r.status {
			case http.StatusCreated:
				mu.Lock()
				for _, l := range lines {
					want[l.ProductID] += l.Quantity
				}
				mu.Unlock()
			case http.StatusConflict:
			default:
				t.Errorf("got status %d, want 201 or 409: %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	st := rn.State(t)
	for _, id := range []int64{2, 3} {
		got := stockOf(t, st, id)
		if got.Reserved != want[id] || got.Available != 30-want[id] {
			t.Errorf("product %d: got %+v, want exactly the granted %d reserved", id, got, want[id])
		}
	}
	checkStockConserved(t, st)
}
