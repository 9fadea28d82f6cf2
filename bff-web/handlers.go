package main

import (
	"context"
	"errors"
	"slices"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/aggregate"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// orderReader reads one order.
type orderReader interface {
	Get(ctx context.Context, id string) (order.Order, error)
}

// productBatch reads many products' names and pictures in one call; the
// catalog cache serves it, since order pages show no stock.
type productBatch interface {
	Details(ctx context.Context, ids []int64) (product.Batch, error)
}

// paymentReader reads what a page shows of one payment.
type paymentReader interface {
	Summary(ctx context.Context, id string) (payment.Summary, error)
}

// orderPlacer runs the checkout.
type orderPlacer interface {
	PlaceReceived(ctx context.Context, r orderflow.Received, keys orderflow.KeyPolicy) (orderflow.Result, error)
}

// handlePlaceOrder places the caller's order. The Idempotency-Key is
// optional on the web (the flow makes one up); the 201 body is the order
// page of the placed order. A retry of a key gets the first outcome, marked
// Idempotent-Replayed.
func handlePlaceOrder(flow orderPlacer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		res, err := flow.PlaceReceived(c.UserContext(), orderflow.Received{
			UserID:          httpserver.UserID(c),
			IdempotencyKeys: httpserver.HeaderLines(c, httpserver.HeaderIdempotencyKey),
			Body:            c.Body(),
		}, orderflow.KeyOptional)
		if res.Replayed {
			httpserver.MarkReplayed(c)
		}
		if err != nil {
			return err
		}
		pay := res.Payment.Summary()
		return httpserver.Created(c, res.Order.ID, "/api/orders/"+res.Order.ID, newOrderView(res.Order, res.Products, &pay))
	}
}

// handleGetOrder shows the order page. The order is required (another
// user's is a 404, exactly like a missing one); then its products (for
// images) and its payment are read concurrently and are optional.
func handleGetOrder(orders orderReader, products productBatch, payments paymentReader, screens *aggregate.Fanout) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PathID(c, "id")
		if err != nil {
			return err
		}
		uid := httpserver.UserID(c)
		// What the parts read, and the view made of it, in one value: one
		// allocation a request rather than one per variable the parts set.
		pg := &orderPage{}
		degraded, err := screens.Run(c.UserContext(),
			aggregate.Required("order", func(ctx context.Context) (err error) {
				if pg.order, err = orders.Get(ctx, id); err != nil {
					return err
				}
				if err = httpserver.CheckAnswered("order", "get", id, pg.order.ID); err != nil {
					return err
				}
				return orderflow.CheckPlaced(pg.order, uid)
			}).Then(
				aggregate.Optional("products", func(ctx context.Context) (err error) {
					pg.products, err = productsOf(ctx, products, []order.Order{pg.order})
					return err
				}),
				aggregate.Optional("payment", func(ctx context.Context) (err error) {
					if pg.order.PaymentID == "" {
						// None to read (an order still being placed): the
						// page has no payment, and nothing is missing.
						return nil
					}
					if pg.payment, err = payments.Summary(ctx, pg.order.PaymentID); err == nil {
						err = httpserver.CheckAnswered("payment", "get", pg.order.PaymentID, pg.payment.ID)
					}
					if err == nil && !shownPayment(pg.payment) {
						// Read, but not what the page can show: the part is
						// left out, and counted, as if it had failed.
						err = &upstream.Error{Service: "payment", Op: "get", Kind: upstream.KindUnknown, Err: errUnshownPayment}
					}
					pg.paid = err == nil
					return err
				}),
			))
		if err != nil {
			return httpserver.FromUpstream(err, "Order")
		}
		var pay *payment.Summary
		if pg.paid {
			pay = &pg.payment
		}
		pg.view = newOrderView(pg.order, pg.products, pay)
		pg.view.Degraded = degraded
		return c.JSON(&pg.view)
	}
}

// errUnshownPayment is the cause of a payment part that read a payment
// the page cannot show (see shownPayment).
var errUnshownPayment = errors.New("a payment without the status or method the page shows")

// orderPage is what the order page's parts read, and its view.
type orderPage struct {
	order    order.Order
	products map[int64]product.Product
	payment  payment.Summary
	paid     bool // payment was read
	view     orderView
}

// handleListOrders pages through the user's orders, newest first, with
// thumbnails fetched in one batch for the whole page. Its cursors are the
// BFF's own, sealed for the user: a forged or another user's one is a 400
// before any upstream call.
func handleListOrders(orders orderLister, products productBatch, cursors *cursor.Signer, screens *aggregate.Fanout) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		uid := httpserver.UserID(c)
		if pg.Cursor, err = cursors.Open(cursor.Orders(uid), pg.Cursor); err != nil {
			return err
		}
		var h history
		degraded, err := screens.Run(c.UserContext(), h.part(aggregate.Required, orders, products, uid, pg))
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		next, err := cursors.SealNext(cursor.Orders(uid), h.page.NextCursor)
		if err != nil {
			// A cursor too long to seal is an answer the BFF cannot
			// carry: the order service failing (logged with its cause),
			// not the last page.
			return httpserver.UpstreamFailure(&upstream.Error{Service: "order", Op: "list", Kind: upstream.KindUnknown, Err: err})
		}
		return c.JSON(orderListView{Items: h.rows(), NextCursor: next, Degraded: degraded})
	}
}

// history is a page of the user's orders and the products its rows show.
type history struct {
	page  order.Page
	prods map[int64]product.Product
}

// part reads h for user uid: the page of the orders the user placed
// (orderflow.History), a part named "orders" made by need
// (aggregate.Required or aggregate.Optional), then, optional, the products
// of its rows in one batch, "thumbnails". h.page is set only once the read
// succeeded: a failed read leaves the history empty, since the rows of a
// page left out are still shown otherwise.
func (h *history) part(need func(string, func(context.Context) error) aggregate.Part, orders orderLister, products productBatch, uid string, pg httpserver.Page) aggregate.Part {
	return need("orders", func(ctx context.Context) error {
		page, foreign, err := orderflow.History(ctx, orders, uid, pg.Cursor, pg.Limit)
		httpserver.NoteForeign(ctx, "order", foreign)
		if err != nil {
			return err
		}
		h.page = page
		return nil
	}).Then(aggregate.Optional("thumbnails", func(ctx context.Context) (err error) {
		h.prods, err = productsOf(ctx, products, h.page.Items)
		return err
	}))
}

// rows are the history's orders as summary rows, without pictures for the
// products that could not be read.
func (h *history) rows() []orderSummaryView {
	out := make([]orderSummaryView, 0, len(h.page.Items))
	for _, o := range h.page.Items {
		out = append(out, newOrderSummary(o, h.prods))
	}
	return out
}

// productsOf fetches, in one batch call, every product the orders mention.
func productsOf(ctx context.Context, products productBatch, orders []order.Order) (map[int64]product.Product, error) {
	var ids []int64
	for _, o := range orders {
		for _, l := range o.Items {
			ids = append(ids, l.ProductID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
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
