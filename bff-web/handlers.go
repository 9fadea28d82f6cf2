package main

import (
	"context"
	"sync"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// orderReader is the part of the order client the read routes use.
type orderReader interface {
	Get(ctx context.Context, id string) (order.Order, error)
	List(ctx context.Context, userID, cursor string, limit int) (order.Page, error)
}

// productBatch reads many products' names and pictures in one call; the
// catalog cache serves it, since order pages show no stock.
type productBatch interface {
	Details(ctx context.Context, ids []int64) (product.Batch, error)
}

// paymentReader reads one payment.
type paymentReader interface {
	Get(ctx context.Context, id string) (payment.Payment, error)
}

// handleGetOrder shows the order page. The order is required; its products
// (for images) and its payment are fetched concurrently and are optional.
// Another user's order is a 404, exactly like a missing one.
func handleGetOrder(orders orderReader, products productBatch, payments paymentReader, metrics degradedCounter) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PathID(c, "id")
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		o, err := orders.Get(ctx, id)
		if err != nil {
			return httpserver.FromUpstream(err, "Order")
		}
		if o.UserID != httpserver.UserID(c) {
			return problem.New(problem.CodeNotFound, "Order not found.")
		}
		var (
			wg       sync.WaitGroup
			prods    map[int64]product.Product
			pay      payment.Payment
			prodErr  error
			payErr   error
			degraded []string
		)
		wg.Add(2)
		go func() { defer wg.Done(); prods, prodErr = productsOf(ctx, products, []order.Order{o}) }()
		go func() { defer wg.Done(); pay, payErr = payments.Get(ctx, o.PaymentID) }()
		wg.Wait()
		if prodErr != nil {
			degraded = append(degraded, "products")
		}
		var payp *payment.Payment
		if payErr == nil {
			payp = &pay
		} else {
			degraded = append(degraded, "payment")
		}
		for _, part := range degraded {
			metrics.Degraded(part)
		}
		v := newOrderView(o, prods, payp)
		v.Degraded = degraded
		return c.JSON(v)
	}
}

// handleListOrders pages through the user's orders, newest first, with
// thumbnails fetched in one batch for the whole page.
func handleListOrders(orders orderReader, products productBatch, metrics degradedCounter) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		page, err := orders.List(ctx, httpserver.UserID(c), pg.Cursor, pg.Limit)
		if err != nil {
			return httpserver.FromUpstream(err, "Orders")
		}
		out := orderListView{Items: make([]orderSummaryView, 0, len(page.Items)), NextCursor: page.NextCursor}
		prods, err := productsOf(ctx, products, page.Items)
		if err != nil {
			out.Degraded = []string{"thumbnails"}
			metrics.Degraded("thumbnails")
		}
		for _, o := range page.Items {
			out.Items = append(out.Items, newOrderSummary(o, prods))
		}
		return c.JSON(out)
	}
}

// productsOf fetches, in one batch call, every product the orders mention.
func productsOf(ctx context.Context, products productBatch, orders []order.Order) (map[int64]product.Product, error) {
	seen := map[int64]bool{}
	var ids []int64
	for _, o := range orders {
		for _, l := range o.Items {
			if !seen[l.ProductID] {
				seen[l.ProductID] = true
				ids = append(ids, l.ProductID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	b, err := products.Details(ctx, ids)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]product.Product, len(b.Items))
	for _, p := range b.Items {
		m[p.ID] = p
	}
	return m, nil
}
