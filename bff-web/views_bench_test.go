package main

import (
	"strconv"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// benchOrderPage is an order page's inputs as the sandbox returns them: an
// order of three lines with a shipping address, its products with two to
// four pictures each, and a captured card payment.
func benchOrderPage() (order.Order, map[int64]product.Product, *payment.Summary) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	o := order.Order{
		ID: "ord_01HZX4Q9R5T7V8W2Y3Z4A5B6C7", Reference: "bff-web:usr_ada:01HZX4Q9R5-order", UserID: "usr_ada",
		Status: order.StatusConfirmed, Total: money.New(12097, "EUR"), PaymentID: "pay_01HZX4Q9R5T7V8W2Y3Z4A5B6C8",
		ReservationID: "res_01HZX4Q9R5T7V8W2Y3Z4A5B6C9",
		ShippingAddress: &order.Address{Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", Country: "GB"},
		CreatedAt: at, UpdatedAt: at.Add(time.Second),
	}
	prods := map[int64]product.Product{}
	for i, l := range []order.Line{
		{ProductID: 1, Name: "Cast iron skillet", Quantity: 2, UnitPrice: money.New(3499, "EUR")},
		{ProductID: 7, Name: "Chef's knife, 20 cm", Quantity: 1, UnitPrice: money.New(4599, "EUR")},
		{ProductID: 12, Name: "Linen tea towels (set of 3)", Quantity: 1, UnitPrice: money.New(500, "EUR")},
	} {
		o.Items = append(o.Items, l)
		id := strconv.FormatInt(l.ProductID, 10)
		p := product.Product{ID: l.ProductID, SKU: "KIT-" + id, Name: l.Name, Category: "kitchen", Brand: "Storefront",
			Price: l.UnitPrice, Rating: 4.6, UpdatedAt: at}
		for _, kind := range []string{product.ImageMain, product.ImageThumbnail, product.ImageGallery, product.ImageGallery}[:2+i%3] {
			p.Images = append(p.Images, product.Image{URL: "https://img.storefront.dev/products/" + id + "/" + kind + ".jpg",
				Alt: l.Name, Width: 800, Height: 800, Kind: kind})
		}
		prods[l.ProductID] = p
	}
	pay := &payment.Summary{ID: o.PaymentID, Status: payment.StatusCaptured, Method: payment.Method{Type: "card", Brand: "visa", Last4: "4242"}}
	return o, prods, pay
}

// BenchmarkOrderView builds the order page ("build"), encodes it as the
// handler's c.JSON does ("json"), and both ("build+json"). Run with:
//
//	go test -run '^$' -bench OrderView -benchmem .
func BenchmarkOrderView(b *testing.B) {
	o, prods, pay := benchOrderPage()
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v := newOrderView(o, prods, pay); len(v.Lines) != 3 {
				b.Fatalf("got %d lines", len(v.Lines))
			}
		}
	})
	v := newOrderView(o, prods, pay)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out, err := json.Marshal(v); err != nil || len(out) < 500 {
				b.Fatalf("got %d bytes, %v", len(out), err)
			}
		}
	})
	b.Run("build+json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out, err := json.Marshal(newOrderView(o, prods, pay)); err != nil || len(out) < 500 {
				b.Fatalf("got %d bytes, %v", len(out), err)
			}
		}
	})
}
