package sandboxtest

import (
	"net/url"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/product"
)

// CheckInvariants fetches the state of all five services once the system
// is quiet and fails the test for every invariant it breaks; it returns
// the state for further checks. Quiet is when every invariant holds, or
// after quietWait: a BFF answers a checkout once its order is confirmed
// and commits its stock just after.
func (r *Running) CheckInvariants(tb testing.TB) sandbox.State {
	tb.Helper()
	deadline := time.Now().Add(quietWait)
	st := r.State(tb)
	for len(st.Invariants()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		st = r.State(tb)
	}
	for _, err := range st.Invariants() {
		tb.Errorf("invariant: %v", err)
	}
	return st
}

// quietWait is how long CheckInvariants waits for the invariants to hold.
const quietWait = 5 * time.Second

// CatalogIDs lists the ids of the product service's catalog (one category,
// or all of it when category is ""), read directly, as the reference a
// BFF's pages are compared with.
func (r *Running) CatalogIDs(tb testing.TB, category string) []int64 {
	tb.Helper()
	resp, err := r.client.Get(r.ProductURL + "/products?limit=100&category=" + url.QueryEscape(category))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var page product.Page
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		tb.Fatal(err)
	}
	if page.NextCursor != "" {
		tb.Fatal("the sandbox's catalog does not fit one page of 100")
	}
	return ProductIDs(page.Items)
}

// ProductIDs lists the ids of ps, in order.
func ProductIDs(ps []product.Product) []int64 {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}
