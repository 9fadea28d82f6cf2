package config

import (
	"errors"
	"time"
)

// Cache tunes the in-process catalog cache. Only public catalog data is
// cached; orders, profiles and payments never are.
type Cache struct {
	// ProductTTL is CACHE_PRODUCT_TTL, how long a product's name, price,
	// pictures and description are served from memory; 0 caches no
	// product. Default 1m.
	ProductTTL time.Duration
	// StockTTL is CACHE_STOCK_TTL, the oldest stock figure (in stock,
	// units available) a read is served; 0 asks the product service on
	// every such read, coalesced. At most CACHE_PRODUCT_TTL. Default 1s.
	StockTTL time.Duration
	// ListTTL is CACHE_LIST_TTL, how long a catalog page's membership (its
	// products and next cursor) is served from memory; 0 caches no page.
	// Default 30s.
	ListTTL time.Duration
	// MaxItems is CACHE_MAX_ITEMS, the most entries (products and pages
	// together) held; a full cache admits nothing new until entries expire.
	// Default 10000.
	MaxItems int
}

// DefaultCache is the catalog cache's defaults.
func DefaultCache() Cache {
	return Cache{ProductTTL: time.Minute, StockTTL: time.Second, ListTTL: 30 * time.Second, MaxItems: 10_000}
}

// Load reads the cache settings.
func (c *Cache) Load(l *Loader) {
	l.Duration(&c.ProductTTL, "CACHE_PRODUCT_TTL")
	l.Duration(&c.StockTTL, "CACHE_STOCK_TTL")
	l.Duration(&c.ListTTL, "CACHE_LIST_TTL")
	l.Int(&c.MaxItems, "CACHE_MAX_ITEMS")
}

// Validate reports settings that cannot work.
func (c Cache) Validate() error {
	var errs []error
	if c.StockTTL > c.ProductTTL {
		errs = append(errs, errors.New("CACHE_STOCK_TTL must not exceed CACHE_PRODUCT_TTL: stock arrives with the product"))
	}
	if c.MaxItems < 1 {
		errs = append(errs, errors.New("CACHE_MAX_ITEMS must be positive"))
	}
	return errors.Join(errs...)
}
