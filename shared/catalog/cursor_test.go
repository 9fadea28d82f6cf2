package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/problem"
)

var (
	signer, _   = cursor.New(cursor.NewKey())
	otherKey, _ = cursor.New(cursor.NewKey())
)

func TestCursorRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		category string
		next     string
	}{
		{"whole catalog", "", "cDE6MjA"},
		{"one category", "books", "cDE6NA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := catalog.NextCursor(signer, tt.category, tt.next)
			if cur == "" || strings.Contains(cur, tt.next) {
				t.Fatalf("got cursor %q, want an opaque non-empty cursor", cur)
			}
			p, err := catalog.ListParams(signer, tt.category, cur, 7)
			if err != nil {
				t.Fatal(err)
			}
			if p.Category != tt.category || p.Cursor != tt.next || p.Limit != 7 {
				t.Errorf("got %+v, want category %q cursor %q limit 7", p, tt.category, tt.next)
			}
		})
	}
	if got := catalog.NextCursor(signer, "books", ""); got != "" {
		t.Errorf("got %q for the last page, want no cursor", got)
	}
}

func TestListParamsRejects(t *testing.T) {
	tests := []struct {
		name, category, cursor, field string
	}{
		{"cursor of another category", "toys", catalog.NextCursor(signer, "books", "cDE6NA"), "cursor"},
		{"cursor of the whole catalog in a category", "toys", catalog.NextCursor(signer, "", "cDE6NA"), "cursor"},
		{"not base64", "", "!!!", "cursor"},
		{"sealed with another key", "", otherKey.Seal(cursor.Products(""), "cDE6NA"), "cursor"},
		{"foreign base64", "", "aGVsbG8", "cursor"},
		{"upstream cursor passed through", "", "cDE6NA", "cursor"},
		{"uppercase category", "Books", "", "category"},
		{"category with a space", "home garden", "", "category"},
		{"category too long", strings.Repeat("a", catalog.MaxCategoryLen+1), "", "category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalog.ListParams(signer, tt.category, tt.cursor, 20)
			var p *problem.Error
			if !errors.As(err, &p) || p.Code != problem.CodeInvalid || p.Field != tt.field {
				t.Errorf("got %v, want an invalid_request on %s", err, tt.field)
			}
		})
	}
}
