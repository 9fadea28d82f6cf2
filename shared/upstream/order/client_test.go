package order_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/upstreamtest"
)

type fixture struct {
	clock  *clocktest.Manual
	client *order.Client
}

func start(t *testing.T) fixture {
	t.Helper()
	clock := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now})
	return fixture{clock: clock, client: rt.Clients(t, upstream.DefaultConfig()).Order}
}

var wantError = upstreamtest.WantError("order")

var request = sandboxtest.OrderRequest

func TestCreateConfirmCancel(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	req := request("ord-1", "usr_ada")
	o, err := f.client.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if o.ID == "" || o.Status != order.StatusPending || o.Total != req.Total || o.UserID != "usr_ada" ||
		!reflect.DeepEqual(o.Items, req.Items) || o.ShippingAddress == nil || *o.ShippingAddress != *req.ShippingAddress {
		t.Errorf("got %+v, want a pending order echoing %+v", o, req)
	}
	again, err := f.client.Create(ctx, req)
	if err != nil || again.ID != o.ID {
		t.Errorf("got %+v, %v repeating the reference, want order %s", again, err, o.ID)
	}

	confirmed, err := f.client.Confirm(ctx, o.ID, order.ConfirmRequest{})
	if err != nil || confirmed.Status != order.StatusConfirmed || confirmed.PaymentID != req.PaymentID {
		t.Fatalf("got %+v, %v, want confirmed", confirmed, err)
	}
	cancelled, err := f.client.Cancel(ctx, o.ID)
	if err != nil || cancelled.Status != order.StatusCancelled {
		t.Fatalf("got %+v, %v, want cancelled", cancelled, err)
	}
	_, err = f.client.Confirm(ctx, o.ID, order.ConfirmRequest{})
	wantError(t, err, "confirm", upstream.KindConflict, 409, "order_cancelled")

	got, err := f.client.Get(ctx, o.ID)
	if err != nil || got.Status != order.StatusCancelled {
		t.Errorf("got %+v, %v, want the cancelled order", got, err)
	}
	byRef, err := f.client.ByReference(ctx, "ord-1")
	if err != nil || byRef.ID != o.ID {
		t.Errorf("got %+v, %v by reference, want order %s", byRef, err, o.ID)
	}
	_, err = f.client.ByReference(ctx, "a/b c")
	wantError(t, err, "lookup", upstream.KindNotFound, 404, "not_found")
	for _, op := range []struct {
		name string
		call func(context.Context, string) (order.Order, error)
	}{{"get", f.client.Get}, {"confirm", func(ctx context.Context, id string) (order.Order, error) {
		return f.client.Confirm(ctx, id, order.ConfirmRequest{})
	}}, {"cancel", f.client.Cancel}} {
		_, err := op.call(ctx, "ord_missing")
		wantError(t, err, op.name, upstream.KindNotFound, 404, "not_found")
	}
}

// TestConfirmNamesThePaymentAndReservation: an order created before its
// payment and reservation existed gets them as it is confirmed; confirming
// again with the same ones changes nothing, and with others is refused.
func TestConfirmNamesThePaymentAndReservation(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	req := request("ord-later", "usr_ada")
	req.PaymentID, req.ReservationID = "", ""
	o, err := f.client.Create(ctx, req)
	if err != nil || o.PaymentID != "" || o.ReservationID != "" {
		t.Fatalf("Create: got %+v, %v, want a pending order naming neither", o, err)
	}
	names := order.ConfirmRequest{PaymentID: "pay_000042", ReservationID: "res_000042"}
	for range 2 {
		got, err := f.client.Confirm(ctx, o.ID, names)
		if err != nil || got.Status != order.StatusConfirmed || got.PaymentID != names.PaymentID || got.ReservationID != names.ReservationID {
			t.Fatalf("Confirm: got %+v, %v, want confirmed on %+v", got, err, names)
		}
	}
	_, err = f.client.Confirm(ctx, o.ID, order.ConfirmRequest{PaymentID: "pay_000043"})
	wantError(t, err, "confirm", upstream.KindConflict, 409, "order_mismatch")
	pending, err := f.client.Create(ctx, request("ord-named", "usr_ada"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.Confirm(ctx, pending.ID, order.ConfirmRequest{ReservationID: "res_000043"})
	wantError(t, err, "confirm", upstream.KindConflict, 409, "order_mismatch")
	if got, err := f.client.Get(ctx, pending.ID); err != nil || got.Status != order.StatusPending {
		t.Errorf("got %+v, %v, want the refused order still pending", got, err)
	}
}

func TestCreateInvalid(t *testing.T) {
	mismatch := request("bad-total", "usr_ada")
	mismatch.Total = money.New(1, "EUR")
	noUser := request("no-user", "")
	noItems := request("no-items", "usr_ada")
	noItems.Items = nil
	tests := []struct {
		name   string
		req    order.CreateRequest
		status int
		code   string
	}{
		{name: "total mismatch", req: mismatch, status: 422, code: "total_mismatch"},
		{name: "no user", req: noUser, status: 400, code: "invalid_request"},
		{name: "no items", req: noItems, status: 400, code: "invalid_request"},
	}
	f := start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.Create(context.Background(), tt.req)
			wantError(t, err, "create", upstream.KindInvalid, tt.status, tt.code)
		})
	}
}

func TestListNewestFirst(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	var want []string
	for i := range 5 {
		o, err := f.client.Create(ctx, request(fmt.Sprintf("list-%d", i), "usr_ada"))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{o.ID}, want...)
		f.clock.Advance(time.Second)
	}
	if _, err := f.client.Create(ctx, request("grace-1", "usr_grace")); err != nil {
		t.Fatal(err)
	}

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("got more than 5 pages, want 3")
		}
		page, err := f.client.List(ctx, "usr_ada", cursor, 2)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, o := range page.Items {
			got = append(got, o.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got orders %v, want %v (newest first, only Ada's)", got, want)
	}

	_, err := f.client.List(ctx, "", "", 0)
	wantError(t, err, "list", upstream.KindInvalid, 400, "invalid_request")
	_, err = f.client.List(ctx, "usr_ada", "bogus", 0)
	wantError(t, err, "list", upstream.KindInvalid, 400, "invalid_request")
}

func TestListRefusesAPageLongerThanAsked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[{"id":"o1","user_id":"usr_ada","status":"confirmed"},{"id":"o2","user_id":"usr_ada","status":"pending"},{"id":"o3","user_id":"usr_ada","status":"cancelled"}],"next_cursor":"o3"}`)
	}))
	t.Cleanup(srv.Close)
	client := order.New(upstreamtest.Service(t, "order", []string{srv.URL}, upstream.DefaultConfig()))
	_, err := client.List(context.Background(), "usr_ada", "", 2)
	wantError(t, err, "list", upstream.KindUnknown, 0, "")
	page, err := client.List(context.Background(), "usr_ada", "", 3)
	if err != nil || len(page.Items) != 3 {
		t.Errorf("got %d orders, %v asking for 3, want 3", len(page.Items), err)
	}
}

func TestAnOrderOfAnUnknownStatusIsTheServiceFailing(t *testing.T) {
	const odd = `{"id":"o1","user_id":"usr_ada","status":"shipped"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/orders" {
			_, _ = io.WriteString(w, `{"items":[`+odd+`]}`)
			return
		}
		_, _ = io.WriteString(w, odd)
	}))
	t.Cleanup(srv.Close)
	client := order.New(upstreamtest.Service(t, "order", []string{srv.URL}, upstream.DefaultConfig()))
	o, err := client.Get(context.Background(), "o1")
	if err != nil {
		t.Fatal(err)
	}
	// Checked once its owner is: another user's is a 404 whatever it holds.
	if err := o.CheckOwner("usr_grace"); upstream.KindOf(err) != upstream.KindNotFound {
		t.Errorf("Grace reading Ada's order: %v, want not found", err)
	}
	wantError(t, o.CheckStatus(), "get", upstream.KindUnknown, 0, "")
	_, err = client.List(context.Background(), "usr_ada", "", 10)
	wantError(t, err, "list", upstream.KindUnknown, 0, "")
	// Grace's list with Ada's order let through: left out by its caller.
	if page, err := client.List(context.Background(), "usr_grace", "", 10); err != nil || len(page.Items) != 1 {
		t.Errorf("Grace's list: %+v, %v; want the page, for its caller to filter", page.Items, err)
	}
}
