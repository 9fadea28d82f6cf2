package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

var (
	signer, _   = cursor.New(cursor.NewKey())
	otherKey, _ = cursor.New(cursor.NewKey())
)

// nextCursor is catalog.NextCursor of a cursor it must take.
func nextCursor(t *testing.T, s *cursor.Signer, category, next string) string {
	t.Helper()
	c, err := catalog.NextCursor(s, category, next)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTooLongUpstreamCursorFailsTheListing: a product service cursor the
// BFF could not take back is the service's failure, not a listing that
// silently ends.
func TestTooLongUpstreamCursorFailsTheListing(t *testing.T) {
	_, err := catalog.NextCursor(signer, "", strings.Repeat("x", cursor.MaxUpstreamLength+1))
	if upstream.KindOf(err) != upstream.KindUnknown || !errors.Is(err, cursor.ErrTooLong) {
		t.Errorf("NextCursor of a cursor too long: %v, want an upstream failure wrapping ErrTooLong", err)
	}
}

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
			cur, err := catalog.NextCursor(signer, tt.category, tt.next)
			if err != nil || cur == "" || strings.Contains(cur, tt.next) {
				t.Fatalf("got cursor %q, %v; want an opaque non-empty cursor", cur, err)
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
	if got, err := catalog.NextCursor(signer, "books", ""); got != "" || err != nil {
		t.Errorf("got %q for the last page, want no cursor", got)
	}
}

func TestListParamsRejects(t *testing.T) {
	tests := []struct {
		name, category, cursor, field string
	}{
		{"cursor of another category", "toys", nextCursor(t, signer, "books", "cDE6NA"), "cursor"},
		{"cursor of the whole catalog in a category", "toys", nextCursor(t, signer, "", "cDE6NA"), "cursor"},
		{"not base64", "", "!!!", "cursor"},
		{"sealed with another key", "", nextCursor(t, otherKey, "", "cDE6NA"), "cursor"},
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
