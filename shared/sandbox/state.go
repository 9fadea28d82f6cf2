package sandbox

import (
	"fmt"

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
//     its payment captured, for the same amount;
//   - no oversell: every confirmed order names a reservation and it is
//     committed; every committed reservation belongs to exactly one
//     confirmed order (units sold to nobody are a leak);
//   - no double orders: no two orders share a reference;
//   - nothing left hanging: no reservation is active and no hold is
//     authorized. Once the system is quiet every flow has finished, so this
//     holds even for a pending order's reservation and hold (a flow that
//     died mid-way leaves them to expire, and the check passes once they
//     have).
func (s State) Invariants() []error {
	var errs []error
	report := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	errs = append(errs, s.StockInvariants()...)
	reservations := map[string]product.Reservation{}
	for _, r := range s.Product.Reservations {
		reservations[r.ID] = r
	}

	payments := map[string]payment.Payment{}
	for _, p := range s.Payment.Payments {
		payments[p.ID] = p
	}
	confirmedByPayment := map[string][]order.Order{}
	confirmedByReservation := map[string]int{}
	pendingByReservation := map[string]string{}
	pendingByPayment := map[string]string{}
	byReference := map[string]string{}
	for _, o := range s.Order.Orders {
		if first, dup := byReference[o.Reference]; dup {
			report("orders %s and %s share reference %q", first, o.ID, o.Reference)
		} else {
			byReference[o.Reference] = o.ID
		}
		switch o.Status {
		case order.StatusPending:
			pendingByReservation[o.ReservationID] = o.ID
			pendingByPayment[o.PaymentID] = o.ID
		case order.StatusConfirmed:
			confirmedByPayment[o.PaymentID] = append(confirmedByPayment[o.PaymentID], o)
			p, ok := payments[o.PaymentID]
			switch {
			case !ok:
				report("confirmed order %s: payment %q does not exist", o.ID, o.PaymentID)
			case p.Status != payment.StatusCaptured:
				report("confirmed order %s: payment %s is %s, not captured", o.ID, p.ID, p.Status)
			case p.Amount != o.Total:
				report("confirmed order %s: total %s but payment %s captured %s", o.ID, o.Total, p.ID, p.Amount)
			}
			confirmedByReservation[o.ReservationID]++
			if o.ReservationID == "" {
				report("confirmed order %s names no reservation: its units were never held", o.ID)
			} else {
				if r, ok := reservations[o.ReservationID]; !ok {
					report("confirmed order %s: reservation %q does not exist", o.ID, o.ReservationID)
				} else if r.Status != product.ReservationCommitted {
					report("confirmed order %s: reservation %s is %s, not committed", o.ID, r.ID, r.Status)
				}
			}
		}
	}

	for _, p := range s.Payment.Payments {
		switch p.Status {
		case payment.StatusCaptured:
			orders := confirmedByPayment[p.ID]
			switch {
			case len(orders) == 0:
				report("captured payment %s (%s, reference %q) belongs to no confirmed order", p.ID, p.Amount, p.Reference)
			case len(orders) > 1:
				report("captured payment %s belongs to %d confirmed orders", p.ID, len(orders))
			}
		case payment.StatusAuthorized:
			report("payment %s is still authorized (hold of %s until %s)%s", p.ID, p.Amount, p.ExpiresAt, forOrder(pendingByPayment, p.ID))
		}
	}
	for _, r := range s.Product.Reservations {
		if r.Status == product.ReservationCommitted && confirmedByReservation[r.ID] != 1 {
			// Committed units are sold: to exactly one confirmed order.
			report("committed reservation %s (reference %q) belongs to %d confirmed orders, want 1", r.ID, r.Reference, confirmedByReservation[r.ID])
		}
		if r.Status == product.ReservationActive {
			report("reservation %s is still active (until %s)%s", r.ID, r.ExpiresAt, forOrder(pendingByReservation, r.ID))
		}
	}
	return errs
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
