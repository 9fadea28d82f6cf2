// Package order is the client of the order service: pending orders, their
// confirmation or cancellation, and a user's order history.
package order

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"storefront.dev/shared/upstream"
)

// Client calls the order service.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Create records a pending order. The request's Reference makes it
// idempotent.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Order, error) {
	return upstream.Post[Order](ctx, c.s, "create", "/orders", r)
}

// Confirm marks a pending order confirmed, naming in r the payment and
// the reservation it was created without. It is idempotent.
func (c *Client) Confirm(ctx context.Context, id string, r ConfirmRequest) (Order, error) {
	return upstream.Post[Order](ctx, c.s, "confirm", "/orders/"+url.PathEscape(id)+"/confirm", r)
}

// Reassign names r.ReservationID as the reservation holding the order's
// units, for an order whose reservation expired before it was committed
// and was made again. It is idempotent; the order service refuses a move
// whose sequence is below the last one it applied (409
// reservation_superseded), so that a move landing late cannot undo a
// later one.
func (c *Client) Reassign(ctx context.Context, id string, r ReassignRequest) (Order, error) {
	return upstream.Send[Order](ctx, c.s, upstream.Call{Op: "reassign", Method: http.MethodPut,
		Path: "/orders/" + url.PathEscape(id) + "/reservation", Body: r})
}

// Cancel marks a pending or confirmed order cancelled.
func (c *Client) Cancel(ctx context.Context, id string) (Order, error) {
	return upstream.Undo[Order](ctx, c.s, "/orders", id, "cancel")
}

// Get returns one order, whatever its status: a caller that shows it
// checks its owner, then its status (CheckStatus), so that another user's
// order is a 404 whatever it holds.
func (c *Client) Get(ctx context.Context, id string) (Order, error) {
	return upstream.Get[Order](ctx, c.s, "get", "/orders/"+url.PathEscape(id))
}

// ByReference finds the order created with ref, to learn the outcome of a
// Create whose answer was lost.
func (c *Client) ByReference(ctx context.Context, ref string) (Order, error) {
	return upstream.ByReference[Order](ctx, c.s, "/orders", ref)
}

// List returns one page of userID's orders, newest first. An empty cursor
// starts at the newest; limit 0 takes the service default. A page of more
// than limit orders, or with an order of userID's of an unknown status, is
// an error of KindUnknown.
func (c *Client) List(ctx context.Context, userID, cursor string, limit int) (Page, error) {
	q := url.Values{"user_id": {userID}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	page, err := upstream.Send[Page](ctx, c.s, upstream.Call{Op: "list", Method: http.MethodGet, Path: "/orders", Query: q})
	if err == nil && limit > 0 && len(page.Items) > limit {
		// Its next cursor points past orders a page cut to limit would
		// leave out of every page: the service is failing.
		return Page{}, upstream.Unusable(c.s.Name(), "list", fmt.Errorf("answered %d orders when asked for at most %d", len(page.Items), limit))
	}
	for _, o := range page.Items {
		// Another user's order, which its caller leaves out (Owned), says
		// nothing to this one, whatever it holds.
		if err := o.checkStatus("list"); err != nil && o.UserID == userID {
			return Page{}, err
		}
	}
	return page, err
}
