package catalog_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/product"
)

// shelf is a Source over a fixed list of products, paged by index.
type shelf struct {
	items []product.Product
	err   error
}

func (s shelf) Get(context.Context, int64) (product.Product, error) {
	return product.Product{}, errors.New("not used")
}

func (s shelf) GetMany(context.Context, []int64) (product.Batch, error) {
	return product.Batch{}, errors.New("not used")
}

func (s shelf) List(_ context.Context, p product.ListParams) (product.Page, error) {
	if s.err != nil {
		return product.Page{}, s.err
	}
	var matching []product.Product
	for _, it := range s.items {
		if p.Category == "" || it.Category == p.Category {
			matching = append(matching, it)
		}
	}
	from, _ := strconv.Atoi(p.Cursor)
	to := min(from+p.Limit, len(matching))
	page := product.Page{Items: matching[from:to]}
	if to < len(matching) {
		page.NextCursor = strconv.Itoa(to)
	}
	return page, nil
}

// TestListFollowsItsCursors: a listing is read page by page with the
// cursors List hands out, which work only for their own category.
func TestListFollowsItsCursors(t *testing.T) {
	src := shelf{items: []product.Product{
		{ID: 1, Category: "toys"}, {ID: 2, Category: "kitchen"}, {ID: 3, Category: "toys"},
		{ID: 4, Category: "toys"}, {ID: 5, Category: "kitchen"},
	}}
	c := catalog.New(src, catalog.DefaultConfig())
	ctx := context.Background()
	var got []int64
	cursor := ""
	for range 5 {
		page, err := c.List(ctx, "toys", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if want := []int64{1, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	first, err := c.List(ctx, "toys", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(ctx, "kitchen", first.NextCursor, 2)
	var p *problem.Error
	if !errors.As(err, &p) || p.Field != "cursor" {
		t.Errorf("another category's cursor: got %v, want a problem naming the cursor", err)
	}
}

// TestListErrors: a bad filter is the client's problem, a failed read the
// Source's error.
func TestListErrors(t *testing.T) {
	down := errors.New("product service down")
	if _, err := catalog.New(shelf{}, catalog.DefaultConfig()).List(context.Background(), "Toys!", "", 2); problem.From(err).Field != "category" {
		t.Errorf("bad category: got %v, want a problem naming it", err)
	}
	if _, err := catalog.New(shelf{err: down}, catalog.DefaultConfig()).List(context.Background(), "toys", "", 2); !errors.Is(err, down) {
		t.Errorf("source down: got %v, want %v", err, down)
	}
}
