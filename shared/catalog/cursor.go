package catalog

import (
	"encoding/base64"
	"strings"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/product"
)

// MaxCategoryLen bounds a category filter.
const MaxCategoryLen = 64

// cursorVersion starts every cursor a BFF hands out, so that the encoding
// can change while clients still hold old cursors.
const cursorVersion = "c1"

// NextCursor turns next, the product service's cursor for the page after
// one of category, into the cursor a BFF hands its clients: opaque, and
// bound to the category, so that it cannot be replayed against another
// listing. An empty next (the last page) stays empty.
func NextCursor(category, next string) string {
	if next == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + "\x00" + category + "\x00" + next))
}

// ListParams validates a client's catalog listing (category filter, cursor
// from NextCursor, page size already bounded by the caller) and returns the
// product service's parameters. A bad category or cursor is a 400 problem
// naming it.
func ListParams(category, cursor string, limit int) (product.ListParams, error) {
	if err := validCategory(category); err != nil {
		return product.ListParams{}, err
	}
	// A copy: the category may come from a request buffer, and a coalesced
	// fetch can outlive the request that started it.
	p := product.ListParams{Category: strings.Clone(category), Limit: limit}
	if cursor == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return product.ListParams{}, badCursor()
	}
	parts := strings.SplitN(string(raw), "\x00", 3)
	if len(parts) != 3 || parts[0] != cursorVersion || parts[2] == "" {
		return product.ListParams{}, badCursor()
	}
	if parts[1] != category {
		return product.ListParams{}, problem.Invalid("cursor", "The cursor belongs to another listing; start again without it.")
	}
	p.Cursor = parts[2]
	return p, nil
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

func badCursor() error {
	return problem.Invalid("cursor", "The cursor is not valid.")
}
