package catalog_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
)

// Route patterns of the sandbox's product service, as its counters name them.
const (
	routeGet  = "GET /products/{id}"
	routeList = "GET /products" // the batch read and the listing share it
)

type fixture struct {
	rt    *sandboxtest.Running
	clock *clocktest.Manual
	cache *catalog.Cache
	seen  *lookups
}

// start serves the sandbox and puts a cache, on a clock of its own, in front
// of a real product client; edits change its default settings.
func start(t *testing.T, edits ...func(*catalog.Config)) fixture {
	t.Helper()
	rt, client := startSource(t)
	clock := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	seen := &lookups{counts: map[string]int{}}
	cfg := catalog.DefaultConfig()
	for _, edit := range edits {
		edit(&cfg)
	}
	cache := catalog.New(client, cfg, catalog.WithClock(clock.Now), catalog.WithObserver(seen))
	return fixture{rt: rt, clock: clock, cache: cache, seen: seen}
}

// startSource serves the sandbox and returns a product client of it.
func startSource(tb testing.TB) (*sandboxtest.Running, *product.Client) {
	tb.Helper()
	rt := sandboxtest.Start(tb, sandbox.Config{})
	return rt, rt.Clients(tb, upstream.DefaultConfig()).Product
}

// requests returns how many requests the product service received on route.
func (f fixture) requests(t *testing.T, route string) int {
	t.Helper()
	return f.rt.State(t).Product.Requests[route]
}

// lookups is an Observer counting "cache/hit" and "cache/miss".
type lookups struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *lookups) CacheLookup(cache string, hit bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	result := "miss"
	if hit {
		result = "hit"
	}
	l.counts[cache+"/"+result]++
}

func (l *lookups) get(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[key]
}

// TestBurstForColdProductMakesOneCall: readers without a deadline, whose
// fetch runs on a goroutine of its own, and readers with a view's deadline,
// further away than the client's call timeout, whose first reader runs the
// fetch itself, share one upstream call.
func TestBurstForColdProductMakesOneCall(t *testing.T) {
	for _, tt := range []struct {
		name    string
		timeout time.Duration // of each reader's context; 0: none
	}{
		{"no deadline", 0},
		{"a view's deadline", 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			const readers = 100
			type result struct {
				p   product.Product
				err error
			}
			results := make(chan result, readers)
			var ready sync.WaitGroup
			ready.Add(readers)
			gate := make(chan struct{})
			for range readers {
				go func() {
					ready.Done()
					<-gate
					ctx, cancel := withTimeout(tt.timeout)
					defer cancel()
					p, err := f.cache.Product(ctx, 7)
					results <- result{p, err}
				}()
			}
			ready.Wait()
			close(gate)
			for range readers {
				r := <-results
				if r.err != nil || r.p.ID != 7 || r.p.Name == "" {
					t.Fatalf("got %+v, %v, want product 7", r.p, r.err)
				}
			}
			if got := f.requests(t, routeGet); got != 1 {
				t.Errorf("got %d upstream GET /products/{id}, want 1 for a burst of %d", got, readers)
			}
			if got := f.seen.get("products/hit") + f.seen.get("products/miss"); got != readers {
				t.Errorf("got %d lookups observed, want %d", got, readers)
			}
		})
	}
}

// withTimeout is a context that ends after d, or never when d is 0.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), d)
}

func TestStockIsNeverOlderThanStockTTL(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.StockTTL, c.ProductTTL = 2*time.Second, time.Minute })
	ctx := context.Background()
	f.rt.Stock(t, 3, 10)
	if p, err := f.cache.Product(ctx, 3); err != nil || p.Stock != 10 {
		t.Fatalf("got stock %d, %v, want 10", p.Stock, err)
	}
	f.rt.Stock(t, 3, 4)

	steps := []struct {
		advance   time.Duration
		wantStock int
		wantCalls int
	}{
		{advance: 1999 * time.Millisecond, wantStock: 10, wantCalls: 1}, // still within the stock TTL
		{advance: time.Millisecond, wantStock: 4, wantCalls: 2},         // exactly the TTL: asked again
		{advance: time.Second, wantStock: 4, wantCalls: 2},
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		p, err := f.cache.Product(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if p.Stock != s.wantStock {
			t.Errorf("step %d: got stock %d, want %d", i, p.Stock, s.wantStock)
		}
		if got := f.requests(t, routeGet); got != s.wantCalls {
			t.Errorf("step %d: got %d upstream calls, want %d", i, got, s.wantCalls)
		}
	}
}

func TestDetailsServeUpToProductTTLWithoutStock(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.StockTTL, c.ProductTTL = time.Second, time.Minute })
	ctx := context.Background()
	if _, err := f.cache.Products(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	b, err := f.cache.Details(ctx, []int64{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := sandboxtest.ProductIDs(b.Items); !reflect.DeepEqual(got, []int64{2, 1}) {
		t.Errorf("got ids %v, want [2 1]", got)
	}
	for _, p := range b.Items {
		if p.Stock != 0 || p.Name == "" {
			t.Errorf("product %d: got stock %d name %q, want stock 0 and a name", p.ID, p.Stock, p.Name)
		}
	}
	if got := f.requests(t, routeList); got != 1 {
		t.Errorf("got %d batch calls, want 1 (details served from memory)", got)
	}
	// The details did not clear the stock of the cached entries.
	if p, err := f.cache.Products(ctx, []int64{1}); err != nil || p.Items[0].Stock == 0 {
		t.Errorf("got %+v, %v, want product 1 with its stock", p, err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.cache.Details(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(t, routeList); got != 3 {
		t.Errorf("got %d batch calls, want 3 once the product TTL passed", got)
	}
}

func TestProductsFetchesOnlyMissesInOneBatch(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	for _, id := range []int64{1, 2} {
		if _, err := f.cache.Product(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.cache.Products(ctx, []int64{3, 1, 9999, 4, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sandboxtest.ProductIDs(b.Items), []int64{3, 1, 4, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("got ids %v, want %v", got, want)
	}
	if want := []int64{9999}; !reflect.DeepEqual(b.Missing, want) {
		t.Errorf("got missing %v, want %v", b.Missing, want)
	}
	if got := f.requests(t, routeList); got != 1 {
		t.Errorf("got %d batch calls, want 1", got)
	}
	if _, err := f.cache.Products(ctx, []int64{4, 3, 2, 1}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(t, routeList); got != 1 {
		t.Errorf("got %d batch calls after a warm read, want still 1", got)
	}
	if got := f.seen.get("products/miss"); got != 5 {
		t.Errorf("got %d product misses observed, want 5 (1, 2, then 3, 9999, 4)", got)
	}
}

func TestPageCachesMembershipAndRefreshesStock(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.StockTTL, c.ListTTL = time.Second, 10*time.Second })
	ctx := context.Background()
	params := product.ListParams{Category: "kitchen", Limit: 3}
	first, err := f.cache.Page(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 3 || first.NextCursor == "" {
		t.Fatalf("got %d items, next %q, want 3 and a cursor", len(first.Items), first.NextCursor)
	}
	f.rt.Stock(t, first.Items[0].ID, 0)

	steps := []struct {
		name               string
		advance            time.Duration
		wantList, wantMany int
		wantFirstStock     bool // whether the first item still shows its old stock
	}{
		{"warm", 0, 1, 0, true},
		{"stock too old", time.Second, 1, 1, false},
		{"page too old", 10 * time.Second, 2, 1, false},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		page, err := f.cache.Page(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sandboxtest.ProductIDs(page.Items), sandboxtest.ProductIDs(first.Items); !reflect.DeepEqual(got, want) || page.NextCursor != first.NextCursor {
			t.Errorf("%s: got ids %v next %q, want %v %q", s.name, got, page.NextCursor, want, first.NextCursor)
		}
		if old := page.Items[0].Stock == first.Items[0].Stock; old != s.wantFirstStock {
			t.Errorf("%s: got stock %d of the first item, old one served = %v, want %v", s.name, page.Items[0].Stock, old, s.wantFirstStock)
		}
		st, err := f.rt.FetchState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Listing and batch share a route; the batch total is the rest.
		if got := st.Product.Requests[routeList]; got != s.wantList+s.wantMany {
			t.Errorf("%s: got %d calls on GET /products, want %d listings and %d batches", s.name, got, s.wantList, s.wantMany)
		}
	}
	if got := f.seen.get("catalog_pages/hit"); got != 2 {
		t.Errorf("got %d page hits, want 2", got)
	}
}

func TestFailuresAreNotCached(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if err := f.rt.InjectFault(ctx, "product", sandbox.Fault{Route: routeGet, Status: 503}); err != nil {
		t.Fatal(err)
	}
	_, err := f.cache.Product(ctx, 5)
	if k := upstream.KindOf(err); k != upstream.KindUnavailable {
		t.Fatalf("got %v (kind %s), want unavailable", err, k)
	}
	if err := f.rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := f.cache.Product(ctx, 5); err != nil || p.ID != 5 {
		t.Errorf("got %+v, %v after the fault cleared, want product 5", p, err)
	}
	_, err = f.cache.Product(ctx, 9999)
	if k := upstream.KindOf(err); k != upstream.KindNotFound {
		t.Errorf("got %v, want not found", err)
	}
}

// TestMissingProductsAreKeptForTheStockTTL: the product service's answer
// that a product does not exist, to a read of one or to a batch, answers
// the reads of that product for the stock TTL, one or in a batch, without
// a call; after it, the service is asked again.
func TestMissingProductsAreKeptForTheStockTTL(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.StockTTL = 2 * time.Second })
	ctx := context.Background()
	notFound := func(step string, err error) {
		t.Helper()
		if k := upstream.KindOf(err); k != upstream.KindNotFound {
			t.Errorf("%s: got %v (kind %s), want not found", step, err, k)
		}
	}
	calls := func(step string, gets, lists int) {
		t.Helper()
		if g, l := f.requests(t, routeGet), f.requests(t, routeList); g != gets || l != lists {
			t.Errorf("%s: %d reads of one and %d batches upstream, want %d and %d", step, g, l, gets, lists)
		}
	}
	_, err := f.cache.Product(ctx, 9999)
	notFound("first read", err)
	_, err = f.cache.Product(ctx, 9999)
	notFound("second read", err)
	calls("after two reads", 1, 0)
	b, err := f.cache.Products(ctx, []int64{9999, 1})
	if err != nil || len(b.Items) != 1 || b.Items[0].ID != 1 || !slices.Equal(b.Missing, []int64{9999}) {
		t.Fatalf("batch: %+v, %v; want product 1, and 9999 missing", b, err)
	}
	calls("after the batch", 1, 1)
	b, err = f.cache.Products(ctx, []int64{9998})
	if err != nil || len(b.Items) != 0 || !slices.Equal(b.Missing, []int64{9998}) {
		t.Fatalf("batch of another: %+v, %v; want 9998 missing", b, err)
	}
	_, err = f.cache.Product(ctx, 9998)
	notFound("a read of one missing in a batch", err)
	calls("after a read of one missing in a batch", 1, 2)

	f.clock.Advance(2 * time.Second)
	_, err = f.cache.Product(ctx, 9999)
	notFound("a read once the stock TTL passed", err)
	calls("once the stock TTL passed", 2, 2)
}

// TestCallerGivingUpDoesNotCancelTheFetch: a reader whose deadline passes
// gets a timeout, but the fetch it started completes for everyone else.
func TestCallerGivingUpDoesNotCancelTheFetch(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if err := f.rt.InjectFault(ctx, "product", sandbox.Fault{Route: routeGet, LatencyMS: 300}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := f.cache.Product(short, 8)
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Kind != upstream.KindTimeout || ue.Service != "product" {
		t.Fatalf("got %v, want a product timeout", err)
	}
	// This read joins the fetch still in flight, or finds its result.
	if p, err := f.cache.Product(ctx, 8); err != nil || p.ID != 8 {
		t.Fatalf("got %+v, %v, want product 8", p, err)
	}
	if got := f.requests(t, routeGet); got != 1 {
		t.Errorf("got %d upstream calls, want 1", got)
	}
}

// TestReaderJoiningAFetchStopsAtItsDeadline: a reader with time to spare
// fetches on its own goroutine; another reader joining that fetch still
// stops waiting at its own, nearer deadline, and the fetch completes for
// the first.
func TestReaderJoiningAFetchStopsAtItsDeadline(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if err := f.rt.InjectFault(ctx, "product", sandbox.Fault{Route: routeGet, LatencyMS: 300}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   product.Product
		err error
	}
	first := make(chan result, 1)
	go func() {
		long, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		p, err := f.cache.Product(long, 8)
		first <- result{p, err}
	}()
	// The first reader's fetch is in flight once the service has it.
	for deadline := time.Now().Add(5 * time.Second); f.requests(t, routeGet) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first reader's fetch never reached the product service")
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.cache.Product(short, 8)
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Kind != upstream.KindTimeout || ue.Service != "product" {
		t.Fatalf("got %v, want a product timeout", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("the second reader took %v, want about its 20ms deadline", took)
	}
	if r := <-first; r.err != nil || r.p.ID != 8 {
		t.Fatalf("first reader: got %+v, %v, want product 8", r.p, r.err)
	}
	if got := f.requests(t, routeGet); got != 1 {
		t.Errorf("got %d upstream calls, want 1", got)
	}
}

func TestMaxItemsBoundsTheCache(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.MaxItems = 2 })
	ctx := context.Background()
	b, err := f.cache.Products(ctx, []int64{1, 2, 3})
	if err != nil || len(b.Items) != 3 {
		t.Fatalf("got %+v, %v, want 3 products even when full", b, err)
	}
	if got := f.cache.Len(); got != 2 {
		t.Errorf("got %d entries, want 2", got)
	}
	// The entries held are served; the one refused is fetched again.
	if _, err := f.cache.Products(ctx, []int64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(t, routeList); got != 2 {
		t.Errorf("got %d batch calls, want 2", got)
	}
}

// racingSource answers a read of one product, once released, that it does
// not exist, and a batch with every product asked for.
type racingSource struct {
	catalog.Source
	asked   chan struct{} // closed once a read of one is asked
	release chan struct{}
	batches int
}

func (r *racingSource) Get(context.Context, int64) (product.Product, error) {
	close(r.asked)
	<-r.release
	return product.Product{}, &upstream.Error{Service: "product", Op: "get", Status: 404, Kind: upstream.KindNotFound}
}

func (r *racingSource) GetMany(_ context.Context, ids []int64) (product.Batch, error) {
	r.batches++
	var b product.Batch
	for _, id := range ids {
		b.Items = append(b.Items, product.Product{ID: id, Name: "added"})
	}
	return b, nil
}

// TestAnOlderNotFoundKeepsANewerProduct: a read of one product asked
// before a batch that found it, and answered not found after, does not
// replace the product the batch cached: the newer answer holds.
func TestAnOlderNotFoundKeepsANewerProduct(t *testing.T) {
	src := &racingSource{asked: make(chan struct{}), release: make(chan struct{})}
	clock := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	cache := catalog.New(src, catalog.DefaultConfig(), catalog.WithClock(clock.Now))
	ctx := context.Background()
	read := make(chan error, 1)
	go func() {
		_, err := cache.Product(ctx, 7)
		read <- err
	}()
	<-src.asked
	clock.Advance(500 * time.Millisecond)
	if b, err := cache.Products(ctx, []int64{7}); err != nil || len(b.Items) != 1 {
		t.Fatalf("batch: %+v, %v; want product 7", b, err)
	}
	close(src.release)
	if err := <-read; upstream.KindOf(err) != upstream.KindNotFound {
		t.Fatalf("the older read: %v, want not found", err)
	}
	b, err := cache.Products(ctx, []int64{7})
	if err != nil || len(b.Items) != 1 || len(b.Missing) != 0 || src.batches != 1 {
		t.Errorf("after the older not found: %+v, %v, %d batches; want product 7 from the cache", b, err, src.batches)
	}
}

// TestMadeUpIdsLeaveRoomForProducts: reads of ids the product service
// does not hold fill at most half of MaxItems, so that the products read
// after them are still cached.
func TestMadeUpIdsLeaveRoomForProducts(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.MaxItems = 4 })
	ctx := context.Background()
	b, err := f.cache.Products(ctx, []int64{9001, 9002, 9003, 9004})
	if err != nil || len(b.Missing) != 4 {
		t.Fatalf("got %+v, %v, want 4 missing", b, err)
	}
	if got := f.cache.Len(); got != 2 {
		t.Errorf("got %d entries after 4 made-up ids, want 2 (half of MaxItems)", got)
	}
	for range 2 {
		if _, err := f.cache.Products(ctx, []int64{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests(t, routeList); got != 2 {
		t.Errorf("got %d batch calls, want 2: the products read twice are cached", got)
	}
}

func TestZeroTTLsCacheNothing(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.ProductTTL, c.StockTTL, c.ListTTL = 0, 0, 0 })
	ctx := context.Background()
	for range 2 {
		if _, err := f.cache.Product(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cache.Page(ctx, product.ListParams{Limit: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.cache.Len(); got != 0 {
		t.Errorf("got %d entries, want 0", got)
	}
	if got := f.requests(t, routeGet); got != 2 {
		t.Errorf("got %d product calls, want 2", got)
	}
}

func TestProductsLongBatchWithDuplicates(t *testing.T) {
	f := start(t)
	var asked, want []int64
	for id := int64(40); id >= 1; id-- {
		asked = append(asked, id, id)
		want = append(want, id)
	}
	asked = append(asked, 9999)
	b, err := f.cache.Products(context.Background(), asked)
	if err != nil {
		t.Fatal(err)
	}
	if got := sandboxtest.ProductIDs(b.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("got ids %v, want %v", got, want)
	}
	if !reflect.DeepEqual(b.Missing, []int64{9999}) {
		t.Errorf("got missing %v, want [9999]", b.Missing)
	}
	if got := f.requests(t, routeList); got != 1 {
		t.Errorf("got %d batch calls, want 1", got)
	}
}

// strayingSource answers every product read with product 99.
type strayingSource struct{ catalog.Source }

func (strayingSource) Get(context.Context, int64) (product.Product, error) {
	return product.Product{ID: 99, Name: "another"}, nil
}

func (strayingSource) GetMany(context.Context, []int64) (product.Batch, error) {
	return product.Batch{Items: []product.Product{{ID: 99, Name: "another"}}}, nil
}

// TestAnotherProductIsNotCached: a product service that answers with
// another product than the one asked for is failing; its answer is not
// served, nor cached under the product it names.
func TestAnotherProductIsNotCached(t *testing.T) {
	_, client := startSource(t)
	seen := &lookups{counts: map[string]int{}}
	cache := catalog.New(strayingSource{client}, catalog.DefaultConfig(), catalog.WithObserver(seen))
	ctx := context.Background()
	if p, err := cache.Product(ctx, 7); err == nil || upstream.KindOf(err) != upstream.KindUnknown {
		t.Errorf("Product(7) = %d, %v; want an upstream failure", p.ID, err)
	}
	if b, err := cache.Products(ctx, []int64{7}); err == nil || upstream.KindOf(err) != upstream.KindUnknown {
		t.Errorf("Products(7) = %v, %v; want an upstream failure", b.Items, err)
	}
	if _, err := cache.Product(ctx, 99); err != nil {
		t.Fatal(err)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if hits := seen.counts[catalog.CacheProducts+"/hit"]; hits != 0 {
		t.Errorf("%d cache hits: product 99, answered for product 7, was cached", hits)
	}
}

// longCursorSource answers every listing with one product and a cursor
// too long to seal, counting the listings.
type longCursorSource struct {
	catalog.Source
	lists *int
}

func (l longCursorSource) List(context.Context, product.ListParams) (product.Page, error) {
	*l.lists++
	return product.Page{Items: []product.Product{{ID: 1, Name: "Mug"}}, NextCursor: strings.Repeat("x", cursor.MaxUpstreamLength+1)}, nil
}

// TestPageOfAnUnsealableCursorIsNotCached: a page whose cursor the BFF
// could not hand out fails its listing, and is not kept to fail every
// listing of it until it expires: the next one asks the service again.
func TestPageOfAnUnsealableCursorIsNotCached(t *testing.T) {
	_, client := startSource(t)
	var lists int
	signer, _ := cursor.New(cursor.NewKey())
	cache := catalog.New(longCursorSource{Source: client, lists: &lists}, catalog.DefaultConfig(), catalog.WithCursors(signer))
	for i := range 2 {
		if _, err := cache.List(context.Background(), "", "", 10); err == nil || upstream.KindOf(err) != upstream.KindUnknown {
			t.Errorf("listing %d: %v, want the service's failure", i, err)
		}
	}
	if lists != 2 {
		t.Errorf("the service was asked %d times for 2 listings, want 2: the page was cached", lists)
	}
}

// looseSource answers every listing with page, and every product read
// from the sandbox behind it.
type looseSource struct {
	catalog.Source
	page product.Page
}

func (l looseSource) List(context.Context, product.ListParams) (product.Page, error) {
	return product.Page{Items: slices.Clone(l.page.Items), NextCursor: l.page.NextCursor}, nil
}

// TestPageShowsOnlyTheProductsItLists: rows that are no product, repeat
// one, or belong to another category than the one listed are left out,
// the same way when the page is read from the service and from the
// cache; a page longer than asked for is the service failing.
func TestPageShowsOnlyTheProductsItLists(t *testing.T) {
	_, client := startSource(t)
	ctx := context.Background()
	mug, err := client.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	toy := mug
	toy.ID, toy.Category = 2, mug.Category+"-other"
	src := looseSource{Source: client, page: product.Page{Items: []product.Product{mug, mug, toy, {Category: mug.Category}}}}
	cache := catalog.New(src, catalog.DefaultConfig())
	for _, read := range []string{"the service", "the cache"} {
		page, err := cache.Page(ctx, product.ListParams{Category: mug.Category, Limit: 4})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID != 1 {
			t.Errorf("from %s: %+v, %v; want product 1 alone", read, page.Items, err)
		}
	}
	if _, err := cache.Page(ctx, product.ListParams{Category: mug.Category, Limit: 3}); upstream.KindOf(err) != upstream.KindUnknown {
		t.Errorf("a page of 4 rows asked for 3: %v, want the service's failure", err)
	}
}

// TestAFullCacheAdmitsAgainOnceItsEntriesExpired: the entries of a full
// cache that expired make room for new ones, long before go-cache's own
// janitor would free them.
func TestAFullCacheAdmitsAgainOnceItsEntriesExpired(t *testing.T) {
	f := start(t, func(c *catalog.Config) {
		c.MaxItems, c.ProductTTL, c.StockTTL, c.ListTTL = 2, 10*time.Millisecond, 10*time.Millisecond, time.Hour
	})
	ctx := context.Background()
	if _, err := f.cache.Products(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	// go-cache keeps an entry a second past its TTL, on the real clock.
	time.Sleep(1100 * time.Millisecond)
	if _, err := f.cache.Product(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Product(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(t, routeGet); got != 1 {
		t.Errorf("product 3 read %d times from the service, want once: the full cache did not admit it", got)
	}
}
