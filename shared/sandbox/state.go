package sandbox

import (
	"fmt"
	"maps"

	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// State is the state of all five services, as their GET /__admin/state
// return it.
type State struct {
	Product      ProductState      `json:"product"`
	Order        OrderState        `json:"order"`
	Payment      PaymentState      `json:"payment"`
	User         UserState         `json:"user"`
	Notification NotificationState `json:"notification"`
}

// Invariants checks the design's invariants on a quiet system and returns
// every violation found, or nil:
//
//   - stock conservation: for each product, initial equals available plus
//     reserved plus sold, none is negative, and reserved equals what the
//     active reservations hold;
//   - no money without an order: every captured payment belongs to exactly
//     one confirmed order, for the same amount; every confirmed order has
//     its payment captured, for the same amount, from the same user;
//   - no oversell: every confirmed order names a reservation, committed
//     and holding exactly the order's units; every committed reservation
//     belongs to exactly one confirmed order (units sold to nobody are a
//     leak);
//   - no double orders: no two orders share a reference;
//   - nothing left hanging: no order is pending, no reservation is active
//     and no hold is authorized. Once the system is quiet every flow has
//     finished, or been finished by recovery.
func (s State) Invariants() []error {
	c := &check{
		reservations: map[string]product.Reservation{},
		payments:     map[string]payment.Payment{},
		byPayment:    map[string][]order.Order{},
		byResv:       map[string]int{},
		pendingResv:  map[string]string{},
		pendingPay:   map[string]string{},
	}
	c.errs = append(c.errs, s.StockInvariants()...)
	for _, r := range s.Product.Reservations {
		c.reservations[r.ID] = r
	}
	for _, p := range s.Payment.Payments {
		c.payments[p.ID] = p
	}
	c.orders(s.Order.Orders)
	c.paid(s.Payment.Payments)
	c.sold(s.Product.Reservations)
	return c.errs
}

// check gathers the violations Invariants finds, with the indexes its
// parts share.
type check struct {
	errs         []error
	reservations map[string]product.Reservation
	payments     map[string]payment.Payment
	// byPayment and byResv are the confirmed orders of each payment and
	// reservation; pendingResv and pendingPay the pending order of each.
	byPayment               map[string][]order.Order
	byResv                  map[string]int
	pendingResv, pendingPay map[string]string
}

func (c *check) report(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// orders checks each order and indexes the confirmed and pending ones.
func (c *check) orders(orders []order.Order) {
	byReference := map[string]string{}
	for _, o := range orders {
		if first, dup := byReference[o.Reference]; dup {
			c.report("orders %s and %s share reference %q", first, o.ID, o.Reference)
		} else {
			byReference[o.Reference] = o.ID
		}
		switch o.Status {
		case order.StatusPending:
			c.pendingResv[o.ReservationID] = o.ID
			c.pendingPay[o.PaymentID] = o.ID
			c.report("order %s (reference %q) is left pending", o.ID, o.Reference)
		case order.StatusConfirmed:
			c.byPayment[o.PaymentID] = append(c.byPayment[o.PaymentID], o)
			c.byResv[o.ReservationID]++
			c.confirmedPayment(o)
			c.confirmedUnits(o)
		}
	}
}

// confirmedPayment checks that confirmed order o was paid: its payment
// captured, for its total, from its user.
func (c *check) confirmedPayment(o order.Order) {
	p, ok := c.payments[o.PaymentID]
	switch {
	case !ok:
		c.report("confirmed order %s: payment %q does not exist", o.ID, o.PaymentID)
	case p.Status != payment.StatusCaptured:
		c.report("confirmed order %s: payment %s is %s, not captured", o.ID, p.ID, p.Status)
	case p.Amount != o.Total:
		c.report("confirmed order %s: total %s but payment %s captured %s", o.ID, o.Total, p.ID, p.Amount)
	case p.UserID != o.UserID:
		c.report("confirmed order %s of %s: payment %s is %s's", o.ID, o.UserID, p.ID, p.UserID)
	}
}

// confirmedUnits checks that confirmed order o's units were sold to it:
// its reservation committed, holding exactly its lines.
func (c *check) confirmedUnits(o order.Order) {
	if o.ReservationID == "" {
		c.report("confirmed order %s names no reservation: its units were never held", o.ID)
		return
	}
	r, ok := c.reservations[o.ReservationID]
	switch {
	case !ok:
		c.report("confirmed order %s: reservation %q does not exist", o.ID, o.ReservationID)
		return
	case r.Status != product.ReservationCommitted:
		c.report("confirmed order %s: reservation %s is %s, not committed", o.ID, r.ID, r.Status)
	}
	ordered, held := map[int64]int{}, map[int64]int{}
	for _, l := range o.Items {
		ordered[l.ProductID] += l.Quantity
	}
	for _, l := range r.Items {
		held[l.ProductID] += l.Quantity
	}
	if !maps.Equal(ordered, held) {
		c.report("confirmed order %s: ordered units %v but reservation %s holds %v", o.ID, ordered, r.ID, held)
	}
}

// paid checks that every captured payment paid exactly one confirmed
// order and that no hold is left authorized.
func (c *check) paid(payments []payment.Payment) {
	for _, p := range payments {
		switch p.Status {
		case payment.StatusCaptured:
			switch orders := c.byPayment[p.ID]; {
			case len(orders) == 0:
				c.report("captured payment %s (%s, reference %q) belongs to no confirmed order", p.ID, p.Amount, p.Reference)
			case len(orders) > 1:
				c.report("captured payment %s belongs to %d confirmed orders", p.ID, len(orders))
			}
		case payment.StatusAuthorized:
			c.report("payment %s is still authorized (hold of %s until %s)%s", p.ID, p.Amount, p.ExpiresAt, forOrder(c.pendingPay, p.ID))
		}
	}
}

// sold checks that every committed reservation sold its units to
// exactly one confirmed order and that none is left active.
func (c *check) sold(reservations []product.Reservation) {
	for _, r := range reservations {
		if r.Status == product.ReservationCommitted && c.byResv[r.ID] != 1 {
			// Committed units are sold: to exactly one confirmed order.
			c.report("committed reservation %s (reference %q) belongs to %d confirmed orders, want 1", r.ID, r.Reference, c.byResv[r.ID])
		}
		if r.Status == product.ReservationActive {
			c.report("reservation %s is still active (until %s)%s", r.ID, r.ExpiresAt, forOrder(c.pendingResv, r.ID))
		}
	}
}

// StockInvariants checks the product service alone: for each product,
// initial == available + reserved + sold, none negative, and reserved equals
// what the active reservations hold. Invariants includes it.
func (s State) StockInvariants() []error {
	var errs []error
	report := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	activeUnits := map[int64]int{}
	for _, r := range s.Product.Reservations {
		if r.Status == product.ReservationActive {
			for _, l := range r.Items {
				activeUnits[l.ProductID] += l.Quantity
			}
		}
	}
	for _, p := range s.Product.Products {
		if p.Available < 0 || p.Reserved < 0 || p.Sold < 0 {
			report("product %d: negative stock: available %d, reserved %d, sold %d", p.ID, p.Available, p.Reserved, p.Sold)
		}
		if p.Initial != p.Available+p.Reserved+p.Sold {
			report("product %d: stock not conserved: initial %d != available %d + reserved %d + sold %d",
				p.ID, p.Initial, p.Available, p.Reserved, p.Sold)
		}
		if p.Reserved != activeUnits[p.ID] {
			report("product %d: reserved %d but active reservations hold %d", p.ID, p.Reserved, activeUnits[p.ID])
		}
	}

	return errs
}

func forOrder(pending map[string]string, id string) string {
	if o, ok := pending[id]; ok {
		return " for pending order " + o
	}
	return ""
}
