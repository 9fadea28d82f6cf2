package catalog

import "time"

// The defaults New starts from; each has an Option to change it.
const (
	// DefaultProductTTL is how long a product's catalog data (name, price,
	// pictures, description) is served from memory.
	DefaultProductTTL = time.Minute
	// DefaultStockTTL is the oldest stock figure a read that shows
	// availability is served.
	DefaultStockTTL = time.Second
	// DefaultListTTL is how long the membership of a catalog page (which
	// products, in which order, and the next cursor) is served from memory.
	DefaultListTTL = 30 * time.Second
	// DefaultMaxItems bounds the entries held, products and pages together.
	DefaultMaxItems = 10_000
)

// Observer is told the result of every cache lookup, for metrics. cache is
// CacheProducts or CachePages. Implementations must be safe for concurrent
// use and fast: they are called on the request path.
type Observer interface {
	CacheLookup(cache string, hit bool)
}

// Option configures a Cache.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	productTTL time.Duration
	stockTTL   time.Duration
	listTTL    time.Duration
	maxItems   int
	observer   Observer
	now        func() time.Time
}

func newConfig(opts []Option) config {
	c := config{
		productTTL: DefaultProductTTL,
		stockTTL:   DefaultStockTTL,
		listTTL:    DefaultListTTL,
		maxItems:   DefaultMaxItems,
		now:        time.Now,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	// Stock arrives with the rest of the product: an entry too old for its
	// catalog data is too old for its stock as well.
	c.stockTTL = min(c.stockTTL, c.productTTL)
	return c
}

// WithProductTTL sets how long a product's catalog data is served from
// memory; zero caches no product. Default DefaultProductTTL (1 min).
func WithProductTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d >= 0 {
			c.productTTL = d
		}
	})
}

// WithStockTTL sets the oldest stock figure served to reads that show
// availability; zero makes each of them ask the product service (still
// coalesced). It is capped by the product TTL. Default DefaultStockTTL (1 s).
func WithStockTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d >= 0 {
			c.stockTTL = d
		}
	})
}

// WithListTTL sets how long a catalog page's membership is served from
// memory; zero caches no page. Default DefaultListTTL (30 s).
func WithListTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d >= 0 {
			c.listTTL = d
		}
	})
}

// WithMaxItems bounds the entries held, products and pages together. A full
// cache admits nothing new until entries expire; reads then go to the
// product service, coalesced. Default DefaultMaxItems (10 000).
func WithMaxItems(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxItems = n
		}
	})
}

// WithObserver reports every lookup's hit or miss to o. Default: none.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) { c.observer = o })
}

// WithClock makes the cache read the time from now, so that tests can age
// entries without sleeping. Default time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}
