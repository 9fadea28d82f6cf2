package catalog

import (
	"errors"
	"fmt"
	"time"

	"storefront.dev/shared/cursor"
)

// Config is the settings of a Cache; DefaultConfig returns every default.
type Config struct {
	// ProductTTL is how long a product's catalog data (name, price,
	// pictures, description) is served from memory; 0 caches no product,
	// and so no stock either, whatever StockTTL says. Default 1m.
	ProductTTL time.Duration
	// StockTTL is the oldest stock figure (in stock, units available) a read
	// that shows availability is served; 0 makes each of them ask the
	// product service (still coalesced). Stock arrives with the rest of the
	// product, so it is at most ProductTTL when that is not 0. The product
	// service's answer that a product does not exist is kept as long.
	// Default 1s.
	StockTTL time.Duration
	// ListTTL is how long the membership of a catalog page (which products,
	// in which order, and the next cursor) is served from memory; 0 caches
	// no page. Default 30s.
	ListTTL time.Duration
	// MaxItems bounds the entries held, products and pages together. A full
	// cache admits nothing new until entries expire; reads then go to the
	// product service, coalesced. Default 10000.
	MaxItems int
}

// DefaultConfig returns the defaults of every setting of a Cache.
func DefaultConfig() Config {
	return Config{ProductTTL: time.Minute, StockTTL: time.Second, ListTTL: 30 * time.Second, MaxItems: 10_000}
}

// Validate reports the settings a Cache cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.ProductTTL < 0 || c.StockTTL < 0 || c.ListTTL < 0 {
		errs = append(errs, errors.New("catalog: ProductTTL, StockTTL and ListTTL must not be negative"))
	}
	// A ProductTTL of 0 turns product caching off, stock included (see
	// newConfig): the default StockTTL must not stop it from starting.
	if c.ProductTTL > 0 && c.StockTTL > c.ProductTTL {
		errs = append(errs, fmt.Errorf("catalog: StockTTL %v must not exceed ProductTTL %v: stock arrives with the product", c.StockTTL, c.ProductTTL))
	}
	if c.MaxItems < 1 {
		errs = append(errs, fmt.Errorf("catalog: MaxItems %d must be positive", c.MaxItems))
	}
	return errors.Join(errs...)
}

// Observer is told the result of every cache lookup, for metrics. cache is
// CacheProducts or CachePages. Implementations must be safe for concurrent
// use and fast: they are called on the request path.
type Observer interface {
	CacheLookup(cache string, hit bool)
}

// Option gives a Cache a collaborator.
type Option func(*config)

// config is what a Cache runs with: its Config and its collaborators.
type config struct {
	Config
	observer Observer
	cursors  *cursor.Signer
	now      func() time.Time
}

func newConfig(cfg Config, opts []Option) config {
	c := config{Config: cfg, now: time.Now}
	if c.ProductTTL == 0 {
		// No product is kept, so no stock figure is either.
		c.StockTTL = 0
	}
	c.cursors, _ = cursor.New(cursor.NewKey()) // a valid key cannot fail
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithObserver reports every lookup's hit or miss to o. Default: none.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observer = o }
}

// WithCursors seals the listings' cursors with s, which every replica
// shares. Default: a key of the process's own.
func WithCursors(s *cursor.Signer) Option {
	return func(c *config) {
		if s != nil {
			c.cursors = s
		}
	}
}

// WithClock makes the cache read the time from now, so that tests can age
// entries without sleeping. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
