package sandbox_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/payment"
)

func authorize(t *testing.T, rn *sandboxtest.Running, ref string, amount int64) payment.Payment {
	t.Helper()
	var p payment.Payment
	do(t, "POST", rn.PaymentURL+"/payments", payment.AuthorizeRequest{
		Reference: ref, UserID: "usr_ada", Amount: money.New(amount, "EUR"), Token: payment.TokenVisa,
	}).want(t, http.StatusCreated).decode(t, &p)
	return p
}

func TestAuthorize(t *testing.T) {
	rn, _ := startManual(t)
	tests := []struct {
		token  string
		status int
		code   string
		reason string
		method payment.Method
	}{
		{payment.TokenVisa, http.StatusCreated, "", "", payment.Method{Type: "card", Brand: "visa", Last4: "4242"}},
		{payment.TokenMastercard, http.StatusCreated, "", "", payment.Method{Type: "card", Brand: "mastercard", Last4: "4444"}},
		{payment.TokenDeclined, http.StatusPaymentRequired, "payment_declined", payment.ReasonCardDeclined, payment.Method{}},
		{payment.TokenInsufficientFunds, http.StatusPaymentRequired, "payment_declined", payment.ReasonInsufficientFunds, payment.Method{}},
		{"tok_unknown", http.StatusBadRequest, "invalid_token", "", payment.Method{}},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			r := do(t, "POST", rn.PaymentURL+"/payments", payment.AuthorizeRequest{
				Reference: "ref-" + tt.token, UserID: "usr_ada", Amount: money.New(1999, "EUR"), Token: tt.token,
			})
			if tt.code != "" {
				if p := r.problem(t, tt.status, tt.code); p.DeclineReason != tt.reason {
					t.Errorf("got decline_reason %q, want %q", p.DeclineReason, tt.reason)
				}
				return
			}
			var p payment.Payment
			r.want(t, tt.status).decode(t, &p)
			want := payment.Payment{
				ID: p.ID, Reference: "ref-" + tt.token, UserID: "usr_ada", Amount: money.New(1999, "EUR"),
				Status: payment.StatusAuthorized, Method: tt.method,
				ExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, UpdatedAt: t0,
			}
			if p.ID == "" || p != want {
				t.Errorf("got %+v, want %+v", p, want)
			}
		})
	}

	st := rn.State(t)
	declined := 0
	for _, p := range st.Payment.Payments {
		if p.Status == payment.StatusDeclined {
			declined++
			if p.DeclineReason == "" {
				t.Errorf("declined payment %s has no reason", p.ID)
			}
		}
	}
	if len(st.Payment.Payments) != 4 || declined != 2 {
		t.Errorf("got %d payments, %d declined; want 4 recorded, 2 declined (an unknown token records nothing)", len(st.Payment.Payments), declined)
	}
	var byRef payment.Payment
	do(t, "GET", rn.PaymentURL+"/payments/by-reference/ref-tok_declined", nil).want(t, http.StatusOK).decode(t, &byRef)
	if byRef.Status != payment.StatusDeclined || byRef.DeclineReason != payment.ReasonCardDeclined {
		t.Errorf("got %+v, want the declined attempt on record", byRef)
	}

	bad := []struct {
		name string
		body string
	}{
		{"no reference", `{"user_id":"u","amount":{"amount":1,"currency":"EUR"},"token":"tok_visa"}`},
		{"no user", `{"reference":"b1","amount":{"amount":1,"currency":"EUR"},"token":"tok_visa"}`},
		{"zero amount", `{"reference":"b2","user_id":"u","amount":{"amount":0,"currency":"EUR"},"token":"tok_visa"}`},
		{"negative amount", `{"reference":"b3","user_id":"u","amount":{"amount":-5,"currency":"EUR"},"token":"tok_visa"}`},
		{"bad currency", `{"reference":"b4","user_id":"u","amount":{"amount":5,"currency":"euro"},"token":"tok_visa"}`},
		{"no currency", `{"reference":"b5","user_id":"u","amount":{"amount":5},"token":"tok_visa"}`},
		{"no token", `{"reference":"b6","user_id":"u","amount":{"amount":5,"currency":"EUR"}}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			do(t, "POST", rn.PaymentURL+"/payments", tt.body).problem(t, http.StatusBadRequest, "invalid_request")
		})
	}
	do(t, "POST", rn.PaymentURL+"/payments", `{"reference":"ref-tok_visa","user_id":"u","amount":{"amount":5,"currency":"EUR"},"token":"tok_visa"}`,
		"Idempotency-Key", "other").problem(t, http.StatusConflict, "duplicate_reference")
	do(t, "GET", rn.PaymentURL+"/payments/pay_nope", nil).problem(t, http.StatusNotFound, "not_found")
	do(t, "GET", rn.PaymentURL+"/payments/by-reference/nope", nil).problem(t, http.StatusNotFound, "not_found")
}

// TestPaymentTransitions walks each action from each status: capture, void
// and refund are idempotent where the brief says so and refuse the rest.
func TestPaymentTransitions(t *testing.T) {
	rn, clock := startManual(t)
	// Each status is reached from a fresh authorization.
	reach := map[string]func(t *testing.T) string{
		payment.StatusAuthorized: func(t *testing.T) string { return authorize(t, rn, t.Name(), 500).ID },
		payment.StatusCaptured: func(t *testing.T) string {
			id := authorize(t, rn, t.Name(), 500).ID
			do(t, "POST", rn.PaymentURL+"/payments/"+id+"/capture", nil).want(t, http.StatusOK)
			return id
		},
		payment.StatusVoided: func(t *testing.T) string {
			id := authorize(t, rn, t.Name(), 500).ID
			do(t, "POST", rn.PaymentURL+"/payments/"+id+"/void", nil).want(t, http.StatusOK)
			return id
		},
		payment.StatusRefunded: func(t *testing.T) string {
			id := authorize(t, rn, t.Name(), 500).ID
			do(t, "POST", rn.PaymentURL+"/payments/"+id+"/capture", nil).want(t, http.StatusOK)
			do(t, "POST", rn.PaymentURL+"/payments/"+id+"/refund", nil).want(t, http.StatusOK)
			return id
		},
		payment.StatusExpired: func(t *testing.T) string {
			id := authorize(t, rn, t.Name(), 500).ID
			clock.Advance(10 * time.Minute)
			return id
		},
		payment.StatusDeclined: func(t *testing.T) string {
			do(t, "POST", rn.PaymentURL+"/payments", payment.AuthorizeRequest{
				Reference: t.Name(), UserID: "usr_ada", Amount: money.New(500, "EUR"), Token: payment.TokenDeclined,
			}).want(t, http.StatusPaymentRequired)
			var p payment.Payment
			do(t, "GET", rn.PaymentURL+"/payments/by-reference/"+url.PathEscape(t.Name()), nil).want(t, http.StatusOK).decode(t, &p)
			return p.ID
		},
	}
	tests := []struct {
		from, action string
		status       int
		code         string // for refusals
		to           string // for successes
	}{
		{payment.StatusAuthorized, "capture", http.StatusOK, "", payment.StatusCaptured},
		{payment.StatusCaptured, "capture", http.StatusOK, "", payment.StatusCaptured},
		{payment.StatusExpired, "capture", http.StatusConflict, "hold_expired", ""},
		{payment.StatusVoided, "capture", http.StatusConflict, "payment_voided", ""},
		{payment.StatusRefunded, "capture", http.StatusConflict, "payment_refunded", ""},
		{payment.StatusDeclined, "capture", http.StatusConflict, "payment_not_authorized", ""},
		{payment.StatusAuthorized, "void", http.StatusOK, "", payment.StatusVoided},
		{payment.StatusVoided, "void", http.StatusOK, "", payment.StatusVoided},
		{payment.StatusExpired, "void", http.StatusOK, "", payment.StatusExpired},
		{payment.StatusDeclined, "void", http.StatusOK, "", payment.StatusDeclined},
		{payment.StatusCaptured, "void", http.StatusConflict, "payment_captured", ""},
		{payment.StatusRefunded, "void", http.StatusConflict, "payment_refunded", ""},
		{payment.StatusCaptured, "refund", http.StatusOK, "", payment.StatusRefunded},
		{payment.StatusRefunded, "refund", http.StatusOK, "", payment.StatusRefunded},
		{payment.StatusAuthorized, "refund", http.StatusConflict, "payment_not_captured", ""},
		{payment.StatusVoided, "refund", http.StatusConflict, "payment_not_captured", ""},
		{payment.StatusExpired, "refund", http.StatusConflict, "payment_not_captured", ""},
	}
	for _, tt := range tests {
		t.Run(tt.action+" from "+tt.from, func(t *testing.T) {
			id := reach[tt.from](t)
			r := do(t, "POST", rn.PaymentURL+"/payments/"+id+"/"+tt.action, nil)
			if tt.code != "" {
				r.problem(t, tt.status, tt.code)
				return
			}
			var p payment.Payment
			r.want(t, tt.status).decode(t, &p)
			if p.Status != tt.to {
				t.Errorf("got status %q, want %q", p.Status, tt.to)
			}
			var again payment.Payment
			do(t, "GET", rn.PaymentURL+"/payments/"+id, nil).want(t, http.StatusOK).decode(t, &again)
			if again.Status != tt.to {
				t.Errorf("GET after %s: got status %q, want %q", tt.action, again.Status, tt.to)
			}
		})
	}
	for _, action := range []string{"capture", "void", "refund"} {
		do(t, "POST", rn.PaymentURL+"/payments/pay_nope/"+action, nil).problem(t, http.StatusNotFound, "not_found")
	}
}

func TestHoldExpiry(t *testing.T) {
	clock := clocktest.New(t0)
	rn := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, HoldTTL: time.Minute})
	p := authorize(t, rn, "hold", 700)
	if !p.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("got expires_at %v, want now + HoldTTL", p.ExpiresAt)
	}
	clock.Advance(59 * time.Second)
	if st := rn.State(t); st.Payment.Payments[0].Status != payment.StatusAuthorized {
		t.Errorf("before expiry: got %q, want authorized", st.Payment.Payments[0].Status)
	}
	clock.Advance(time.Second)
	st := rn.State(t)
	if got := st.Payment.Payments[0]; got.Status != payment.StatusExpired || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("at expiry: got %+v, want expired now", got)
	}
	do(t, "POST", rn.PaymentURL+"/payments/"+p.ID+"/capture", nil).problem(t, http.StatusConflict, "hold_expired")
}
