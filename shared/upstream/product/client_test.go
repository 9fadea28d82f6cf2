package product_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/upstreamtest"
)

type fixture struct {
	rt     *sandboxtest.Running
	clock  *clocktest.Manual
	client *product.Client
}

func start(t *testing.T) fixture {
	t.Helper()
	clock := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, ReservationTTL: 10 * time.Minute})
	return fixture{rt: rt, clock: clock, client: rt.Clients(t, upstream.DefaultConfig()).Product}
}

func (f fixture) requests(t *testing.T, route string) int {
	t.Helper()
	return f.rt.State(t).Product.Requests[route]
}

var wantError = upstreamtest.WantError("product")

func TestGet(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	p, err := f.client.Get(ctx, 7)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if p.ID != 7 || p.Name == "" || p.Category == "" || p.Price.Currency != "EUR" || p.Price.Amount <= 0 || len(p.Images) == 0 {
		t.Errorf("got %+v, want product 7 with name, category, EUR price and images", p)
	}
	_, err = f.client.Get(ctx, 9999)
	wantError(t, err, "get", upstream.KindNotFound, 404, "not_found")
}

func TestGetMany(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	b, err := f.client.GetMany(ctx, []int64{3, 1, 9999})
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if got, want := sandboxtest.ProductIDs(b.Items), []int64{3, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("got items %v, want %v", got, want)
	}
	if want := []int64{9999}; !reflect.DeepEqual(b.Missing, want) {
		t.Errorf("got missing %v, want %v", b.Missing, want)
	}
}

func TestGetManySplitsIntoChunks(t *testing.T) {
	f := start(t)
	var all []int64
	for id := int64(250); id >= 1; id-- {
		all = append(all, id)
	}
	b, err := f.client.GetMany(context.Background(), all)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	// The catalog holds ids 1..N with N < 150: the first chunk (250..151)
	// is all missing, the last holds every product, in the order asked.
	if len(b.Items) == 0 || len(b.Items)+len(b.Missing) != len(all) {
		t.Fatalf("got %d items and %d missing, want %d in all", len(b.Items), len(b.Missing), len(all))
	}
	found := sandboxtest.ProductIDs(b.Items)
	if !slices.IsSortedFunc(found, func(a, b int64) int { return int(b - a) }) || found[len(found)-1] != 1 {
		t.Errorf("got items %v, want descending ids ending at 1, as asked", found)
	}
	if got := f.requests(t, "GET /products"); got != 3 {
		t.Errorf("got %d batch requests, want 3 (chunks of %d)", got, product.MaxBatch)
	}
}

func TestGetManyEmptyAsksNothing(t *testing.T) {
	f := start(t)
	b, err := f.client.GetMany(context.Background(), nil)
	if err != nil || len(b.Items) != 0 || len(b.Missing) != 0 {
		t.Errorf("got %+v, %v, want an empty batch", b, err)
	}
	if got := f.requests(t, "GET /products"); got != 0 {
		t.Errorf("got %d requests, want 0", got)
	}
}

func TestListPagesThroughTheCatalog(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	var all []product.Product
	params := product.ListParams{Limit: 7}
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("got more than 50 pages, want the cursor to end")
		}
		page, err := f.client.List(ctx, params)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Items) > 7 {
			t.Fatalf("got %d items on a page, want at most 7", len(page.Items))
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		params.Cursor = page.NextCursor
	}
	got := sandboxtest.ProductIDs(all)
	if len(got) < 40 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("got ids %v, want at least 40 distinct ids in order", got)
	}

	category := all[0].Category
	page, err := f.client.List(ctx, product.ListParams{Category: category, Limit: 100})
	if err != nil {
		t.Fatalf("List category: %v", err)
	}
	if len(page.Items) == 0 || len(page.Items) == len(all) {
		t.Errorf("got %d items in category %q of %d, want a strict subset", len(page.Items), category, len(all))
	}
	for _, p := range page.Items {
		if p.Category != category {
			t.Errorf("got product %d in category %q, want %q", p.ID, p.Category, category)
		}
	}

	_, err = f.client.List(ctx, product.ListParams{Cursor: "not-a-cursor"})
	wantError(t, err, "list", upstream.KindInvalid, 400, "invalid_request")
}

func TestReserveCommitRelease(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	before, err := f.client.Get(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	req := product.ReserveRequest{Reference: "ord 1/res?x", Items: []product.Line{{ProductID: 2, Quantity: 2}}}
	res, err := f.client.Reserve(ctx, req)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if res.ID == "" || res.Status != product.ReservationActive || res.Reference != req.Reference {
		t.Errorf("got %+v, want an active reservation with reference %q", res, req.Reference)
	}
	after, _ := f.client.Get(ctx, 2)
	if after.Stock != before.Stock-2 {
		t.Errorf("got stock %d, want %d", after.Stock, before.Stock-2)
	}

	again, err := f.client.Reserve(ctx, req)
	if err != nil || again.ID != res.ID {
		t.Errorf("got %+v, %v on a repeated reference, want reservation %s again", again, err, res.ID)
	}

	found, err := f.client.ReservationByReference(ctx, req.Reference)
	if err != nil || found.ID != res.ID {
		t.Errorf("got %+v, %v by reference, want reservation %s", found, err, res.ID)
	}
	_, err = f.client.ReservationByReference(ctx, "no such reference")
	wantError(t, err, "lookup", upstream.KindNotFound, 404, "not_found")

	committed, err := f.client.CommitReservation(ctx, res.ID)
	if err != nil || committed.Status != product.ReservationCommitted {
		t.Fatalf("got %+v, %v, want committed", committed, err)
	}
	if twice, err := f.client.CommitReservation(ctx, res.ID); err != nil || twice.Status != product.ReservationCommitted {
		t.Errorf("got %+v, %v committing twice, want committed", twice, err)
	}
	_, err = f.client.ReleaseReservation(ctx, res.ID)
	wantError(t, err, "release", upstream.KindConflict, 409, "reservation_committed")

	other, err := f.client.Reserve(ctx, product.ReserveRequest{Reference: "ord-2", Items: []product.Line{{ProductID: 2, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	released, err := f.client.ReleaseReservation(ctx, other.ID)
	if err != nil || released.Status != product.ReservationReleased {
		t.Fatalf("got %+v, %v, want released", released, err)
	}
	_, err = f.client.CommitReservation(ctx, other.ID)
	wantError(t, err, "commit", upstream.KindConflict, 409, "reservation_released")
	_, err = f.client.ReleaseReservation(ctx, "res_missing")
	wantError(t, err, "release", upstream.KindNotFound, 404, "not_found")
	_, err = f.client.CommitReservation(ctx, "res_missing")
	wantError(t, err, "commit", upstream.KindNotFound, 404, "not_found")

	final, _ := f.client.Get(ctx, 2)
	if final.Stock != before.Stock-2 {
		t.Errorf("got stock %d, want %d: two sold, one released", final.Stock, before.Stock-2)
	}
}

func TestReserveOutOfStock(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if err := f.rt.Sandbox.SetStock(5, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.rt.Sandbox.SetStock(6, 0); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.Reserve(ctx, product.ReserveRequest{Reference: "short", Items: []product.Line{
		{ProductID: 5, Quantity: 3}, {ProductID: 1, Quantity: 1}, {ProductID: 6, Quantity: 1},
	}})
	e := wantError(t, err, "reserve", upstream.KindOutOfStock, 409, "out_of_stock")
	want := []upstream.UnavailableLine{{ProductID: 5, Requested: 3, Available: 2}, {ProductID: 6, Requested: 1, Available: 0}}
	if !reflect.DeepEqual(e.Unavailable, want) {
		t.Errorf("got unavailable %+v, want %+v", e.Unavailable, want)
	}
	if e.Ambiguous() || e.Transient() {
		t.Errorf("got Ambiguous %v Transient %v, want a definitive answer", e.Ambiguous(), e.Transient())
	}
	// All or nothing: the satisfiable line was not reserved either.
	if p, _ := f.client.Get(ctx, 5); p.Stock != 2 {
		t.Errorf("got stock %d of product 5, want 2", p.Stock)
	}
}

func TestReserveInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  product.ReserveRequest
		code string
	}{
		{name: "unknown product", req: product.ReserveRequest{Reference: "a", Items: []product.Line{{ProductID: 9999, Quantity: 1}}}, code: "unknown_product"},
		{name: "zero quantity", req: product.ReserveRequest{Reference: "b", Items: []product.Line{{ProductID: 1, Quantity: 0}}}, code: "invalid_request"},
		{name: "no lines", req: product.ReserveRequest{Reference: "c"}, code: "invalid_request"},
		{name: "no reference", req: product.ReserveRequest{Items: []product.Line{{ProductID: 1, Quantity: 1}}}, code: "invalid_request"},
	}
	f := start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.Reserve(context.Background(), tt.req)
			wantError(t, err, "reserve", upstream.KindInvalid, http.StatusBadRequest, tt.code)
		})
	}
}

func TestReservationExpires(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	res, err := f.client.Reserve(ctx, product.ReserveRequest{Reference: "exp-1", Items: []product.Line{{ProductID: 3, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := f.client.Reserve(ctx, product.ReserveRequest{Reference: "exp-2", Items: []product.Line{{ProductID: 3, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(11 * time.Minute)
	_, err = f.client.CommitReservation(ctx, res.ID)
	wantError(t, err, "commit", upstream.KindConflict, 409, "reservation_expired")
	released, err := f.client.ReleaseReservation(ctx, res2.ID)
	if err != nil || released.Status != product.ReservationExpired {
		t.Errorf("got %+v, %v releasing an expired reservation, want status expired", released, err)
	}
}

// TestReleaseTakesANoContentAnswer: a product service that releases with a
// bare 204 has released (the compensation needs no answer), while a
// commit answered so, whose reservation the checkout goes on with, is the
// service's failure.
func TestReleaseTakesANoContentAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	s, err := upstream.NewService("product", []string{srv.URL}, upstream.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := product.New(s)
	if _, err := c.ReleaseReservation(context.Background(), "res_1"); err != nil {
		t.Errorf("release answered 204: %v, want released", err)
	}
	if _, err := c.CommitReservation(context.Background(), "res_1"); upstream.KindOf(err) != upstream.KindUnknown || err == nil {
		t.Errorf("commit answered 204: %v, want the service's failure", err)
	}
}

// TestProductsThatCannotBeSoldAreTheServiceFailing: a product whose price
// is no amount of a currency the BFF can charge fails its read, whichever
// read it is; what is only shown (a rating off the scale, a picture of an
// unknown kind) is mended.
func TestProductsThatCannotBeSoldAreTheServiceFailing(t *testing.T) {
	const good = `{"id":1,"name":"Mug","price":{"amount":900,"currency":"EUR"},"rating":7,` +
		`"images":[{"url":"https://img/1","kind":"banner"},{"url":"https://img/2","kind":"main","width":10,"height":10}]}`
	for _, bad := range []string{
		`{"id":1,"price":{"amount":900,"currency":"eur"}}`,
		`{"id":1,"price":{"amount":900,"currency":""}}`,
		`{"id":1,"price":{"amount":-1,"currency":"EUR"}}`,
		`{"id":1,"price":{"amount":1000000000000001,"currency":"EUR"}}`,
		`{"id":0,"price":{"amount":900,"currency":"EUR"}}`,
	} {
		client := productServer(t, bad)
		_, err := client.Get(context.Background(), 1)
		wantError(t, err, "get", upstream.KindUnknown, 0, "")
		_, err = client.GetMany(context.Background(), []int64{1})
		wantError(t, err, "get_many", upstream.KindUnknown, 0, "")
		_, err = client.List(context.Background(), product.ListParams{})
		wantError(t, err, "list", upstream.KindUnknown, 0, "")
	}
	client := productServer(t, good)
	p, err := client.Get(context.Background(), 1)
	if err != nil || p.Rating != 5 || len(p.Images) != 1 || p.Images[0].Kind != "main" {
		t.Errorf("got %+v, %v; want rating 5 and the main picture alone", p, err)
	}
	b, err := client.GetMany(context.Background(), []int64{1})
	if err != nil || len(b.Items) != 1 || b.Items[0].Rating != 5 || len(b.Items[0].Images) != 1 {
		t.Errorf("batch: got %+v, %v; want the product mended", b, err)
	}
}

// productServer returns a client of a product service answering every
// product read with p: alone, in a batch or in a page.
func productServer(t *testing.T, p string) *product.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/products" {
			_, _ = w.Write([]byte(`{"items":[` + p + `]}`))
			return
		}
		_, _ = w.Write([]byte(p))
	}))
	t.Cleanup(srv.Close)
	return product.New(upstreamtest.Service(t, "product", []string{srv.URL}, upstream.DefaultConfig()))
}
