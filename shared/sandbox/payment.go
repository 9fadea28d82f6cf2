package sandbox

import (
	"net/http"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/payment"
)

// maxAmount bounds an amount (a hundred million in major units) so that no
// sum of order lines can overflow.
const maxAmount = 10_000_000_000

// PaymentState is the payment service's state, as GET /__admin/state
// returns it.
type PaymentState struct {
	Payments []payment.Payment `json:"payments"`
	// Requests counts non-admin requests by route pattern.
	Requests map[string]int `json:"requests"`
}

// testCard is what a test token stands for, after Stripe's test cards.
type testCard struct {
	method  payment.Method
	decline string // the decline reason, empty when the card authorizes
}

var testCards = map[string]testCard{
	payment.TokenVisa:              {method: payment.Method{Type: "card", Brand: "visa", Last4: "4242"}},
	payment.TokenMastercard:        {method: payment.Method{Type: "card", Brand: "mastercard", Last4: "4444"}},
	payment.TokenDeclined:          {method: payment.Method{Type: "card", Brand: "visa", Last4: "0002"}, decline: payment.ReasonCardDeclined},
	payment.TokenInsufficientFunds: {method: payment.Method{Type: "card", Brand: "visa", Last4: "9995"}, decline: payment.ReasonInsufficientFunds},
}

type paymentService struct {
	*service
	holdTTL time.Duration

	// Guarded by service.mu.
	payments   table[payment.Payment]
	authorized map[string]struct{} // ids of live holds, for expiry
}

func newPaymentService(now func() time.Time, cfg Config) *paymentService {
	p := &paymentService{
		service:  newService(ServicePayment, now, cfg.Seed),
		holdTTL:  cfg.HoldTTL,
		payments: newTable[payment.Payment]("payment", "pay"),
	}
	p.expire = p.expireHolds
	p.setup(p.seedState, func() any { return p.state() })

	p.handle(RouteAuthorize, p.authorize)
	p.handle(RoutePayment, p.payments.get)
	p.handle(RoutePaymentByReference, p.payments.getByReference)
	p.handle(RouteCapture, p.capture)
	p.handle(RouteVoid, p.void)
	p.handle(RouteRefund, p.refund)
	return p
}

func (p *paymentService) seedState() {
	p.payments.reset()
	p.authorized = map[string]struct{}{}
}

// expireHolds lets go of every authorization past its expiry.
func (p *paymentService) expireHolds(now time.Time) {
	for id := range p.authorized {
		pay := p.payments.byID[id]
		if now.Before(pay.ExpiresAt) {
			continue
		}
		pay.Status = payment.StatusExpired
		pay.UpdatedAt = now
		delete(p.authorized, id)
	}
}

func (p *paymentService) state() PaymentState {
	var st PaymentState
	p.withState(func() {
		st.Payments = p.payments.list(func(pay *payment.Payment) payment.Payment { return *pay })
	})
	st.Requests = p.counters()
	return st
}

func (p *paymentService) authorize(_ *http.Request, body []byte) (int, any, error) {
	var req payment.AuthorizeRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if err := p.payments.claim(req.Reference); err != nil {
		return 0, nil, err
	}
	if req.UserID == "" {
		return 0, nil, invalid("user_id is required")
	}
	if err := validAmount("amount", req.Amount, false); err != nil {
		return 0, nil, err
	}
	if req.Token == "" {
		return 0, nil, invalid("token is required")
	}
	card, ok := testCards[req.Token]
	if !ok {
		return 0, nil, fail(http.StatusBadRequest, "invalid_token", "token %q is not a test token this service knows", req.Token)
	}

	now := p.now()
	pay := &payment.Payment{
		ID:        p.payments.nextID(),
		Reference: req.Reference,
		UserID:    req.UserID,
		Amount:    req.Amount,
		Status:    payment.StatusAuthorized,
		Method:    card.method,
		ExpiresAt: now.Add(p.holdTTL),
		CreatedAt: now,
		UpdatedAt: now,
	}
	p.payments.add(pay.ID, pay.Reference, pay)
	if card.decline != "" {
		// A declined attempt is recorded like a real processor would, but
		// holds nothing.
		pay.Status = payment.StatusDeclined
		pay.DeclineReason = card.decline
		pay.ExpiresAt = now
		e := fail(http.StatusPaymentRequired, string(problem.CodePaymentDeclined), "payment %s was declined: %s", pay.ID, card.decline)
		e.DeclineReason = card.decline
		return 0, nil, e
	}
	p.authorized[pay.ID] = struct{}{}
	return http.StatusCreated, pay, nil
}

// validAmount checks a positive (or, when zeroOK, non-negative) amount in a
// three-letter upper-case currency.
func validAmount(field string, m money.Money, zeroOK bool) error {
	low := int64(1)
	if zeroOK {
		low = 0
	}
	if m.Amount < low || m.Amount > maxAmount {
		return invalid("%s.amount must be %d to %d minor units, got %d", field, low, int64(maxAmount), m.Amount)
	}
	if !validCurrency(m.Currency) {
		return invalid("%s.currency must be a three-letter ISO 4217 code, got %q", field, m.Currency)
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// transition moves pay to status and stamps it.
func (p *paymentService) transition(pay *payment.Payment, status string) {
	pay.Status = status
	pay.UpdatedAt = p.now()
	delete(p.authorized, pay.ID)
}

func (p *paymentService) capture(r *http.Request, _ []byte) (int, any, error) {
	pay, err := p.payments.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch pay.Status {
	case payment.StatusCaptured:
	case payment.StatusAuthorized:
		p.transition(pay, payment.StatusCaptured)
	case payment.StatusExpired:
		return 0, nil, conflict("hold_expired", "the hold of payment %s expired at %s", pay.ID, pay.ExpiresAt.Format(time.RFC3339))
	case payment.StatusVoided:
		return 0, nil, conflict("payment_voided", "payment %s was voided", pay.ID)
	case payment.StatusRefunded:
		return 0, nil, conflict("payment_refunded", "payment %s was captured and then refunded", pay.ID)
	default:
		return 0, nil, conflict("payment_not_authorized", "payment %s is %s and holds nothing to capture", pay.ID, pay.Status)
	}
	return http.StatusOK, pay, nil
}

func (p *paymentService) void(r *http.Request, _ []byte) (int, any, error) {
	pay, err := p.payments.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch pay.Status {
	case payment.StatusVoided, payment.StatusExpired, payment.StatusDeclined:
		// Nothing is held, which is what voiding is for.
	case payment.StatusAuthorized:
		p.transition(pay, payment.StatusVoided)
	case payment.StatusCaptured:
		return 0, nil, conflict("payment_captured", "payment %s is captured; refund it instead", pay.ID)
	case payment.StatusRefunded:
		return 0, nil, conflict("payment_refunded", "payment %s was captured and then refunded", pay.ID)
	}
	return http.StatusOK, pay, nil
}

func (p *paymentService) refund(r *http.Request, _ []byte) (int, any, error) {
	pay, err := p.payments.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch pay.Status {
	case payment.StatusRefunded:
	case payment.StatusCaptured:
		p.transition(pay, payment.StatusRefunded)
	default:
		return 0, nil, conflict("payment_not_captured", "payment %s is %s; only a captured payment can be refunded", pay.ID, pay.Status)
	}
	return http.StatusOK, pay, nil
}
