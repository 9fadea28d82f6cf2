// Package payment is the client of the payment service: authorization holds
// and their capture, void and refund.
package payment

import (
	"context"
	"net/http"
	"net/url"

	"storefront.dev/shared/upstream"
)

// Client calls the payment service: authorization holds and their capture,
// void and refund.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Authorize places a hold. A decline is an *upstream.Error of KindDeclined
// with its DeclineReason. The request's Reference makes it idempotent.
func (c *Client) Authorize(ctx context.Context, r AuthorizeRequest) (Payment, error) {
	var p Payment
	err := c.s.Do(ctx, upstream.Call{Op: "authorize", Method: http.MethodPost, Path: "/payments", Body: r}, &p)
	return p, err
}

// Capture takes the money of an authorized hold.
func (c *Client) Capture(ctx context.Context, id string) (Payment, error) {
	return c.transition(ctx, "capture", id)
}

// Void releases an authorized hold. Voiding an expired hold succeeds with
// status expired.
func (c *Client) Void(ctx context.Context, id string) (Payment, error) {
	return c.transition(ctx, "void", id)
}

// Refund gives back the money of a captured payment.
func (c *Client) Refund(ctx context.Context, id string) (Payment, error) {
	return c.transition(ctx, "refund", id)
}

func (c *Client) transition(ctx context.Context, op, id string) (Payment, error) {
	var p Payment
	err := c.s.Do(ctx, upstream.Call{Op: op, Method: http.MethodPost, Path: "/payments/" + url.PathEscape(id) + "/" + op}, &p)
	return p, err
}

// Get returns one payment.
func (c *Client) Get(ctx context.Context, id string) (Payment, error) {
	var p Payment
	err := c.s.Do(ctx, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/payments/" + url.PathEscape(id)}, &p)
	return p, err
}

// ByReference finds the payment authorized with ref, to learn the outcome of
// an Authorize whose answer was lost.
func (c *Client) ByReference(ctx context.Context, ref string) (Payment, error) {
	var p Payment
	err := c.s.Do(ctx, upstream.Call{Op: "lookup", Method: http.MethodGet, Path: "/payments/by-reference/" + url.PathEscape(ref)}, &p)
	return p, err
}
