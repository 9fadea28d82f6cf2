package main

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/aggregate"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/product"
)

// catalogReader is the part of the catalog cache the product routes use.
type catalogReader interface {
	Product(ctx context.Context, id int64) (product.Product, error)
	Page(ctx context.Context, p product.ListParams) (product.Page, error)
	List(ctx context.Context, category, cursor string, limit int) (product.Page, error)
}

// maxRelated is how many products of the same category the product page
// suggests.
const maxRelated = 4

// handleListProducts pages through the catalog, optionally one category,
// as full product cards, with the BFF's own opaque cursor.
func handleListProducts(cat catalogReader, screens *aggregate.Fanout) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		category, err := httpserver.QueryOnce(c, "category")
		if err != nil {
			return err
		}
		// Owned: the part reads it on another goroutine.
		category = strings.Clone(category)
		var page product.Page
		if _, err := screens.Run(c.UserContext(), aggregate.Required("products", func(ctx context.Context) (err error) {
			page, err = cat.List(ctx, category, pg.Cursor, pg.Limit)
			return err
		})); err != nil {
			return httpserver.UpstreamFailure(err)
		}
		cards := make([]productView, 0, len(page.Items))
		for _, p := range page.Items {
			cards = append(cards, newProductView(p))
		}
		// The catalog is everyone's: a shared cache may keep it, revalidating.
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.JSON(productListView{Items: cards, NextCursor: page.NextCursor})
	}
}

// handleGetProduct shows the product page: the product with its
// availability (required), then products of its category (optional: if
// they cannot be read the page is served without them and says so). The
// related products need the product's category, so they are read as soon as
// the product is.
func handleGetProduct(cat catalogReader, screens *aggregate.Fanout) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PositiveID(c, "id")
		if err != nil {
			return err
		}
		var p product.Product
		var related product.Page
		degraded, err := screens.Run(c.UserContext(),
			aggregate.Required("product", func(ctx context.Context) (err error) {
				if p, err = cat.Product(ctx, id); err != nil {
					return err
				}
				return httpserver.CheckAnswered("product", "get", id, p.ID)
			}).Then(aggregate.Optional("related", func(ctx context.Context) (err error) {
				if strings.TrimSpace(p.Category) == "" {
					// The catalog's page of a blank category is its
					// first products, whatever they are: none is related.
					return nil
				}
				related, err = cat.Page(ctx, product.ListParams{Category: p.Category, Limit: maxRelated + 1})
				return err
			})))
		if err != nil {
			return httpserver.FromUpstream(err, "Product")
		}
		out := productPageView{Product: newProductView(p), Related: []relatedView{}, Degraded: degraded}
		for _, r := range related.Items {
			if r.ID != p.ID && len(out.Related) < maxRelated {
				out.Related = append(out.Related, newRelatedView(r))
			}
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.JSON(out)
	}
}

// lowStock is the stock at or below which a card says so.
const lowStock = 5

// productView is a full product card: everything the catalog knows that a
// shopper sees, with its availability.
type productView struct {
	ID           int64             `json:"id"`
	SKU          string            `json:"sku"`
	Name         string            `json:"name"`
	Brand        string            `json:"brand"`
	Category     string            `json:"category"`
	Description  string            `json:"description"`
	Price        money.Money       `json:"price"`
	Rating       float64           `json:"rating"`
	Images       []pictureView     `json:"images"`
	Attributes   map[string]string `json:"attributes"`
	Availability availabilityView  `json:"availability"`
}

type pictureView struct {
	URL    string `json:"url"`
	Alt    string `json:"alt"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Kind   string `json:"kind"`
}

// availabilityView is the stock as a shopper sees it; it is never older
// than the catalog cache's stock TTL.
type availabilityView struct {
	InStock   bool `json:"in_stock"`
	Available int  `json:"available"`
	LowStock  bool `json:"low_stock"`
}

type productListView struct {
	Items      []productView `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// relatedView is a suggestion on the product page.
type relatedView struct {
	ID      int64       `json:"id"`
	Name    string      `json:"name"`
	Price   money.Money `json:"price"`
	Image   *imageView  `json:"image,omitempty"`
	InStock bool        `json:"in_stock"`
}

// productPageView is the product page. Degraded names the optional parts
// left out because an upstream failed.
type productPageView struct {
	Product  productView   `json:"product"`
	Related  []relatedView `json:"related"`
	Degraded []string      `json:"degraded,omitempty"`
}

func newProductView(p product.Product) productView {
	v := productView{
		ID:          p.ID,
		SKU:         p.SKU,
		Name:        p.Name,
		Brand:       p.Brand,
		Category:    p.Category,
		Description: p.Description,
		Price:       p.Price,
		Rating:      p.Rating,
		Images:      make([]pictureView, 0, len(p.Images)),
		Attributes:  p.Attributes,
		Availability: availabilityView{
			InStock:   p.Stock > 0,
			Available: max(p.Stock, 0),
			LowStock:  p.Stock > 0 && p.Stock <= lowStock,
		},
	}
	if v.Attributes == nil {
		v.Attributes = map[string]string{}
	}
	for _, img := range p.Images {
		v.Images = append(v.Images, pictureView{URL: img.URL, Alt: img.Alt, Width: img.Width, Height: img.Height, Kind: img.Kind})
	}
	return v
}

func newRelatedView(p product.Product) relatedView {
	return relatedView{ID: p.ID, Name: p.Name, Price: p.Price, Image: imageOf(p.Thumbnail()), InStock: p.Stock > 0}
}
