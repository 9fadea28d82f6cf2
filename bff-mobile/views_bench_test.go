package main

import (
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/product"
)

// benchProduct is a product as the sandbox returns it: a description of
// three sentences, four pictures, a few attributes.
func benchProduct() product.Product {
	p := product.Product{
		ID: 2, SKU: "BOOK-0002", Name: "Designing Data-Intensive Applications", Category: "books", Brand: "O'Reilly",
		Description: "How databases, streams and distributed systems really behave, and why it matters. " +
			"Reference books that stay on the desk, not the shelf. Printed on acid-free paper.",
		Price: money.New(4550, "EUR"), Rating: 4.8, Stock: 42,
		Attributes: map[string]string{"format": "paperback", "pages": "616", "language": "en"},
		UpdatedAt:  time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for _, kind := range []string{product.ImageMain, product.ImageThumbnail, product.ImageGallery, product.ImageGallery} {
		p.Images = append(p.Images, product.Image{URL: "https://img.storefront.dev/products/2/" + kind + ".jpg",
			Alt: p.Name, Width: 800, Height: 800, Kind: kind})
	}
	return p
}

// BenchmarkProductView builds the product screen ("build"), encodes it as
// the handler's c.JSON does ("json"), and both ("build+json"). Run with:
//
//	go test -run '^$' -bench ProductView -benchmem .
func BenchmarkProductView(b *testing.B) {
	p := benchProduct()
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v := newProductDetail(p); v.Thumbnail == "" {
				b.Fatal("no thumbnail")
			}
		}
	})
	v := newProductDetail(p)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out, err := json.Marshal(v); err != nil || len(out) < 200 {
				b.Fatalf("got %d bytes, %v", len(out), err)
			}
		}
	})
	b.Run("build+json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out, err := json.Marshal(newProductDetail(p)); err != nil || len(out) < 200 {
				b.Fatalf("got %d bytes, %v", len(out), err)
			}
		}
	})
}
