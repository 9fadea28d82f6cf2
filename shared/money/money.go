// Package money holds the one way the platform expresses an amount: integer
// minor units plus an ISO 4217 currency code, never a float.
package money

import (
	"fmt"
)

// Money is an amount in minor units (cents for EUR) of one currency.
type Money struct {
	// Amount is in the currency's minor units.
	Amount int64 `json:"amount"`
	// Currency is the ISO 4217 code, upper case ("EUR").
	Currency string `json:"currency"`
}

// New returns amount minor units of currency.
func New(amount int64, currency string) Money { return Money{Amount: amount, Currency: currency} }

// Times returns m multiplied by n.
func (m Money) Times(n int) Money { return Money{Amount: m.Amount * int64(n), Currency: m.Currency} }

// Add returns m+o. Adding different currencies is a programming error and
// returns an error rather than a wrong sum.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency == "" {
		return o, nil
	}
	if o.Currency != "" && o.Currency != m.Currency {
		return Money{}, fmt.Errorf("add %s to %s: currency mismatch", o.Currency, m.Currency)
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// String formats m for logs ("12.34 EUR"); views send the integer fields.
func (m Money) String() string {
	sign := ""
	a := m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency)
}
