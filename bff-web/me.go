package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/aggregate"
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

// recentOrderCount is how many orders the account page shows: the
// document's maxItems of recent_orders.
const recentOrderCount = 5

// meView is the account page. Degraded names the optional parts left out
// because an upstream failed. CSRFToken is the session's, for a caller
// signed in by its cookie: an SPA served from another host than the BFF
// cannot read the CSRF cookie, and gets its token back here after a
// reload.
type meView struct {
	User         profileView        `json:"user"`
	RecentOrders []orderSummaryView `json:"recent_orders"`
	Degraded     []string           `json:"degraded,omitempty"`
	CSRFToken    string             `json:"csrf_token,omitempty"`
}

// handleMe shows the account page: the profile (required) and, alongside
// it, the last orders (optional) with their thumbnails (optional, read as
// soon as the orders are). The page takes as long as the slower of the
// profile and the order chain. Nothing here is cached: it is the caller's
// own data.
func handleMe(users profileReader, orders orderLister, products productBatch, screens *aggregate.Fanout) fiber.Handler {
	return func(c *fiber.Ctx) error {
		uid := httpserver.UserID(c)
		var (
			profile user.User
			recent  history
		)
		degraded, err := screens.Run(c.UserContext(),
			aggregate.Required("user", func(ctx context.Context) (err error) {
				if profile, err = users.Get(ctx, uid); err != nil {
					return err
				}
				return httpserver.CheckAnswered("user", "get", uid, profile.ID)
			}),
			recent.part(aggregate.Optional, orders, products, uid, httpserver.Page{Limit: recentOrderCount}),
		)
		if err != nil {
			return httpserver.FromUpstream(err, "User")
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		csrf, _ := c.Locals(sessionCSRFKey).(string)
		return c.JSON(meView{User: newProfileView(profile), RecentOrders: recent.rows(), Degraded: degraded, CSRFToken: csrf})
	}
}
