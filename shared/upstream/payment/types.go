package payment

import (
	"time"

	"storefront.dev/shared/money"
)

// Test tokens the sandbox payment service understands, after Stripe's.
const (
	TokenVisa              = "tok_visa"
	TokenMastercard        = "tok_mastercard"
	TokenDeclined          = "tok_declined"
	TokenInsufficientFunds = "tok_insufficient_funds"
)

// Decline reasons.
const (
	ReasonCardDeclined      = "card_declined"
	ReasonInsufficientFunds = "insufficient_funds"
	// ReasonInvalidToken is the BFF's reason for a token the payment
	// service does not know: well formed, and refused by the provider.
	ReasonInvalidToken = "invalid_token"
)

// Payment statuses.
const (
	StatusAuthorized = "authorized"
	StatusCaptured   = "captured"
	StatusVoided     = "voided"
	StatusRefunded   = "refunded"
	StatusExpired    = "expired"
	StatusDeclined   = "declined"
)

// AuthorizeRequest is the body of POST /payments. Reference makes the call
// idempotent.
type AuthorizeRequest struct {
	Reference string      `json:"reference"`
	UserID    string      `json:"user_id"`
	Amount    money.Money `json:"amount"`
	Token     string      `json:"token"`
}

// Method describes the card behind a payment, safe to show a user.
type Method struct {
	Type  string `json:"type"`
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

// Summary is what a page shows of a payment. Reading only these fields
// skips the rest of the answer (the timestamps are most of its decoding).
type Summary struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Method Method `json:"method"`
}

// Payment is a hold on a card (authorized) that is then captured, voided,
// refunded, or left to expire.
type Payment struct {
	ID            string      `json:"id"`
	Reference     string      `json:"reference"`
	UserID        string      `json:"user_id"`
	Amount        money.Money `json:"amount"`
	Status        string      `json:"status"`
	Method        Method      `json:"method"`
	DeclineReason string      `json:"decline_reason,omitempty"`
	ExpiresAt     time.Time   `json:"expires_at"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// Summary returns what a page shows of p.
func (p Payment) Summary() Summary { return Summary{ID: p.ID, Status: p.Status, Method: p.Method} }
