// Package notification is the client of the notification service.
package notification

import (
	"context"
	"net/http"

	"storefront.dev/shared/upstream"
)

// Client calls the notification service.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Send queues a notification. idempotencyKey, when not empty, makes a repeat
// of the same send answer as the first instead of notifying twice. The
// service's receipt is not read: a 202 with no body is as good.
func (c *Client) Send(ctx context.Context, r Request, idempotencyKey string) error {
	_, err := upstream.Send[struct{}](ctx, c.s, upstream.Call{Op: "send", Method: http.MethodPost, Path: "/notifications", Body: r, IdempotencyKey: idempotencyKey})
	return err
}
