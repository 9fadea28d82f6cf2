package main

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/product"
)

// catalogReader is the part of the catalog cache the product routes use.
type catalogReader interface {
	Product(ctx context.Context, id int64) (product.Product, error)
	List(ctx context.Context, category, cursor string, limit int) (product.Page, error)
}

// handleListProducts pages through the catalog, optionally one category,
// with the BFF's own opaque cursor.
func handleListProducts(cat catalogReader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		category, err := httpserver.QueryOnce(c, "category")
		if err != nil {
			return err
		}
		page, err := cat.List(c.UserContext(), category, pg.Cursor, pg.Limit)
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.JSON(newProductList(page))
	}
}

// handleGetProduct shows one product.
func handleGetProduct(cat catalogReader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PositiveID(c, "id")
		if err != nil {
			return err
		}
		p, err := cat.Product(c.UserContext(), id)
		if err == nil {
			err = httpserver.CheckAnswered("product", "get", id, p.ID)
		}
		if err != nil {
			return httpserver.FromUpstream(err, "Product")
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.JSON(newProductDetail(p))
	}
}

// productSummaryView is a product as a phone lists it.
type productSummaryView struct {
	ID        int64       `json:"id"`
	Name      string      `json:"name"`
	Price     money.Money `json:"price"`
	Thumbnail string      `json:"thumbnail,omitempty"`
	InStock   bool        `json:"in_stock"`
}

type productListView struct {
	Items      []productSummaryView `json:"items"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

// productDetailView is the product screen: the list row and a short
// description.
type productDetailView struct {
	productSummaryView
	Description string `json:"description"`
}

func newProductSummary(p product.Product) productSummaryView {
	thumb, _ := p.Thumbnail()
	return productSummaryView{ID: p.ID, Name: p.Name, Price: p.Price, Thumbnail: thumb.URL, InStock: p.Stock > 0}
}

// newProductList is a catalog page as rows; the page's cursor is already
// the client's.
func newProductList(page product.Page) productListView {
	out := productListView{Items: make([]productSummaryView, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, p := range page.Items {
		out.Items = append(out.Items, newProductSummary(p))
	}
	return out
}

func newProductDetail(p product.Product) productDetailView {
	return productDetailView{productSummaryView: newProductSummary(p), Description: shortDescription(p.Description)}
}

// maxDescription bounds the description a phone shows, in characters.
const maxDescription = 140

// shortDescription is the description's first sentence, cut at a word
// boundary with an ellipsis when it is longer than maxDescription.
func shortDescription(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if utf8.RuneCountInString(s) <= maxDescription {
		return s
	}
	// Keep room for the ellipsis.
	cut, n := s, 0
	for i := range s {
		if n == maxDescription-1 {
			cut = s[:i]
			break
		}
		n++
	}
	if sp := strings.LastIndexByte(cut, ' '); sp > 0 {
		cut = cut[:sp]
	}
	return strings.TrimRight(cut, " ,;:") + "…"
}
