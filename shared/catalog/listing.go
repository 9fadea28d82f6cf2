package catalog

import (
	"context"

	"storefront.dev/shared/upstream/product"
)

// List serves a client's catalog listing: it checks the category filter and
// the cursor as ListParams does, reads that page through the cache, and
// hands back the page with its NextCursor already the client's (bound to the
// category). limit is the page size the caller bounded. A bad category or
// cursor is a 400 problem; a failed read is the Source's error.
func (c *Cache) List(ctx context.Context, category, cursor string, limit int) (product.Page, error) {
	params, err := ListParams(c.cfg.cursors, category, cursor, limit)
	if err != nil {
		return product.Page{}, err
	}
	page, err := c.Page(ctx, params)
	if err != nil {
		return product.Page{}, err
	}
	if page.NextCursor, err = NextCursor(c.cfg.cursors, params.Category, page.NextCursor); err != nil {
		return product.Page{}, err
	}
	return page, nil
}
