package httpserver_test

import (
	"strings"
	"testing"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/httpserver"
)

// TestPageTakesBackEveryCursor: whatever upstream cursor the BFF seals, the
// page parser takes the sealed cursor back from the client.
func TestPageTakesBackEveryCursor(t *testing.T) {
	s, _ := cursor.New(cursor.NewKey())
	for _, n := range []int{1, 175, 200, cursor.MaxUpstreamLength} {
		c, err := s.SealNext(cursor.Products("kitchen"), strings.Repeat("n", n))
		if err != nil {
			t.Fatalf("SealNext of %d bytes: %v", n, err)
		}
		if _, err := httpserver.PageOf(c, ""); err != nil {
			t.Errorf("the cursor of an upstream cursor of %d bytes (%d long) is refused: %v", n, len(c), err)
		}
	}
	if _, err := httpserver.PageOf(strings.Repeat("A", httpserver.MaxCursorLength+1), ""); err == nil {
		t.Error("a cursor longer than any the BFF seals was accepted")
	}
}
