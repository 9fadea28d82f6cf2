// Package payment is the client of the payment service: authorization holds
// and their capture, void and refund.
package payment

import (
	"context"
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
	return upstream.Post[Payment](ctx, c.s, "authorize", "/payments", r)
}

// Capture takes the money of an authorized hold.
func (c *Client) Capture(ctx context.Context, id string) (Payment, error) {
	return upstream.Transition[Payment](ctx, c.s, "/payments", id, "capture")
}

// Void releases an authorized hold. Voiding an expired hold succeeds with
// status expired.
func (c *Client) Void(ctx context.Context, id string) (Payment, error) {
	return upstream.Undo[Payment](ctx, c.s, "/payments", id, "void")
}

// Refund gives back the money of a captured payment.
func (c *Client) Refund(ctx context.Context, id string) (Payment, error) {
	return upstream.Undo[Payment](ctx, c.s, "/payments", id, "refund")
}

// Summary reads one payment, as a page shows it.
func (c *Client) Summary(ctx context.Context, id string) (Summary, error) {
	return upstream.Get[Summary](ctx, c.s, "get", "/payments/"+url.PathEscape(id))
}

// ByReference finds the payment authorized with ref, to learn the outcome of
// an Authorize whose answer was lost.
func (c *Client) ByReference(ctx context.Context, ref string) (Payment, error) {
	return upstream.ByReference[Payment](ctx, c.s, "/payments", ref)
}
