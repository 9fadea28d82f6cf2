package notification_test

import (
	"context"
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/notification"
)

func start(t *testing.T) (*sandboxtest.Running, *notification.Client) {
	t.Helper()
	rt := sandboxtest.Start(t, sandbox.Config{})
	return rt, rt.Clients(t, upstream.DefaultConfig()).Notification
}

func TestSendIsIdempotentByKey(t *testing.T) {
	rt, c := start(t)
	ctx := context.Background()
	req := notification.Request{UserID: "usr_ada", Template: "order_confirmed", Data: map[string]any{"order_id": "ord_1"}}
	first, err := c.Send(ctx, req, "notify-ord_1")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if first.ID == "" || first.Status != "accepted" {
		t.Errorf("got %+v, want an accepted receipt", first)
	}
	again, err := c.Send(ctx, req, "notify-ord_1")
	if err != nil || again != first {
		t.Errorf("got %+v, %v resending with the same key, want %+v", again, err, first)
	}
	other, err := c.Send(ctx, req, "notify-ord_2")
	if err != nil || other.ID == first.ID {
		t.Errorf("got %+v, %v with another key, want a new receipt", other, err)
	}
	st, err := rt.FetchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Notification.Notifications); n != 2 {
		t.Errorf("got %d notifications recorded, want 2", n)
	}
}

func TestSendInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  notification.Request
	}{
		{name: "no user", req: notification.Request{Template: "order_confirmed"}},
		{name: "bad template", req: notification.Request{UserID: "usr_ada", Template: "Order Confirmed!"}},
	}
	_, c := start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Send(context.Background(), tt.req, "")
			e, ok := upstream.As(err)
			if !ok || e.Kind != upstream.KindInvalid || e.Status != 400 || e.Service != "notification" || e.Op != "send" {
				t.Errorf("got %v, want notification/send invalid 400", err)
			}
		})
	}
}
