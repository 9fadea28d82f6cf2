package order

import (
	"fmt"

	"storefront.dev/shared/upstream"
)

// CheckOwner returns nil when userID placed o. Any other caller gets the
// error of a missing order (KindNotFound), so that another user's order is a
// 404 exactly like an order that does not exist, and ids cannot be probed.
func (o Order) CheckOwner(userID string) error {
	if userID != "" && o.UserID == userID {
		return nil
	}
	return &upstream.Error{Service: "order", Op: "get", Kind: upstream.KindNotFound, Detail: "the order belongs to another user"}
}

// Owned returns the orders of items that userID placed, in order, reusing
// items' array, and how many it left out. A list is read for its caller
// alone, but the order service's filter is its own: an order of another
// user it let through is left out, as a read of one order checks its
// owner.
func Owned(items []Order, userID string) (own []Order, foreign int) {
	own = items[:0]
	for _, o := range items {
		if o.CheckOwner(userID) == nil {
			own = append(own, o)
		}
	}
	return own, len(items) - len(own)
}

// CheckStatus returns nil when o's status is one of the three an order
// has, and otherwise the order service failing (upstream.Unusable): the
// BFFs show orders to clients that trust their documents' enums.
func (o Order) CheckStatus() error { return o.checkStatus("get") }

// checkStatus is CheckStatus of an order read by op.
func (o Order) checkStatus(op string) error {
	switch o.Status {
	case StatusPending, StatusConfirmed, StatusCancelled:
		return nil
	}
	return upstream.Unusable("order", op, fmt.Errorf("order %q has the unknown status %q", o.ID, o.Status))
}
