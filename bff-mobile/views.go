package main

import (
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/order"
)

// tokenView is the answer of POST /v1/auth/token and /v1/auth/refresh.
type tokenView struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// orderView is an order as a phone lists it: no lines, no addresses.
type orderView struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Total     money.Money `json:"total"`
	ItemCount int         `json:"item_count"`
	CreatedAt time.Time   `json:"created_at"`
}

type orderListView struct {
	Items      []orderView `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func newOrderView(o order.Order) orderView {
	n := 0
	for _, l := range o.Items {
		n += l.Quantity
	}
	return orderView{ID: o.ID, Status: o.Status, Total: o.Total, ItemCount: n, CreatedAt: o.CreatedAt}
}

// placed is the order of a checkout's result. The flow answers only once
// the order is confirmed, but a result recovered after a crash whose order
// could not be read back holds little more than its id: the status is then
// the one the order is known to have, never an empty one outside the
// document's enum.
func placed(o order.Order) order.Order {
	if o.Status == "" {
		o.Status = order.StatusConfirmed
	}
	return o
}
