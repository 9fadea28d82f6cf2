package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/user"
)

// profileReader reads a user's profile.
type profileReader interface {
	Get(ctx context.Context, id string) (user.User, error)
}

// orderLister lists a user's orders, newest first.
type orderLister interface {
	List(ctx context.Context, userID, cursor string, limit int) (order.Page, error)
}

// recentOrderCount is how many orders the account page shows.
const recentOrderCount = 5

// meView is the account page. Degraded names the optional parts left out
// because an upstream failed.
type meView struct {
	User         profileView        `json:"user"`
	RecentOrders []orderSummaryView `json:"recent_orders"`
	Degraded     []string           `json:"degraded,omitempty"`
}

// handleMe shows the account page: the profile (required) and, alongside
// it, the last orders with their thumbnails (optional). The orders and
// their products form one chain that runs concurrently with the profile,
// so the page takes as long as the slower of the two. Nothing here is
// cached: it is the caller's own data.
func handleMe(users profileReader, orders orderLister, products productBatch, degraded degradedCounter) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// A failed profile fails the page: the order chain is then stopped.
		ctx, cancel := context.WithCancel(c.UserContext())
		defer cancel()
		uid := httpserver.UserID(c)
		type recent struct {
			orders  []orderSummaryView
			missing []string
		}
		done := make(chan recent, 1)
		go func() {
			items, missing := recentOrders(ctx, orders, products, uid)
			done <- recent{items, missing}
		}()
		profile, err := users.Get(ctx, uid)
		if err != nil {
			cancel()
			<-done
			return httpserver.FromUpstream(err, "User")
		}
		r := <-done
		for _, part := range r.missing {
			degraded.Degraded(part)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(meView{User: newProfileView(profile), RecentOrders: r.orders, Degraded: r.missing})
	}
}

// recentOrders returns the user's last orders with thumbnails, and the
// parts it could not read: "orders" (then there are none to show) or
// "thumbnails" (the orders are shown without pictures).
func recentOrders(ctx context.Context, orders orderLister, products productBatch, uid string) ([]orderSummaryView, []string) {
	out := []orderSummaryView{}
	page, err := orders.List(ctx, uid, "", recentOrderCount)
	if err != nil {
		return out, []string{"orders"}
	}
	prods, err := productsOf(ctx, products, page.Items)
	var missing []string
	if err != nil {
		missing = []string{"thumbnails"}
	}
	for _, o := range page.Items {
		out = append(out, newOrderSummary(o, prods))
	}
	return out, missing
}
