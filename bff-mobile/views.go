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

// orderDetailView is one order as a phone's order screen shows it: its
// row, what was bought, and where it goes (a name and a town, not the
// whole address).
type orderDetailView struct {
	orderView
	Lines  []orderLineView `json:"lines"`
	ShipTo *shipToView     `json:"ship_to,omitempty"`
}

type orderLineView struct {
	ProductID int64       `json:"product_id"`
	Name      string      `json:"name"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
}

type shipToView struct {
	Name    string `json:"name"`
	City    string `json:"city"`
	Country string `json:"country"`
}

func newOrderDetailView(o order.Order) orderDetailView {
	v := orderDetailView{orderView: newOrderView(o), Lines: make([]orderLineView, len(o.Items))}
	for i, l := range o.Items {
		v.Lines[i] = orderLineView{ProductID: l.ProductID, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	if a := o.ShippingAddress; a != nil {
		v.ShipTo = &shipToView{Name: a.Name, City: a.City, Country: a.Country}
	}
	return v
}

func newOrderView(o order.Order) orderView {
	n := 0
	for _, l := range o.Items {
		n += l.Quantity
	}
	return orderView{ID: o.ID, Status: o.Status, Total: o.Total, ItemCount: n, CreatedAt: o.CreatedAt}
}
