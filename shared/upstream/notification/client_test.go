package notification_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	for _, key := range []string{"notify-ord_1", "notify-ord_1", "notify-ord_2"} {
		if err := c.Send(ctx, req, key); err != nil {
			t.Fatalf("Send with key %s: %v", key, err)
		}
	}
	st, err := rt.FetchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Notification.Notifications); n != 2 {
		t.Errorf("got %d notifications recorded, want 2: one per key", n)
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
			err := c.Send(context.Background(), tt.req, "")
			e, ok := upstream.As(err)
			if !ok || e.Kind != upstream.KindInvalid || e.Status != 400 || e.Service != "notification" || e.Op != "send" {
				t.Errorf("got %v, want notification/send invalid 400", err)
			}
		})
	}
}

// TestSendTakesAnAnswerWithoutBody: a notification service that accepts
// with a bare 202 has notified; its receipt is not needed.
func TestSendTakesAnAnswerWithoutBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(srv.Close)
	s, err := upstream.NewService("notification", []string{srv.URL}, upstream.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	req := notification.Request{UserID: "usr_ada", Template: "order_confirmed"}
	if err := notification.New(s).Send(context.Background(), req, "k"); err != nil {
		t.Errorf("Send answered a bare 202: %v, want nil", err)
	}
}
