package orderflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

const ada = "usr_ada"

func TestPlaceHappyPath(t *testing.T) {
	obs := newOutcomes()
	rt, _, f := startFlow(t, nil, WithObserver(obs))
	ctx := context.Background()
	before := rt.Sandbox.State()

	in := visa(Item{ProductID: 3, Quantity: 2}, Item{ProductID: 1, Quantity: 1}, Item{ProductID: 3, Quantity: 1})
	res, err := f.Place(ctx, Request{UserID: ada, Key: "happy-1", Input: in})
	if err != nil {
		t.Fatalf("Place: %v", err)
	}

	p1, p3 := priceOf(t, rt.Sandbox, 1), priceOf(t, rt.Sandbox, 3)
	wantTotal := money.New(p1*1+p3*3, "EUR")
	if res.Order.Status != order.StatusConfirmed || res.Order.Total != wantTotal || res.Order.UserID != ada {
		t.Errorf("order: got status %q total %v user %q, want %q %v %q", res.Order.Status, res.Order.Total, res.Order.UserID,
			order.StatusConfirmed, wantTotal, ada)
	}
	wantLines := []order.Line{
		{ProductID: 1, Name: res.Products[1].Name, Quantity: 1, UnitPrice: money.New(p1, "EUR")},
		{ProductID: 3, Name: res.Products[3].Name, Quantity: 3, UnitPrice: money.New(p3, "EUR")},
	}
	if !reflect.DeepEqual(res.Order.Items, wantLines) || res.Products[1].Name == "" {
		t.Errorf("order lines: got %+v, want %+v", res.Order.Items, wantLines)
	}
	if a := res.Order.ShippingAddress; a == nil || a.City != "London" {
		t.Errorf("shipping address: got %+v, want Ada's default address in London", a)
	}
	if res.Payment.Status != payment.StatusCaptured || res.Payment.Amount != wantTotal || res.Payment.ID != res.Order.PaymentID {
		t.Errorf("payment: got %s %v id %s, want captured %v id %s", res.Payment.Status, res.Payment.Amount, res.Payment.ID,
			wantTotal, res.Order.PaymentID)
	}

	if err := f.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, err := rt.FetchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, st)
	for _, id := range []int64{1, 3} {
		b, a := stockOf(before, id), stockOf(st, id)
		want := res.Order.Items[0].Quantity
		if id == 3 {
			want = res.Order.Items[1].Quantity
		}
		if a.Sold-b.Sold != want || b.Available-a.Available != want || a.Reserved != 0 {
			t.Errorf("product %d: got sold +%d available -%d reserved %d, want +%d -%d 0",
				id, a.Sold-b.Sold, b.Available-a.Available, a.Reserved, want, want)
		}
	}
	if len(st.Product.Reservations) != 1 || st.Product.Reservations[0].Status != product.ReservationCommitted ||
		st.Product.Reservations[0].ID != res.Order.ReservationID {
		t.Errorf("reservations: got %+v, want one committed, %s", st.Product.Reservations, res.Order.ReservationID)
	}
	if n := st.Notification.Notifications; len(n) != 1 || n[0].Template != TemplateOrderConfirmed ||
		n[0].UserID != ada || n[0].Data["order_id"] != res.Order.ID {
		t.Errorf("notifications: got %+v, want one %s for order %s", n, TemplateOrderConfirmed, res.Order.ID)
	}
	if got := obs.ordered("confirmed"); got != 1 {
		t.Errorf("order outcome confirmed: got %d, want 1", got)
	}
	if got := obs.notified(NotificationSent); got != 1 {
		t.Errorf("notification outcome sent: got %d, want 1", got)
	}
	// One record opened, then the prices, the capture's phase and the end:
	// the lease may also have been renewed.
	if creates, updates := obs.journaled(JournalCreate), obs.journaled(JournalUpdate); creates != 1 || updates < 3 {
		t.Errorf("journal writes: got %d creates and %d updates, want 1 and at least 3", creates, updates)
	}
}

func TestPlaceSameReferenceTwice(t *testing.T) {
	rt, _, f := startFlow(t, nil)
	ctx := context.Background()
	first, err := f.Place(ctx, Request{UserID: ada, Key: "twice", Input: visa(Item{ProductID: 2, Quantity: 1})})
	if err != nil {
		t.Fatalf("first Place: %v", err)
	}
	second, err := f.Place(ctx, Request{UserID: ada, Key: "twice", Input: visa(Item{ProductID: 2, Quantity: 1})})
	if err != nil {
		t.Fatalf("second Place: %v", err)
	}
	if second.Order.ID != first.Order.ID || second.Payment.ID != first.Payment.ID {
		t.Errorf("second Place: got order %s payment %s, want %s %s", second.Order.ID, second.Payment.ID, first.Order.ID, first.Payment.ID)
	}
	st := rt.Sandbox.State()
	if len(st.Order.Orders) != 1 || len(st.Payment.Payments) != 1 || stockOf(st, 2).Sold != 1 {
		t.Errorf("state: got %d orders, %d payments, %d sold; want 1, 1, 1",
			len(st.Order.Orders), len(st.Payment.Payments), stockOf(st, 2).Sold)
	}
	checkInvariants(t, st)
}

func TestPlaceInvalid(t *testing.T) {
	line := Item{ProductID: 1, Quantity: 1}
	unknown := visa(line, Item{ProductID: 9999, Quantity: 1}, Item{ProductID: 8888, Quantity: 1})
	many := make([]Item, MaxLines+1)
	for i := range many {
		many[i] = Item{ProductID: int64(i + 1), Quantity: 1}
	}
	tests := []struct {
		name      string
		in        Input
		wantField string
	}{
		{"no lines", visa(), "items"},
		{"51 lines", visa(many...), "items"},
		{"quantity 0", visa(line, Item{ProductID: 2, Quantity: 0}), "items[1].quantity"},
		{"quantity 100", visa(Item{ProductID: 2, Quantity: 100}), "items[0].quantity"},
		{"merged quantity 100", visa(Item{ProductID: 2, Quantity: 99}, line, Item{ProductID: 2, Quantity: 1}), "items[2].quantity"},
		{"product 0", visa(Item{ProductID: 0, Quantity: 1}), "items[0].product_id"},
		{"unknown product", unknown, "items[1].product_id"},
		{"empty token", Input{Items: []Item{line}}, "payment_token"},
	}
	q := startQuietSandbox(t, sandbox.Config{})
	f := New(q.deps(t), DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Place(context.Background(), Request{UserID: ada, Key: "invalid-" + tt.name, Input: tt.in})
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.CodeInvalid || pe.Field != tt.wantField {
				t.Fatalf("Place: got %v, want %s on field %q", err, problem.CodeInvalid, tt.wantField)
			}
		})
	}
	// Nothing is kept for an order that could not be priced: its key,
	// retried with the body fixed, places the order.
	res, err := f.Place(context.Background(), Request{UserID: ada, Key: "invalid-unknown product", Input: visa(line)})
	if err != nil || res.Replayed {
		t.Errorf("retry of an unknown product with the body fixed: %v (replayed %v), want a new order", err, res.Replayed)
	}
	// A well-formed token the provider does not know is its refusal.
	_, err = f.Place(context.Background(), Request{UserID: ada, Key: "invalid-unknown-token", Input: Input{Items: []Item{line}, PaymentToken: "tok_bogus"}})
	if pe := problem.From(err); pe.Code != problem.CodePaymentDeclined || pe.Extensions["reason"] != "invalid_token" {
		t.Errorf("an unknown token: %v, want payment_declined for invalid_token", err)
	}
	st := q.State()
	checkInvariants(t, st)
	// The declined order was created beside its hold, then cancelled;
	// the unpriced ones never were.
	statuses := map[string]int{}
	for _, o := range st.Order.Orders {
		statuses[o.Status]++
	}
	if want := map[string]int{order.StatusConfirmed: 1, order.StatusCancelled: 1}; !maps.Equal(statuses, want) {
		t.Errorf("orders by status: got %v, want %v (the retry's, and the declined one cancelled)", statuses, want)
	}
}

// TestPlaceOutOfStock: a line short of stock is refused with every short
// line and what is left of it. When the stock read with the prices falls
// short, nothing is sent to any service; when another order takes the stock
// between that read and the reservation, the reservation is refused, and
// the hold and the order made beside it are undone.
func TestPlaceOutOfStock(t *testing.T) {
	for _, tt := range []struct {
		name string
		// read is the stock of products 5 and 6 when the prices are read,
		// and after, when not nil, what another order leaves of it just
		// after.
		read, after map[int64]int
	}{
		{"in the stock read", map[int64]int{5: 2, 6: 0}, nil},
		{"at the reservation", map[int64]int{5: 3, 6: 1}, map[int64]int{5: 2, 6: 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := startQuietSandbox(t, sandbox.Config{})
			setStock := func(stock map[int64]int) error {
				for id, n := range stock {
					if err := q.SetStock(id, n); err != nil {
						return err
					}
				}
				return nil
			}
			deps := q.deps(t)
			if tt.after != nil {
				deps.Catalog = &takenAfterPricing{Catalog: deps.Catalog, take: func() error { return setStock(tt.after) }}
			}
			f := New(deps, DefaultConfig())
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			if err := setStock(tt.read); err != nil {
				t.Fatal(err)
			}
			_, err := f.Place(context.Background(), Request{UserID: ada, Key: "oos", Input: visa(Item{ProductID: 6, Quantity: 1}, Item{ProductID: 4, Quantity: 1}, Item{ProductID: 5, Quantity: 3})})
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.CodeOutOfStock {
				t.Fatalf("Place: got %v, want %s", err, problem.CodeOutOfStock)
			}
			want := []upstream.UnavailableLine{{ProductID: 5, Requested: 3, Available: 2}, {ProductID: 6, Requested: 1, Available: 0}}
			if got := pe.Extensions["unavailable"]; !reflect.DeepEqual(got, want) {
				t.Errorf("unavailable: got %+v, want %+v", got, want)
			}
			st := q.State()
			checkInvariants(t, st)
			writes := st.Product.Requests["POST /reservations"] + st.Payment.Requests["POST /payments"] + st.Order.Requests["POST /orders"]
			switch p := st.Payment.Payments; {
			case tt.after == nil && writes != 0:
				t.Errorf("%d writes sent for an order the stock read showed short, want none", writes)
			case tt.after != nil && (len(p) != 1 || p[0].Status != payment.StatusVoided):
				// The hold was taken beside the reservation, and voided.
				t.Errorf("payments: got %+v, want one voided hold", p)
			}
			// The refusal is the key's answer, replayed however the stock
			// changes since.
			if err := setStock(map[int64]int{5: 10, 6: 10}); err != nil {
				t.Fatal(err)
			}
			res, err := f.Place(context.Background(), Request{UserID: ada, Key: "oos", Input: visa(Item{ProductID: 6, Quantity: 1}, Item{ProductID: 4, Quantity: 1}, Item{ProductID: 5, Quantity: 3})})
			if codeOf(t, err) != problem.CodeOutOfStock || !res.Replayed {
				t.Errorf("the key's retry once restocked: %v (replayed %v), want %s replayed", err, res.Replayed, problem.CodeOutOfStock)
			}
		})
	}
}

// TestAnOutOfStockAnswerIsKeptBeforeItIsGiven: the 409 of an order the
// stock read refused is the key's answer, so it is given only once on
// disk: replayed by another replica once the first is gone, however the
// stock changed since; and when the journal cannot take it, the buyer
// gets a 503 to retry with, not a 409 that a retry could contradict. A
// checkout without a key, whose answer nobody can ask for again, gets its
// 409 whatever the journal's trouble.
func TestAnOutOfStockAnswerIsKeptBeforeItIsGiven(t *testing.T) {
	for _, tt := range []struct {
		name    string
		key     string
		journal func(Journal) Journal
		want    problem.Code
		// replayed: the key's retry on another replica gets the answer.
		replayed bool
	}{
		{"kept", "oos kept", func(j Journal) Journal { return j }, problem.CodeOutOfStock, true},
		{"the journal fails it", "oos lost", func(j Journal) Journal { return failingOutOfStock{j} }, problem.CodeUnavailable, false},
		{"keyless, the journal down", "", func(j Journal) Journal { return refusingCreate{j} }, problem.CodeOutOfStock, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := startQuietSandbox(t, sandbox.Config{})
			clock := clocktest.New(time.Now())
			shared := newMemJournal()
			ctx := context.Background()
			depsA := q.deps(t)
			depsA.Journal = tt.journal(shared)
			a := New(depsA, DefaultConfig(), WithClock(clock.Now))
			if err := q.SetStock(6, 0); err != nil {
				t.Fatal(err)
			}
			req := Request{UserID: ada, Key: tt.key, Input: visa(Item{ProductID: 6, Quantity: 1})}
			_, err := a.Place(ctx, req)
			_ = a.Close(ctx) // replica A is gone
			if got := codeOf(t, err); got != tt.want {
				t.Fatalf("answer: %v, want %s", err, tt.want)
			}
			if !tt.replayed {
				return
			}
			clock.Advance(time.Minute)
			if err := q.SetStock(6, 10); err != nil {
				t.Fatal(err)
			}
			depsB := q.deps(t)
			depsB.Journal = shared
			b := New(depsB, DefaultConfig(), WithClock(clock.Now))
			t.Cleanup(func() { _ = b.Close(context.Background()) })
			res, err := b.Place(ctx, req)
			if codeOf(t, err) != problem.CodeOutOfStock || !res.Replayed {
				t.Errorf("the key's retry on another replica once restocked: order %q, %v (replayed %v); want %s replayed",
					res.Order.ID, err, res.Replayed, problem.CodeOutOfStock)
			}
		})
	}
}

// TestARetryWaitingForLateWritesIsBusy: a checkout whose refusal could not
// be journaled is left running with no prices, and recovery, which cannot
// tell that nothing was sent, waits until a write sent then could no
// longer land. A retry that claims it meanwhile is told the key is busy
// until then, not that the order was undone; once the window has passed,
// a fresh attempt answers.
func TestARetryWaitingForLateWritesIsBusy(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	clock := clocktest.New(time.Now())
	deps := q.deps(t)
	deps.Journal = &failingOutOfStockOnce{Journal: deps.Journal}
	cfg := DefaultConfig()
	f := New(deps, cfg, WithClock(clock.Now), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	if err := q.SetStock(6, 0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := Request{UserID: ada, Key: "oos blip", Input: visa(Item{ProductID: 6, Quantity: 1})}
	if _, err := f.Place(ctx, req); codeOf(t, err) != problem.CodeUnavailable {
		t.Fatalf("the refusal the journal did not take: %v, want %s", err, problem.CodeUnavailable)
	}
	start := clock.Now()
	clock.Advance(cfg.LeaseTTL + time.Second) // the runner's lease is over
	_, err := f.Place(ctx, req)
	var pe *problem.Error
	window := cfg.Timeout + cfg.LateWrites - cfg.LeaseTTL - time.Second
	if !errors.As(err, &pe) || pe.Code != problem.CodeIdempotencyBusy || pe.RetryAfter <= 0 || pe.RetryAfter > window {
		t.Fatalf("the retry that claims it: %v, want %s for at most %v", err, problem.CodeIdempotencyBusy, window)
	}
	clock.Set(start.Add(cfg.Timeout + cfg.LateWrites + time.Second))
	res, err := f.Place(ctx, req)
	if codeOf(t, err) != problem.CodeOutOfStock || res.Replayed {
		t.Errorf("the retry once no write can land: %v (replayed %v), want a fresh %s", err, res.Replayed, problem.CodeOutOfStock)
	}
}

// failingOutOfStockOnce is failingOutOfStock for the first such write
// only: a journal that missed one write.
type failingOutOfStockOnce struct {
	Journal
	failed atomic.Bool
}

func (j *failingOutOfStockOnce) Update(ctx context.Context, rec Record) error {
	if rec.State == StateFailed && rec.Failure != nil && rec.Failure.Code == problem.CodeOutOfStock && j.failed.CompareAndSwap(false, true) {
		return errors.New("the journal missed a write")
	}
	return j.Journal.Update(ctx, rec)
}

// failingOutOfStock is a journal that fails the write of an out-of-stock
// failure, as a replica killed before it landed would.
type failingOutOfStock struct{ Journal }

func (j failingOutOfStock) Update(ctx context.Context, rec Record) error {
	if rec.State == StateFailed && rec.Failure != nil && rec.Failure.Code == problem.CodeOutOfStock {
		return errors.New("the replica is killed")
	}
	return j.Journal.Update(ctx, rec)
}

// refusingCreate is a journal that takes no new record: down.
type refusingCreate struct{ Journal }

func (refusingCreate) Create(context.Context, Record) (Record, bool, error) {
	return Record{}, false, errors.New("the journal is down")
}

// takenAfterPricing is a catalog whose stock another order takes, by take,
// just after each read of prices.
type takenAfterPricing struct {
	Catalog
	take func() error
}

func (c *takenAfterPricing) GetMany(ctx context.Context, ids []int64) (product.Batch, error) {
	b, err := c.Catalog.GetMany(ctx, ids)
	if err == nil {
		err = c.take()
	}
	return b, err
}

func TestPlaceDeclined(t *testing.T) {
	tests := []struct {
		token      string
		wantReason string
	}{
		{payment.TokenDeclined, payment.ReasonCardDeclined},
		{payment.TokenInsufficientFunds, payment.ReasonInsufficientFunds},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			q := startQuietSandbox(t, sandbox.Config{})
			f := New(q.deps(t), DefaultConfig())
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			before := stockOf(q.State(), 8)
			_, err := f.Place(context.Background(), Request{UserID: ada, Key: "declined", Input: Input{Items: []Item{{ProductID: 8, Quantity: 2}}, PaymentToken: tt.token}})
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.CodePaymentDeclined || pe.Extensions["reason"] != tt.wantReason {
				t.Fatalf("Place: got %v (%+v), want %s with reason %s", err, pe, problem.CodePaymentDeclined, tt.wantReason)
			}
			st := q.State()
			checkInvariants(t, st)
			if after := stockOf(st, 8); after != before {
				t.Errorf("stock: got %+v, want it unchanged %+v", after, before)
			}
			if r := st.Product.Reservations; len(r) != 1 || r[0].Status != product.ReservationReleased {
				t.Errorf("reservations: got %+v, want one released", r)
			}
		})
	}
}

func TestPlaceUpstreamDown(t *testing.T) {
	closed := httptest.NewServer(nil)
	closed.Close()
	tests := []struct {
		name    string
		service string
		route   string
		down    bool // the service's URL refuses connections instead
	}{
		{name: "product 503", service: sandbox.ServiceProduct, route: "*"},
		{name: "user 503", service: sandbox.ServiceUser, route: sandbox.RouteUser},
		{name: "payment 503", service: sandbox.ServicePayment, route: "*"},
		{name: "order 503", service: sandbox.ServiceOrder, route: sandbox.RouteCreateOrder},
		{name: "user unreachable", service: sandbox.ServiceUser, down: true},
		{name: "order unreachable", service: sandbox.ServiceOrder, down: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := startQuietSandbox(t, sandbox.Config{})
			if tt.down {
				q.urls[tt.service] = closed.URL
			} else {
				q.fault(t, tt.service, sandbox.Fault{Route: tt.route, Status: 503})
			}
			// A payment service that answers 503 to everything cannot be
			// asked whether the hold exists, so the read-back runs until its
			// budget ends; keep that short.
			f := New(q.deps(t), configWith(func(c *Config) { c.CompensationBudget = 300 * time.Millisecond }),
				WithBackoff(time.Millisecond, 10*time.Millisecond))
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			_, err := f.Place(context.Background(), Request{UserID: ada, Key: "down", Input: visa(Item{ProductID: 9, Quantity: 1})})
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.CodeUnavailable || pe.RetryAfter != 2*time.Second {
				t.Fatalf("Place: got %v (%+v), want %s with Retry-After 2s", err, pe, problem.CodeUnavailable)
			}
			q.quiesce()
			checkInvariants(t, q.State())
		})
	}
}

// goneCatalog refuses every reservation as the product service does for a
// product it no longer knows.
type goneCatalog struct{ Catalog }

func (goneCatalog) Reserve(context.Context, product.ReserveRequest) (product.Reservation, error) {
	return product.Reservation{}, &upstream.Error{Service: "product", Kind: upstream.KindInvalid, Code: unknownProduct}
}

// TestPlaceReservationRefused: a reservation refused for a product gone
// since it was priced is the buyer's 400, replayed; any other refusal of
// the reservation is the service failing, a 503 that a retry of the same
// key gets past.
func TestPlaceReservationRefused(t *testing.T) {
	t.Run("product gone", func(t *testing.T) {
		q := startQuietSandbox(t, sandbox.Config{})
		deps := q.deps(t)
		deps.Catalog = goneCatalog{deps.Catalog}
		f := New(deps, DefaultConfig())
		t.Cleanup(func() { _ = f.Close(context.Background()) })
		req := Request{UserID: ada, Key: "gone", Input: visa(Item{ProductID: 9, Quantity: 1})}
		for range 2 {
			_, err := f.Place(context.Background(), req)
			if codeOf(t, err) != problem.CodeInvalid {
				t.Fatalf("Place: %v, want %s", err, problem.CodeInvalid)
			}
		}
	})
	t.Run("another refusal", func(t *testing.T) {
		q := startQuietSandbox(t, sandbox.Config{})
		q.fault(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReserve, Status: 422, Count: 1})
		f := New(q.deps(t), DefaultConfig(), WithBackoff(time.Millisecond, 10*time.Millisecond))
		t.Cleanup(func() { _ = f.Close(context.Background()) })
		req := Request{UserID: ada, Key: "refused", Input: visa(Item{ProductID: 9, Quantity: 1})}
		if _, err := f.Place(context.Background(), req); codeOf(t, err) != problem.CodeUnavailable {
			t.Fatalf("Place: %v, want %s", err, problem.CodeUnavailable)
		}
		res, err := f.Place(context.Background(), req)
		if err != nil || res.Order.Status != order.StatusConfirmed {
			t.Fatalf("retry of the same key: %+v, %v; want a confirmed order", res.Order, err)
		}
		behind(t, f)
		q.quiesce()
		checkInvariants(t, q.State())
	})
}

// TestPlaceRetryOfAnUnfinishedSagaIsNoReplay: a retry that finds its key's
// saga unfinished and cannot settle it (the order service still refuses
// the confirmation) is answered as itself, not as a stored outcome.
func TestPlaceRetryOfAnUnfinishedSagaIsNoReplay(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	q.fault(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteConfirm, Status: 503})
	f := New(q.deps(t), configWith(func(c *Config) { c.CompensationBudget = 300 * time.Millisecond }),
		WithBackoff(time.Millisecond, 10*time.Millisecond))
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	req := Request{UserID: ada, Key: "unfinished", Input: visa(Item{ProductID: 9, Quantity: 1})}
	if _, err := f.Place(context.Background(), req); err == nil {
		t.Fatal("Place with the confirmation refused: no error")
	}
	res, err := f.Place(context.Background(), req)
	if err == nil || res.Replayed {
		t.Fatalf("retry while the confirmation is still refused: replayed %v, %v; want an error, not a replay", res.Replayed, err)
	}
}

// TestPlaceLateHold: a payment hold whose authorization went unanswered,
// and was not found when the checkout was undone, may still land: the saga
// stays unfinished, its key answering 409 until the hold can no longer
// land, and recovery then voids one that landed, or, none having landed,
// lets the saga fail.
func TestPlaceLateHold(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault sandbox.Fault
		lands bool
	}{
		{"lands late", sandbox.Fault{Route: sandbox.RouteAuthorize, LatencyMS: 1500}, true},
		{"never lands", sandbox.Fault{Route: sandbox.RouteAuthorize, Drop: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := startQuietSandbox(t, sandbox.Config{})
			q.fault(t, sandbox.ServicePayment, tt.fault)
			var skew atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			f := New(q.deps(t), configWith(func(c *Config) { c.Timeout = 300 * time.Millisecond }),
				WithClock(now), WithBackoff(time.Millisecond, 10*time.Millisecond))
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			ctx := context.Background()
			req := Request{UserID: ada, Key: "late", Input: visa(Item{ProductID: 9, Quantity: 1})}
			if _, err := f.Place(ctx, req); err == nil {
				t.Fatal("Place with the authorization unanswered: no error")
			}
			if n, err := f.Recover(ctx); n != 0 || err != nil {
				t.Fatalf("Recover within the window = %d, %v; want the saga left until the hold can no longer land", n, err)
			}
			if rec := sagaOf(t, f, req); rec.State.Finished() {
				t.Fatalf("saga %s within the window; want it unfinished while the hold may land", rec.State)
			}
			_, err := f.Place(ctx, req)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.CodeIdempotencyBusy || pe.RetryAfter <= 0 {
				t.Fatalf("retry within the window: %v; want %s with Retry-After", err, problem.CodeIdempotencyBusy)
			}
			q.quiesce() // a late hold has landed now
			if st := q.State(); tt.lands != (len(st.Payment.Payments) == 1) {
				t.Fatalf("payments %v; want a late hold: %v", st.Payment.Payments, tt.lands)
			}
			skew.Store(int64(time.Hour))
			if n, err := f.Recover(ctx); n != 1 || err != nil {
				t.Fatalf("Recover once the window passed = %d, %v; want the saga settled", n, err)
			}
			if rec := sagaOf(t, f, req); rec.State != StateFailed {
				t.Errorf("saga %s, want failed", rec.State)
			}
			q.quiesce()
			checkInvariants(t, q.State())
		})
	}
}

// TestRecoveryOfAnEarlierVersionsOrder: an earlier version created its
// order naming the payment and the reservation, captured the payment and
// died before journaling it (its confirmation sent or not). Recovery, the
// payment read back as captured, goes forward; its creation, sent again
// without them, meets the reference as reused, and takes the order made
// under it: that one is confirmed and sold, and the retry of the key gets
// it. Nothing is refunded, and no second order is made.
func TestRecoveryOfAnEarlierVersionsOrder(t *testing.T) {
	for _, confirmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("confirmed=%v", confirmed), func(t *testing.T) {
			q := startQuietSandbox(t, sandbox.Config{})
			f := New(q.deps(t), DefaultConfig())
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			ctx := context.Background()
			req := Request{UserID: ada, Key: "upgrade", Input: visa(Item{ProductID: 4, Quantity: 2})}
			s, err := f.newSaga(req.UserID, req.Input)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.price(ctx); err != nil {
				t.Fatal(err)
			}
			rec := Record{ID: f.sagaID(req.UserID, req.Key), UserID: ada, Key: req.Key, Fingerprint: fingerprint(s.lines, s.token),
				State: StateRunning, Step: StepStarted, Items: s.items, Total: s.total, Version: 1}
			ref, d := f.attemptRef(rec), f.deps
			r, err := d.Catalog.Reserve(ctx, product.ReserveRequest{Reference: ref + "-res", Items: []product.Line{{ProductID: 4, Quantity: 2}}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Payments.Authorize(ctx, payment.AuthorizeRequest{Reference: ref + "-pay", UserID: ada, Amount: s.total, Token: payment.TokenVisa})
			if err != nil {
				t.Fatal(err)
			}
			o, err := d.Orders.Create(ctx, order.CreateRequest{Reference: ref + "-ord", UserID: ada, Items: s.items, Total: s.total,
				PaymentID: p.ID, ReservationID: r.ID})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Payments.Capture(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if confirmed {
				if _, err := d.Orders.Confirm(ctx, o.ID, order.ConfirmRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			f.stamp(&rec, 0)
			if _, created, err := d.Journal.Create(ctx, rec); err != nil || !created {
				t.Fatalf("Create: %v, %v", created, err)
			}
			if n, err := f.Recover(ctx); n != 1 || err != nil {
				t.Fatalf("Recover = %d, %v", n, err)
			}
			if got, _, _ := d.Journal.Get(ctx, rec.ID); got.State != StateCompleted {
				t.Errorf("the earlier version's saga is %s after recovery, want it completed", got.State)
			}
			res, err := f.Place(ctx, req)
			if err != nil || !res.Replayed || res.Order.ID != o.ID {
				t.Errorf("retry of the key: order %q (replayed %v), %v; want %s, replayed", res.Order.ID, res.Replayed, err, o.ID)
			}
			q.quiesce()
			st := q.State()
			checkInvariants(t, st)
			if len(st.Order.Orders) != 1 || st.Order.Orders[0].Status != order.StatusConfirmed {
				t.Errorf("orders %+v, want the earlier version's alone, confirmed", st.Order.Orders)
			}
		})
	}
}

// TestRecoveryOfAnEarlierVersionsSaga: a record without Started, written
// by an earlier version, began before this process: recovery does not wait
// for its writes to land, and settles it.
func TestRecoveryOfAnEarlierVersionsSaga(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	f := New(q.deps(t), DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	rec := Record{ID: "saga-old", UserID: ada, Key: "k", Version: 1, State: StateRunning, Step: StepStarted}
	f.stamp(&rec, 0)
	if _, created, err := f.deps.Journal.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
	if n, err := f.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if got, _, _ := f.deps.Journal.Get(ctx, rec.ID); !got.State.Finished() {
		t.Errorf("the earlier version's saga is %s after recovery, want it finished", got.State)
	}
}

// sagaOf is the journal's record of req's checkout.
func sagaOf(t *testing.T, f *Flow, req Request) Record {
	t.Helper()
	rec, ok, err := f.deps.Journal.Get(context.Background(), f.sagaID(req.UserID, req.Key))
	if err != nil || !ok {
		t.Fatalf("no record of %s: %v", req.Key, err)
	}
	return rec
}

// TestPlaceReplaysALegacyResultAsConfirmed: a completed result journaled by
// an earlier version without its order's status (recovered, the order not
// read back) is replayed as the confirmed order it is.
func TestPlaceReplaysALegacyResultAsConfirmed(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	deps := q.deps(t)
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	req := Request{UserID: ada, Key: "legacy", Input: visa(Item{ProductID: 9, Quantity: 1})}
	first, err := f.Place(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.completions.await(ctx, f.sagaID(req.UserID, req.Key))
	j := deps.Journal.(*memJournal)
	j.mu.Lock()
	rec := j.recs[f.sagaID(req.UserID, req.Key)]
	legacy := *rec.Result
	legacy.Order = order.Order{ID: first.Order.ID}
	rec.Result = &legacy
	j.recs[rec.ID] = rec
	j.mu.Unlock()
	res, err := f.Place(ctx, req)
	if err != nil || !res.Replayed || res.Order.ID != first.Order.ID || res.Order.Status != order.StatusConfirmed {
		t.Fatalf("replay: %+v, replayed %v, %v; want order %s confirmed", res.Order, res.Replayed, err, first.Order.ID)
	}
}

func TestPlaceDeadline(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // Flow's
		ctxTime time.Duration // the caller's
	}{
		{"flow timeout", 200 * time.Millisecond, time.Minute},
		{"caller deadline", time.Minute, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := startQuietSandbox(t, sandbox.Config{})
			q.fault(t, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, LatencyMS: 600})
			f := New(q.deps(t), configWith(func(c *Config) { c.Timeout = tt.timeout }))
			t.Cleanup(func() { _ = f.Close(context.Background()) })
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTime)
			defer cancel()
			_, err := f.Place(ctx, Request{UserID: ada, Key: "slow", Input: visa(Item{ProductID: 10, Quantity: 1})})
			if got := codeOf(t, err); got != problem.CodeTimeout {
				t.Fatalf("Place: got %v, want %s", err, problem.CodeTimeout)
			}
			q.quiesce()
			st := q.State()
			checkInvariants(t, st)
			if p := st.Payment.Payments; len(p) != 1 || p[0].Status != payment.StatusVoided {
				t.Errorf("payments: got %+v, want one voided", p)
			}
		})
	}
}

// cancelOnCapture plays a client that goes away just as the payment is
// being captured (and the order created).
type cancelOnCapture struct {
	Payments
	cancel context.CancelFunc
}

func (c cancelOnCapture) Capture(ctx context.Context, id string) (payment.Payment, error) {
	c.cancel()
	return c.Payments.Capture(ctx, id)
}

func TestPlaceClientGoneStillCompensates(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := q.deps(t)
	d.Payments = cancelOnCapture{Payments: d.Payments, cancel: cancel}
	f := New(d, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })

	_, err := f.Place(ctx, Request{UserID: ada, Key: "gone", Input: visa(Item{ProductID: 11, Quantity: 2})})
	if got := codeOf(t, err); got != problem.CodeTimeout {
		t.Fatalf("Place: got %v, want %s", err, problem.CodeTimeout)
	}
	st := q.State()
	checkInvariants(t, st)
	if p := st.Payment.Payments; len(p) != 1 || p[0].Status != payment.StatusVoided {
		t.Errorf("payments: got %+v, want one voided", p)
	}
	// The order is created beside the capture: cut short before it was
	// sent, or cancelled.
	if o := st.Order.Orders; len(o) > 1 || len(o) == 1 && o[0].Status != order.StatusCancelled {
		t.Errorf("orders: got %+v, want none or one cancelled", o)
	}
}

func TestPlaceFaults(t *testing.T) {
	type step struct{ service, route string }
	var (
		reserve   = step{sandbox.ServiceProduct, sandbox.RouteReserve}
		authorize = step{sandbox.ServicePayment, sandbox.RouteAuthorize}
		create    = step{sandbox.ServiceOrder, sandbox.RouteCreateOrder}
		capture   = step{sandbox.ServicePayment, sandbox.RouteCapture}
		confirm   = step{sandbox.ServiceOrder, sandbox.RouteConfirm}
		commit    = step{sandbox.ServiceProduct, sandbox.RouteCommit}
		notify    = step{sandbox.ServiceNotification, sandbox.RouteNotify}
	)
	// Each kind of fault comes with the flow's deadline to use against it.
	// A slow answer takes 2 s against a 1.2 s deadline, so it lands after the
	// flow gave up and compensated. The other faults answer at once, and
	// their deadline is long so that a busy test machine cannot turn them
	// into timeouts.
	type faultKind struct {
		fault    sandbox.Fault
		deadline time.Duration
	}
	const relaxed = 10 * time.Second
	var (
		status503     = faultKind{sandbox.Fault{Status: 503}, relaxed}
		status503Once = faultKind{sandbox.Fault{Status: 503, Count: 1}, relaxed}
		slow          = faultKind{sandbox.Fault{LatencyMS: 2000}, 1200 * time.Millisecond}
		slowOnce      = faultKind{sandbox.Fault{LatencyMS: 2000, Count: 1}, 1200 * time.Millisecond}
		drop          = faultKind{sandbox.Fault{Drop: true}, relaxed}
		dropOnce      = faultKind{sandbox.Fault{Drop: true, Count: 1}, relaxed}
		dropAfter     = faultKind{sandbox.Fault{Drop: true, After: true}, relaxed}
		dropAfterOnce = faultKind{sandbox.Fault{Drop: true, After: true, Count: 1}, relaxed}
	)
	const ok = problem.Code("")
	tests := []struct {
		name  string
		step  step
		fault faultKind
		want  problem.Code
		// advance moves the sandbox clock before the invariants are
		// checked: only where a creating request was still in flight when
		// the flow gave up, so what it created can only expire.
		advance time.Duration
		// notified is whether the order_confirmed notification is recorded.
		notified bool
	}{
		{"reserve 503", reserve, status503, problem.CodeUnavailable, 0, false},
		{"reserve 503 once", reserve, status503Once, ok, 0, true},
		{"reserve slow", reserve, slow, problem.CodeTimeout, pastTTLs, false},
		{"reserve slow once", reserve, slowOnce, ok, 0, true},
		{"reserve drop", reserve, drop, problem.CodeUnavailable, 0, false},
		{"reserve drop once", reserve, dropOnce, ok, 0, true},
		{"reserve drop after", reserve, dropAfter, problem.CodeUnavailable, 0, false},
		{"reserve drop after once", reserve, dropAfterOnce, ok, 0, true},

		{"authorize 503", authorize, status503, problem.CodeUnavailable, 0, false},
		{"authorize 503 once", authorize, status503Once, ok, 0, true},
		{"authorize slow", authorize, slow, problem.CodeTimeout, pastTTLs, false},
		{"authorize slow once", authorize, slowOnce, ok, 0, true},
		{"authorize drop", authorize, drop, problem.CodeUnavailable, 0, false},
		{"authorize drop once", authorize, dropOnce, ok, 0, true},
		{"authorize drop after", authorize, dropAfter, problem.CodeUnavailable, 0, false},
		{"authorize drop after once", authorize, dropAfterOnce, ok, 0, true},

		// A create that lands late finds its order cancelled.
		{"create 503", create, status503, problem.CodeUnavailable, 0, false},
		{"create 503 once", create, status503Once, ok, 0, true},
		{"create slow", create, slow, problem.CodeTimeout, 0, false},
		{"create slow once", create, slowOnce, ok, 0, true},
		{"create drop", create, drop, problem.CodeUnavailable, 0, false},
		{"create drop once", create, dropOnce, ok, 0, true},
		{"create drop after", create, dropAfter, problem.CodeUnavailable, 0, false},
		{"create drop after once", create, dropAfterOnce, ok, 0, true},

		{"capture 503", capture, status503, problem.CodeUnavailable, 0, false},
		{"capture 503 once", capture, status503Once, ok, 0, true},
		{"capture slow", capture, slow, problem.CodeTimeout, 0, false},
		{"capture slow once", capture, slowOnce, ok, 0, true},
		{"capture drop", capture, drop, problem.CodeUnavailable, 0, false},
		{"capture drop once", capture, dropOnce, ok, 0, true},
		{"capture drop after", capture, dropAfter, problem.CodeUnavailable, 0, false},
		{"capture drop after once", capture, dropAfterOnce, ok, 0, true},

		{"confirm 503", confirm, status503, problem.CodeUnavailable, 0, false},
		{"confirm 503 once", confirm, status503Once, ok, 0, true},
		{"confirm slow", confirm, slow, problem.CodeTimeout, 0, false},
		{"confirm slow once", confirm, slowOnce, ok, 0, true},
		{"confirm drop", confirm, drop, problem.CodeUnavailable, 0, false},
		{"confirm drop once", confirm, dropOnce, ok, 0, true},
		{"confirm drop after", confirm, dropAfter, problem.CodeUnavailable, 0, false},
		{"confirm drop after once", confirm, dropAfterOnce, ok, 0, true},
		// Refused outright (the order cancelled meanwhile): nothing was
		// sold, and the order is undone, refund included.
		{"confirm refused", confirm, faultKind{sandbox.Fault{Status: 409}, relaxed}, problem.CodeUnavailable, 0, false},

		{"commit 503", commit, status503, problem.CodeUnavailable, 0, false},
		{"commit 503 once", commit, status503Once, ok, 0, true},
		{"commit slow", commit, slow, problem.CodeTimeout, 0, false},
		{"commit slow once", commit, slowOnce, ok, 0, true},
		{"commit drop", commit, drop, problem.CodeUnavailable, 0, false},
		{"commit drop once", commit, dropOnce, ok, 0, true},
		// Every commit went through but no answer came back: the saga goes
		// forward, and recovery completes the order.
		{"commit drop after", commit, dropAfter, problem.CodeUnavailable, 0, false},
		{"commit drop after once", commit, dropAfterOnce, ok, 0, true},

		// A notification never fails the order; a slow one still lands.
		{"notify 503", notify, status503, ok, 0, false},
		{"notify 503 once", notify, status503Once, ok, 0, true},
		{"notify slow", notify, slow, ok, 0, true},
		{"notify slow once", notify, slowOnce, ok, 0, true},
		{"notify drop", notify, drop, ok, 0, false},
		{"notify drop once", notify, dropOnce, ok, 0, true},
		{"notify drop after", notify, dropAfter, ok, 0, true},
		{"notify drop after once", notify, dropAfterOnce, ok, 0, true},
	}
	// The rows run concurrently rather than with t.Parallel: most of their
	// time is spent waiting for injected latency to pass, which -parallel
	// (GOMAXPROCS by default) would serialize. Only a few at a time start a
	// sandbox and place their order, though, so that a burst of dials on a
	// busy machine does not eat the deadlines.
	var rows sync.WaitGroup
	defer rows.Wait()
	busy := make(chan struct{}, 6)
	for _, tt := range tests {
		rows.Go(func() {
			t.Run(tt.name, func(t *testing.T) {
				busy <- struct{}{}
				done := sync.OnceFunc(func() { <-busy })
				defer done()
				q := startQuietSandbox(t, sandbox.Config{})
				fault := tt.fault.fault
				fault.Route = tt.step.route
				q.fault(t, tt.step.service, fault)
				f := New(q.deps(t), configWith(func(c *Config) {
					c.Timeout, c.CompensationBudget = tt.fault.deadline, 3*time.Second
					c.NotifyTimeout, c.NotifyAttempts = 200*time.Millisecond, 3
				}), WithBackoff(5*time.Millisecond, 50*time.Millisecond))
				ctx := context.Background()
				before := stockOf(q.State(), 12)

				res, err := f.Place(ctx, Request{UserID: ada, Key: "fault", Input: visa(Item{ProductID: 12, Quantity: 2})})
				done()
				if got := codeOf(t, err); got != tt.want {
					t.Fatalf("Place: got %q (%v), want %q", got, err, tt.want)
				}
				// Once the commit failed, the order is confirmed and the
				// stock may be sold: the saga is left for recovery, which
				// completes it when the service is back.
				forward := tt.want != ok && tt.step == commit
				behind(t, f)
				if forward {
					q.quiesce()
					q.clearFaults(t)
					if n, err := f.Recover(ctx); n != 1 || err != nil {
						t.Fatalf("Recover took %d sagas (%v), want the one left to it", n, err)
					}
					if res, err = f.Place(ctx, Request{UserID: ada, Key: "fault", Input: visa(Item{ProductID: 12, Quantity: 2})}); err != nil || !res.Replayed {
						t.Fatalf("retry after recovery: replayed %v, %v; want the recovered order", res.Replayed, err)
					}
				}
				if err := f.Close(ctx); err != nil {
					t.Fatalf("Close: %v", err)
				}
				q.quiesce()
				q.clock.Advance(tt.advance)
				st := q.State()
				// A creation that landed after the undo leaves its order
				// pending, for recovery, which cancels it once the service
				// is back: every other invariant holds before recovery, and
				// that one too after it.
				for _, err := range st.Invariants() {
					if !strings.Contains(err.Error(), "is left pending") {
						t.Errorf("invariant before recovery: %v", err)
					}
				}
				q.clearFaults(t)
				n, err := f.Recover(ctx)
				if pending := pendingOrders(st); err != nil || len(pending) > 0 && n == 0 {
					t.Fatalf("Recover took %d sagas (%v) with orders %v pending, want theirs", n, err, pending)
				}
				q.quiesce()
				checkInvariants(t, q.State())

				wantSold := 0
				var wantConfirmed []string
				if tt.want == ok || forward {
					wantSold = 2
					wantConfirmed = []string{res.Order.ID}
				}
				var confirmed []string
				for _, o := range st.Order.Orders {
					if o.Status == order.StatusConfirmed {
						confirmed = append(confirmed, o.ID)
					}
				}
				if !reflect.DeepEqual(confirmed, wantConfirmed) {
					t.Errorf("confirmed orders: got %v, want %v", confirmed, wantConfirmed)
				}
				if after := stockOf(st, 12); after.Sold-before.Sold != wantSold || after.Reserved != 0 {
					t.Errorf("stock: got sold +%d reserved %d, want +%d and 0", after.Sold-before.Sold, after.Reserved, wantSold)
				}
				if got := len(st.Notification.Notifications) == 1; got != (tt.notified || forward) {
					t.Errorf("notification recorded: got %v (%d), want %v", got, len(st.Notification.Notifications), tt.notified)
				}
			})
		})
	}
}

// pendingOrders returns the ids of st's pending orders.
func pendingOrders(st sandbox.State) []string {
	var ids []string
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusPending {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

func TestPlaceConcurrentLastUnits(t *testing.T) {
	const buyers, units = 200, 20
	// The question here is oversell, not overload: 200 flows dialling at
	// once on a busy test machine must not be turned away by a tripped
	// breaker or a short deadline.
	tolerant := func(c *upstream.Config) {
		c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests = 1<<20, 1<<20
		c.Timeout, c.DialTimeout = 30*time.Second, 10*time.Second
	}
	rt, _, f := startFlowWith(t, tolerant, configWith(func(c *Config) { c.Timeout = time.Minute }))
	if err := rt.Sandbox.SetStock(13, units); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			_, errs[i] = f.Place(ctx, Request{UserID: ada, Key: fmt.Sprintf("last-units-%d", i), Input: visa(Item{ProductID: 13, Quantity: 1})})
		})
	}
	wg.Wait()
	got := map[problem.Code]int{}
	for _, err := range errs {
		got[codeOf(t, err)]++
	}
	want := map[problem.Code]int{"": units, problem.CodeOutOfStock: buyers - units}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outcomes: got %v, want %v", got, want)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := rt.Sandbox.State()
	checkInvariants(t, st)
	if s := stockOf(st, 13); s.Sold != units || s.Available != 0 || s.Reserved != 0 {
		t.Errorf("stock: got %+v, want %d sold, none available or reserved", s, units)
	}
	if n := len(st.Notification.Notifications); n != units {
		t.Errorf("notifications: got %d, want %d", n, units)
	}
}

// TestPlaceReceivedCountsARefusedBody: an order whose body is refused
// before it is priced (no items, not JSON) is an order attempt, counted
// invalid as one refused when priced (an unknown product) is; a request
// refused for its key is not, and neither is sent upstream.
func TestPlaceReceivedCountsARefusedBody(t *testing.T) {
	obs := newOutcomes()
	rt, _, f := startFlow(t, nil, WithObserver(obs))
	ctx := context.Background()
	key := []string{"refused-body"}
	for _, r := range []Received{
		{UserID: ada, IdempotencyKeys: key, Body: []byte(`{"items":[],"payment_token":"tok_visa"}`)},
		{UserID: ada, IdempotencyKeys: key, Body: []byte(`not json`)},
		{UserID: ada, IdempotencyKeys: key, Body: []byte(`{"items":[{"product_id":999999,"quantity":1}],"payment_token":"tok_visa"}`)},
		{UserID: ada, Body: []byte(`{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}`)},
		{UserID: ada, IdempotencyKeys: []string{"a", "b"}, Body: []byte(`{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}`)},
	} {
		if _, err := f.PlaceReceived(ctx, r, KeyRequired); err == nil {
			t.Fatalf("PlaceReceived(%s): an order, want a refusal", r.Body)
		}
	}
	if got := obs.ordered(OutcomeInvalid); got != 3 {
		t.Errorf("%d orders counted invalid, want 3: the two bodies refused and the unknown product", got)
	}
	if st := rt.Sandbox.State(); len(st.Order.Orders) != 0 || len(st.Payment.Payments) != 0 {
		t.Errorf("refused orders reached the upstreams: %d orders, %d payments", len(st.Order.Orders), len(st.Payment.Payments))
	}
}
