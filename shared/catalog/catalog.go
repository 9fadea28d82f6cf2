// Package catalog caches the product service's public catalog in process
// (go-cache): single products, batches and catalog pages. Concurrent misses
// for the same data share one upstream call (as singleflight would), so a
// burst of reads for a cold product costs the product service one request.
//
// Only public catalog data is ever held: no entry is keyed by or derived
// from a user, so one user's private data cannot reach another. Orders,
// profiles and payments are never cached.
//
// Stock changes with every order, so it has its own, much shorter bound than
// the rest of a product: a read that shows availability never gets a stock
// figure older than the stock TTL, while names, prices and pictures may be
// as old as the product TTL. That a product does not exist is kept for the
// stock TTL too: a flood of reads of one missing product (a deleted one
// still linked to) costs the product service a call per stock TTL, and a
// product added shows as soon as a stock change would.
package catalog

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/workers"
)

// Source is the product service's read API the cache fronts; the product
// client implements it. Its calls must end by themselves (the client caps
// each at its call timeout): a coalesced fetch does not stop when the
// request that started it goes away, since others are waiting for it.
type Source interface {
	Get(ctx context.Context, id int64) (product.Product, error)
	GetMany(ctx context.Context, ids []int64) (product.Batch, error)
	List(ctx context.Context, p product.ListParams) (product.Page, error)
}

// The cache names reported to the Observer.
const (
	CacheProducts = "products"
	CachePages    = "catalog_pages"
)

// Caches are every cache name reported to the Observer.
var Caches = []string{CacheProducts, CachePages}

// service names the upstream in the errors the cache makes itself.
const service = "product"

// Cache serves catalog reads from memory, asking the Source only for what is
// missing or too old. It is safe for concurrent use. The products it returns
// share their slices and maps with the cache and other callers: read them,
// never modify them.
type Cache struct {
	src     Source
	cfg     config
	items   *gocache.Cache
	flights flights
	// workers run the fetches, each on a stack already grown (see
	// package workers).
	workers *workers.Pool
	// purged is when a full cache last freed its expired entries, in
	// Unix nanoseconds (see full).
	purged atomic.Int64
}

// productEntry is a product and when it was asked for; the stock it carries
// is at least that recent.
type productEntry struct {
	p       product.Product
	fetched time.Time
}

// missingEntry is the product service's answer that it holds no product
// under a product's key, and when it was asked for.
type missingEntry struct{ fetched time.Time }

// pageEntry is the membership of one catalog page.
type pageEntry struct {
	ids  []int64
	next string
	// fetched is when the page was asked for.
	fetched time.Time
}

// New returns a Cache in front of src with the settings cfg (start from
// DefaultConfig). It panics when cfg does not validate, a wiring mistake:
// the BFF validates its settings before it starts.
func New(src Source, cfg Config, opts ...Option) *Cache {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	c := newConfig(cfg, opts)
	// Entries carry their own age, checked against cfg.now; go-cache's
	// expiry only frees their memory.
	cleanup := max(c.ProductTTL, c.ListTTL, time.Second)
	return &Cache{src: src, cfg: c, items: gocache.New(gocache.NoExpiration, cleanup), workers: workers.New()}
}

// Close ends the cache's idle fetch workers now, rather than after
// workers.DefaultIdle. The cache keeps serving after Close; a fetch then
// runs on a goroutine that ends with it.
func (c *Cache) Close() { c.workers.Close() }

// Product returns the product with id, its stock no older than the stock
// TTL. A missing product is the Source's error (KindNotFound), or, within
// the stock TTL of that answer, the cache's own (see errMissing).
func (c *Cache) Product(ctx context.Context, id int64) (product.Product, error) {
	key := productKey(id)
	if p, ok := c.cachedProduct(key, c.cfg.StockTTL); ok {
		c.hit(CacheProducts)
		return p, nil
	}
	if c.knownMissing(key, c.cfg.now()) {
		c.hit(CacheProducts)
		return product.Product{}, errMissing("get", id)
	}
	c.miss(CacheProducts)
	v, err := c.flight(ctx, "get", key, func(ctx context.Context) (any, error) {
		// A flight that ended just before this one began has filled the
		// cache: the burst it served must not cost a second call.
		start := c.cfg.now()
		if p, ok := c.cachedProductAt(key, c.cfg.StockTTL, start); ok {
			return p, nil
		}
		if c.knownMissing(key, start) {
			return nil, errMissing("get", id)
		}
		p, err := c.src.Get(ctx, id)
		if upstream.KindOf(err) == upstream.KindNotFound {
			c.putMissing(id, start)
		}
		if err != nil {
			return nil, err
		}
		if p.ID != id {
			// Cached, it would answer for another product until it expired.
			return nil, strayProduct("get", id, p.ID)
		}
		c.putProduct(p, start)
		return p, nil
	})
	if err != nil {
		return product.Product{}, err
	}
	return v.(product.Product), nil
}

// Products returns the products with ids, once each in the order first
// asked, and the ids the catalog does not hold; every stock figure is no
// older than the stock TTL. The products not cached fresh are fetched in one
// batch.
func (c *Cache) Products(ctx context.Context, ids []int64) (product.Batch, error) {
	return c.batch(ctx, ids, c.cfg.StockTTL, "get_many")
}

// Details is Products for screens that show no availability (the pictures
// and names of past orders): entries up to the product TTL old serve it, so
// the Stock of every product returned is zero rather than a stale figure.
func (c *Cache) Details(ctx context.Context, ids []int64) (product.Batch, error) {
	b, err := c.batch(ctx, ids, c.cfg.ProductTTL, "get_many")
	if err != nil {
		return product.Batch{}, err
	}
	for i := range b.Items {
		b.Items[i].Stock = 0
	}
	return b, nil
}

// Page returns one page of the catalog. Which products a page holds is
// served for the list TTL; their stock, like Products', is no older than the
// stock TTL.
func (c *Cache) Page(ctx context.Context, p product.ListParams) (product.Page, error) {
	key := pageKey(p)
	if e, ok := c.cachedPage(key); ok {
		c.hit(CachePages)
		return c.pageOf(ctx, e)
	}
	c.miss(CachePages)
	v, err := c.flight(ctx, "list", key, func(ctx context.Context) (any, error) {
		if e, ok := c.cachedPage(key); ok {
			return c.pageOf(ctx, e)
		}
		start := c.cfg.now()
		page, err := c.src.List(ctx, p)
		if err != nil {
			return nil, err
		}
		if page, err = listed(p, page); err != nil {
			return nil, err
		}
		if len(page.NextCursor) > cursor.MaxUpstreamLength {
			// Cached, it would fail every listing of it until it expired:
			// the BFF cannot seal it into a cursor it takes back.
			return nil, &upstream.Error{Service: "product", Op: "list", Kind: upstream.KindUnknown,
				Err: fmt.Errorf("%w: %d bytes", cursor.ErrTooLong, len(page.NextCursor))}
		}
		e := pageEntry{ids: make([]int64, len(page.Items)), next: page.NextCursor, fetched: start}
		for i, it := range page.Items {
			e.ids[i] = it.ID
			c.putProduct(it, start)
		}
		// An empty page (an unknown category, the end of a listing) is not
		// kept: anyone can ask for any category, and such pages would crowd
		// real ones out of the bounded cache.
		if len(page.Items) > 0 {
			c.put(key, e, c.cfg.ListTTL)
		}
		return page, nil
	})
	if err != nil {
		return product.Page{}, err
	}
	return v.(product.Page), nil
}

// listed is page as the listing p shows it: a page longer than asked for
// is the service failing, since cutting it would leave the products
// between the cut and its next cursor out of every page; a row that is no
// product (id 0), one listed before, or one of another category than
// asked is left out, so that the page is the one its hits assemble later
// (see pageOf), and none of it is cached as a product it is not.
func listed(p product.ListParams, page product.Page) (product.Page, error) {
	if p.Limit > 0 && len(page.Items) > p.Limit {
		return product.Page{}, upstream.Unusable("product", "list", fmt.Errorf("answered %d products when asked for at most %d", len(page.Items), p.Limit))
	}
	seen := make(map[int64]bool, len(page.Items))
	page.Items = slices.DeleteFunc(page.Items, func(it product.Product) bool {
		drop := it.ID < 1 || seen[it.ID] || p.Category != "" && it.Category != p.Category
		seen[it.ID] = true
		return drop
	})
	return page, nil
}

// pageOf assembles a cached page from its products. A product gone from the
// catalog since the page was listed is left out.
func (c *Cache) pageOf(ctx context.Context, e pageEntry) (product.Page, error) {
	b, err := c.batch(ctx, e.ids, c.cfg.StockTTL, "list")
	if err != nil {
		return product.Page{}, err
	}
	return product.Page{Items: b.Items, NextCursor: e.next}, nil
}

// batch serves ids from entries younger than maxAge and fetches the rest in
// one call. It runs on every catalog page, so the all-hits path allocates
// only its bookkeeping, in one slice, and the answer.
func (c *Cache) batch(ctx context.Context, ids []int64, maxAge time.Duration, op string) (product.Batch, error) {
	now := c.cfg.now()
	slots := make([]slot, len(ids))
	markFirstOccurrences(ids, slots)
	var stale, gone []int64 // in the order asked, once each
	var hits int
	for i, id := range ids {
		if !slots[i].first {
			continue
		}
		if p, ok := c.cachedProductAt(productKey(id), maxAge, now); ok {
			c.hit(CacheProducts)
			slots[i].p, slots[i].filled = p, true
			hits++
			continue
		}
		if c.knownMissing(productKey(id), now) {
			c.hit(CacheProducts)
			gone = append(gone, id)
			continue
		}
		c.miss(CacheProducts)
		stale = append(stale, id)
	}
	out := product.Batch{Items: make([]product.Product, 0, hits+len(stale)), Missing: gone}
	var fetched map[int64]product.Product
	if len(stale) > 0 {
		sorted := slices.Sorted(slices.Values(stale))
		v, err := c.flight(ctx, op, batchKey(sorted, maxAge), func(ctx context.Context) (any, error) {
			return c.fetchMany(ctx, sorted, maxAge)
		})
		if err != nil {
			return product.Batch{}, err
		}
		got := v.(product.Batch)
		fetched = make(map[int64]product.Product, len(got.Items))
		for _, p := range got.Items {
			fetched[p.ID] = p
		}
		out.Missing = append(out.Missing, got.Missing...)
	}
	for i, id := range ids {
		switch {
		case slots[i].filled:
			out.Items = append(out.Items, slots[i].p)
		case fetched != nil && slots[i].first:
			if p, ok := fetched[id]; ok {
				out.Items = append(out.Items, p)
			}
		}
	}
	return out, nil
}

// slot is batch's bookkeeping of one position of the ids asked.
type slot struct {
	p product.Product
	// first: the position is its id's first; filled: p was cached.
	first, filled bool
}

// markFirstOccurrences marks, for each position, whether its id appears
// there first. Batches are mostly page sized, where a scan beats a map.
func markFirstOccurrences(ids []int64, slots []slot) {
	if len(ids) <= 64 {
		for i, id := range ids {
			slots[i].first = !slices.Contains(ids[:i], id)
		}
		return
	}
	seen := make(map[int64]bool, len(ids))
	for i, id := range ids {
		slots[i].first = !seen[id]
		seen[id] = true
	}
}

// strayProduct is the failure of a product service that answered product
// got when asked for asked (0: not among the ids asked for).
func strayProduct(op string, asked, got int64) error {
	return upstream.Unusable("product", op, fmt.Errorf("answered product %d when asked for %d", got, asked))
}

// fetchMany asks the Source for the ids a concurrent flight has not just
// cached, and caches what it gets.
func (c *Cache) fetchMany(ctx context.Context, ids []int64, maxAge time.Duration) (product.Batch, error) {
	out := product.Batch{Items: make([]product.Product, 0, len(ids))}
	var ask []int64
	start := c.cfg.now()
	for _, id := range ids {
		key := productKey(id)
		if p, ok := c.cachedProductAt(key, maxAge, start); ok {
			out.Items = append(out.Items, p)
		} else if c.knownMissing(key, start) {
			out.Missing = append(out.Missing, id)
		} else {
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	b, err := c.src.GetMany(ctx, ask)
	if err != nil {
		return product.Batch{}, err
	}
	for _, p := range b.Items {
		if !slices.Contains(ask, p.ID) {
			return product.Batch{}, strayProduct("get_many", 0, p.ID)
		}
	}
	for _, p := range b.Items {
		c.putProduct(p, start)
	}
	for _, id := range b.Missing {
		if slices.Contains(ask, id) {
			c.putMissing(id, start)
		}
	}
	out.Items = append(out.Items, b.Items...)
	out.Missing = append(out.Missing, b.Missing...)
	return out, nil
}

// flight runs fn once for every concurrent caller with the same key. fn runs
// detached from the caller's cancellation, so that the first caller giving
// up does not fail the others; each caller still stops waiting at its own
// deadline or cancellation, with a timeout error like the client's that
// wraps its context's error. The fetch runs on a worker of its own (whose
// stack has grown already: see package workers), so that its leader too
// can stop waiting: a page whose required part failed cancels the others
// at once, and a far deadline says nothing of that. Only a caller whose
// context cannot end (ctx.Done() is nil), which would wait for the fetch
// whatever happens, runs it on its own goroutine, sparing two hand-overs.
func (c *Cache) flight(ctx context.Context, op, key string, fn func(context.Context) (any, error)) (any, error) {
	call, leader := c.flights.join(key)
	if leader {
		detached := context.WithoutCancel(ctx)
		fetch := func() (any, error) { return fn(detached) }
		if ctx.Done() == nil {
			if v := c.flights.run(key, call, fetch); v != nil {
				panic(v)
			}
			return call.val, call.err
		}
		c.workers.Go(func() { c.flights.run(key, call, fetch) }) // a panic is the readers' error
	}
	select {
	case <-call.done:
		return call.val, call.err
	case <-ctx.Done():
		return nil, &upstream.Error{Service: service, Op: op, Kind: upstream.KindTimeout, Err: ctx.Err()}
	}
}

func (c *Cache) cachedProduct(key string, maxAge time.Duration) (product.Product, bool) {
	return c.cachedProductAt(key, maxAge, c.cfg.now())
}

// cachedProductAt returns the entry under key if it is younger than maxAge
// at now.
func (c *Cache) cachedProductAt(key string, maxAge time.Duration, now time.Time) (product.Product, bool) {
	v, ok := c.items.Get(key)
	if !ok {
		return product.Product{}, false
	}
	e, ok := v.(productEntry)
	if !ok || now.Sub(e.fetched) >= maxAge {
		return product.Product{}, false
	}
	return e.p, true
}

// knownMissing reports whether the product service answered, less than
// the stock TTL before now, that it holds no product under key.
func (c *Cache) knownMissing(key string, now time.Time) bool {
	v, ok := c.items.Get(key)
	if !ok {
		return false
	}
	e, ok := v.(missingEntry)
	return ok && now.Sub(e.fetched) < c.cfg.StockTTL
}

// putMissing keeps, for the stock TTL, that the product service holds no
// product id since it was asked at fetched, unless a newer answer about it
// is held (see newerHeld). Such entries take at most half of MaxItems, so
// that reads of made-up ids cannot fill the cache and keep real products
// out of it; an older entry under the key is replaced whatever the count.
func (c *Cache) putMissing(id int64, fetched time.Time) {
	key := productKey(id)
	if c.newerHeld(key, fetched) {
		return
	}
	if c.items.ItemCount() >= c.cfg.MaxItems/2 {
		if _, held := c.items.Get(key); !held {
			return
		}
	}
	c.put(key, missingEntry{fetched: fetched}, c.cfg.StockTTL)
}

// errMissing is the error of a read of product id that the cache knows the
// product service does not hold, as the Source's would be.
func errMissing(op string, id int64) error {
	return &upstream.Error{Service: service, Op: op, Status: http.StatusNotFound, Kind: upstream.KindNotFound,
		Err: fmt.Errorf("product %d not found (cached answer)", id)}
}

func (c *Cache) cachedPage(key string) (pageEntry, bool) {
	v, ok := c.items.Get(key)
	if !ok {
		return pageEntry{}, false
	}
	e := v.(pageEntry)
	return e, c.younger(e.fetched, c.cfg.ListTTL)
}

// younger reports whether something fetched at t is younger than maxAge.
func (c *Cache) younger(t time.Time, maxAge time.Duration) bool {
	return c.cfg.now().Sub(t) < maxAge
}

func (c *Cache) putProduct(p product.Product, fetched time.Time) {
	key := productKey(p.ID)
	if c.newerHeld(key, fetched) {
		return
	}
	c.put(key, productEntry{p: p, fetched: fetched}, c.cfg.ProductTTL)
}

// newerHeld reports whether key holds an answer about its product (the
// product, or that it does not exist) asked for after fetched: a read of
// one product and a batch may fetch it at once, and the older answer must
// not replace the newer. Two answers stored at the same instant may still
// land in either order; the older then holds until its own bound.
func (c *Cache) newerHeld(key string, fetched time.Time) bool {
	v, ok := c.items.Get(key)
	if !ok {
		return false
	}
	switch e := v.(type) {
	case productEntry:
		return e.fetched.After(fetched)
	case missingEntry:
		return e.fetched.After(fetched)
	}
	return false
}

// put stores v unless ttl is zero or the cache is full; replacing an entry
// is always allowed, since it does not grow the cache.
func (c *Cache) put(key string, v any, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	if c.full(key) {
		return
	}
	// go-cache frees the memory a while after the entry is too old for any
	// read, whatever clock the cache reads.
	c.items.Set(key, v, ttl+time.Second)
}

// full reports whether storing key would take the cache past MaxItems.
// go-cache counts the entries it no longer serves until its janitor
// frees them, every ProductTTL or ListTTL (a minute by default): a full
// cache frees them itself, at most once a second, so that it admits new
// entries once old ones expired, as MaxItems says.
func (c *Cache) full(key string) bool {
	if c.items.ItemCount() < c.cfg.MaxItems {
		return false
	}
	if _, ok := c.items.Get(key); ok {
		return false // replaced, not added
	}
	now, last := time.Now().UnixNano(), c.purged.Load()
	if now-last < int64(time.Second) || !c.purged.CompareAndSwap(last, now) {
		return true
	}
	c.items.DeleteExpired()
	return c.items.ItemCount() >= c.cfg.MaxItems
}

// hit and miss report a lookup of cache to the observer, if any.
func (c *Cache) hit(cache string)  { c.observe(cache, true) }
func (c *Cache) miss(cache string) { c.observe(cache, false) }

func (c *Cache) observe(cache string, hit bool) {
	if c.cfg.observer != nil {
		c.cfg.observer.CacheLookup(cache, hit)
	}
}

// Len is the number of entries held, products and pages together, expired
// ones included until they are swept.
func (c *Cache) Len() int { return c.items.ItemCount() }

func productKey(id int64) string { return "p:" + strconv.FormatInt(id, 10) }

func pageKey(p product.ListParams) string {
	return "l:" + p.Category + "\x00" + p.Cursor + "\x00" + strconv.Itoa(p.Limit)
}

func batchKey(sorted []int64, maxAge time.Duration) string {
	var sb strings.Builder
	// The age is in the key: a fetch that takes entries a minute old
	// (Details) must not answer a reader of stock (Products).
	sb.WriteString("m")
	sb.WriteString(strconv.FormatInt(int64(maxAge), 10))
	sb.WriteByte(':')
	for i, id := range sorted {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(id, 10))
	}
	return sb.String()
}
