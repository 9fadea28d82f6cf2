package catalog

import (
	"strings"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
)

// MaxCategoryLen bounds a category filter.
const MaxCategoryLen = 64

// NextCursor turns next, the product service's cursor for the page after
// one of category, into the cursor a BFF hands its clients: sealed by s
// and bound to the category, so that it can be neither forged nor replayed
// against another listing. An empty next (the last page) stays empty. A
// next longer than cursor.MaxUpstreamLength is the product service's
// failure: the cursor would be one the BFF refuses.
func NextCursor(s *cursor.Signer, category, next string) (string, error) {
	c, err := s.SealNext(cursor.Products(category), next)
	if err != nil {
		return "", &upstream.Error{Service: "product", Op: "list", Kind: upstream.KindUnknown, Err: err}
	}
	return c, nil
}

// ListParams validates a client's catalog listing (category filter, cursor
// from NextCursor, page size already bounded by the caller) and returns the
// product service's parameters. A bad category or cursor is a 400 problem
// naming it.
func ListParams(s *cursor.Signer, category, cur string, limit int) (product.ListParams, error) {
	if err := validCategory(category); err != nil {
		return product.ListParams{}, err
	}
	next, err := s.Open(cursor.Products(category), cur)
	if err != nil {
		return product.ListParams{}, err
	}
	// A copy: the category may come from a request buffer, and a coalesced
	// fetch can outlive the request that started it.
	return product.ListParams{Category: strings.Clone(category), Limit: limit, Cursor: next}, nil
}

// validCategory accepts an empty filter or 1..MaxCategoryLen lowercase
// letters, digits, '-' and '_', the shape of the catalog's categories.
func validCategory(s string) error {
	if len(s) > MaxCategoryLen {
		return problem.Invalid("category", "The category must be at most %d characters.", MaxCategoryLen)
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return problem.Invalid("category", "The category may hold only lowercase letters, digits, '-' and '_'.")
		}
	}
	return nil
}
