package orderflow

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// countedLister passes List on to the order service's client, counting the
// calls, and fails the call numbered failAt (from 1) instead, when set.
type countedLister struct {
	OrderLister
	calls, failAt int
}

func (l *countedLister) List(ctx context.Context, userID, cursor string, limit int) (order.Page, error) {
	l.calls++
	if l.calls == l.failAt {
		return order.Page{}, errors.New("the order service is down")
	}
	return l.OrderLister.List(ctx, userID, cursor, limit)
}

// TestHistory places two orders and then four checkouts that place none (a
// card declined), and walks Ada's history at several page sizes: every
// placed order comes once, newest first, whatever the declined ones in
// between, and no page costs more than historyReads calls.
func TestHistory(t *testing.T) {
	rt, clock, f := startFlow(t, nil)
	ctx := context.Background()
	var placed []string // newest first
	for i, token := range []string{payment.TokenVisa, payment.TokenVisa, payment.TokenDeclined, payment.TokenDeclined,
		payment.TokenDeclined, payment.TokenDeclined} {
		clock.Advance(time.Second) // the order service lists by creation time
		in := Input{Items: []Item{{ProductID: 1, Quantity: 1}}, PaymentToken: token}
		res, err := f.Place(ctx, Request{UserID: ada, Key: "history-" + string(rune('a'+i)), Input: in})
		switch {
		case token == payment.TokenVisa && err != nil:
			t.Fatalf("order %d: %v", i, err)
		case token == payment.TokenVisa:
			placed = append([]string{res.Order.ID}, placed...)
		case err == nil:
			t.Fatalf("order %d with a declined card was placed", i)
		}
	}
	if n := len(rt.Sandbox.State().Order.Orders); n != 6 {
		t.Fatalf("the order service holds %d orders, want 6: the declined checkouts' too, cancelled", n)
	}

	orders := rt.Clients(t, serviceConfig(nil)).Order
	// Newest first, the order service lists 4 declined orders, then the 2
	// placed. At 1 a page, the first page reads 3 declined orders and stops
	// empty; at 2, one page reads all six.
	for limit, wantPages := range map[int]int{1: 3, 2: 1, 3: 1, 10: 1} {
		l := &countedLister{OrderLister: orders}
		var got []string
		cursor := ""
		pages := 0
		for ; ; pages++ {
			if pages > 10 {
				t.Fatalf("limit %d: still paging after 10 pages", limit)
			}
			before := l.calls
			page, foreign, err := History(ctx, l, ada, cursor, limit)
			if err != nil || foreign != 0 {
				t.Fatalf("limit %d: History: %v (foreign %d)", limit, err, foreign)
			}
			if len(page.Items) > limit || l.calls-before > historyReads {
				t.Errorf("limit %d: a page of %d orders read with %d calls, want at most %d and %d",
					limit, len(page.Items), l.calls-before, limit, historyReads)
			}
			if page.NextCursor != "" && len(page.Items) < limit && l.calls-before < historyReads {
				t.Errorf("limit %d: a page of %d orders, not the last, after %d calls: want it filled from the next",
					limit, len(page.Items), l.calls-before)
			}
			for _, o := range page.Items {
				got = append(got, o.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if !reflect.DeepEqual(got, placed) || pages+1 != wantPages {
			t.Errorf("limit %d: history %v in %d pages, want the placed orders %v in %d", limit, got, pages+1, placed, wantPages)
		}
	}

	// A first page of five, whose first read brings the four declined
	// orders and the newest placed one, and whose second read fails: that
	// one order, and a cursor to go on from.
	l := &countedLister{OrderLister: orders, failAt: 2}
	page, _, err := History(ctx, l, ada, "", 5)
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != placed[0] || page.NextCursor == "" {
		t.Fatalf("history whose second read failed: %+v, %v; want the newest placed order and a cursor", page, err)
	}
	rest, _, err := History(ctx, orders, ada, page.NextCursor, 5)
	if err != nil || len(rest.Items) != 1 || rest.Items[0].ID != placed[1] {
		t.Errorf("history after that page: %+v, %v; want the older placed order", rest, err)
	}
	l = &countedLister{OrderLister: orders, failAt: 1}
	if _, _, err := History(ctx, l, ada, "", 2); err == nil {
		t.Error("history whose first read failed: no error")
	}
}

// TestPlaced leaves out the orders cancelled before they were confirmed,
// which name no payment, and keeps every other.
func TestPlaced(t *testing.T) {
	tests := []struct {
		o    order.Order
		want bool
	}{
		{order.Order{Status: order.StatusConfirmed, PaymentID: "pay_1"}, true},
		{order.Order{Status: order.StatusPending}, true},
		{order.Order{Status: order.StatusCancelled, PaymentID: "pay_2"}, true},
		{order.Order{Status: order.StatusCancelled}, false},
	}
	for _, tt := range tests {
		if got := Placed(tt.o); got != tt.want {
			t.Errorf("Placed(%s, payment %q) = %v, want %v", tt.o.Status, tt.o.PaymentID, got, tt.want)
		}
	}
}

// TestCheckPlaced: a read of one order shows the buyer's placed orders,
// and takes another user's, or one cancelled before it was placed, for
// missing; a status the documents do not know is an answer it cannot use.
func TestCheckPlaced(t *testing.T) {
	tests := []struct {
		o        order.Order
		notFound bool
		unusable bool
	}{
		{o: order.Order{UserID: "ada", Status: order.StatusConfirmed, PaymentID: "pay_1"}},
		{o: order.Order{UserID: "ada", Status: order.StatusPending}},
		{o: order.Order{UserID: "grace", Status: order.StatusConfirmed, PaymentID: "pay_1"}, notFound: true},
		{o: order.Order{UserID: "ada", Status: order.StatusCancelled}, notFound: true},
		{o: order.Order{UserID: "ada", Status: "shipped", PaymentID: "pay_1"}, unusable: true},
	}
	for _, tt := range tests {
		err := CheckPlaced(tt.o, "ada")
		notFound, unusable := upstream.KindOf(err) == upstream.KindNotFound, errors.Is(err, upstream.ErrUnusable)
		if notFound != tt.notFound || unusable != tt.unusable || (err == nil) != (!tt.notFound && !tt.unusable) {
			t.Errorf("CheckPlaced(%+v) = %v; want not found %v, unusable %v", tt.o, err, tt.notFound, tt.unusable)
		}
	}
}
