package sandboxtest

import (
	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/order"
)

// OrderRequest is a valid order of two lines of the seeded catalog, priced
// as the product service prices them, with a shipping address, for userID
// and made idempotent by ref. Its payment and reservation ids name none in
// particular.
func OrderRequest(ref, userID string) order.CreateRequest {
	return order.CreateRequest{
		Reference: ref,
		UserID:    userID,
		Items: []order.Line{
			{ProductID: 1, Name: "The Go Programming Language", Quantity: 2, UnitPrice: money.New(3990, "EUR")},
			{ProductID: 9, Name: "Noise-Cancelling Headphones", Quantity: 1, UnitPrice: money.New(24900, "EUR")},
		},
		Total:         money.New(2*3990+24900, "EUR"),
		PaymentID:     "pay_000001",
		ReservationID: "res_000001",
		ShippingAddress: &order.Address{
			Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "GB",
		},
	}
}
