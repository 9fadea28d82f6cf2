package order

import (
	"time"

	"storefront.dev/shared/money"
)

// Order statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// Line is one priced line of an order. Prices come from the product service.
type Line struct {
	ProductID int64       `json:"product_id"`
	Name      string      `json:"name"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
}

// Address is a shipping address copied into the order when it is placed.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// CreateRequest is the body of POST /orders. Reference makes the call
// idempotent. PaymentID and ReservationID may be left empty, for an order
// created while they are made: its confirmation names them (see
// ConfirmRequest).
type CreateRequest struct {
	Reference       string      `json:"reference"`
	UserID          string      `json:"user_id"`
	Items           []Line      `json:"items"`
	Total           money.Money `json:"total"`
	PaymentID       string      `json:"payment_id,omitempty"`
	ReservationID   string      `json:"reservation_id,omitempty"`
	ShippingAddress *Address    `json:"shipping_address,omitempty"`
}

// ConfirmRequest is the body of POST /orders/{id}/confirm: the payment and
// the reservation of an order created before either existed. An empty
// field leaves the order's own; one the order already names otherwise is
// refused.
type ConfirmRequest struct {
	PaymentID     string `json:"payment_id,omitempty"`
	ReservationID string `json:"reservation_id,omitempty"`
}

// ReassignRequest moves an order onto another reservation of its units
// (see Client.Reassign).
type ReassignRequest struct {
	ReservationID string `json:"reservation_id"`
	// Sequence numbers the move, 1 for the first: a move whose sequence is
	// below the last one applied to the order is refused. (The order
	// service applies a move without one unfenced, for clients of before
	// sequences.)
	Sequence int `json:"sequence"`
}

// Order is the order service's record of a purchase.
type Order struct {
	ID              string      `json:"id"`
	Reference       string      `json:"reference"`
	UserID          string      `json:"user_id"`
	Status          string      `json:"status"`
	Items           []Line      `json:"items"`
	Total           money.Money `json:"total"`
	PaymentID       string      `json:"payment_id"`
	ReservationID   string      `json:"reservation_id"`
	ShippingAddress *Address    `json:"shipping_address,omitempty"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

// Page is one page of a user's orders, newest first.
type Page struct {
	Items []Order `json:"items"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}
