package order

import "storefront.dev/shared/upstream"

// CheckOwner returns nil when userID placed o. Any other caller gets the
// error of a missing order (KindNotFound), so that another user's order is a
// 404 exactly like an order that does not exist, and ids cannot be probed.
func (o Order) CheckOwner(userID string) error {
	if userID != "" && o.UserID == userID {
		return nil
	}
	return &upstream.Error{Service: "order", Op: "get", Kind: upstream.KindNotFound, Detail: "the order belongs to another user"}
}
