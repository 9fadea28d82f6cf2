package payment_test

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/upstreamtest"
)

type fixture struct {
	clock  *clocktest.Manual
	client *payment.Client
}

func start(t *testing.T) fixture {
	t.Helper()
	clock := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, HoldTTL: 10 * time.Minute})
	return fixture{clock: clock, client: rt.Clients(t, upstream.DefaultConfig()).Payment}
}

var wantError = upstreamtest.WantError("payment")

func authorize(t *testing.T, f fixture, ref string) payment.Payment {
	t.Helper()
	p, err := f.client.Authorize(context.Background(), payment.AuthorizeRequest{
		Reference: ref, UserID: "usr_ada", Amount: money.New(4200, "EUR"), Token: payment.TokenVisa,
	})
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return p
}

func TestAuthorize(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	tests := []struct {
		token, brand string
	}{
		{payment.TokenVisa, "visa"},
		{payment.TokenMastercard, "mastercard"},
	}
	for _, tt := range tests {
		req := payment.AuthorizeRequest{Reference: "ref-" + tt.token, UserID: "usr_ada", Amount: money.New(1999, "EUR"), Token: tt.token}
		p, err := f.client.Authorize(ctx, req)
		if err != nil {
			t.Fatalf("Authorize %s: %v", tt.token, err)
		}
		if p.ID == "" || p.Status != payment.StatusAuthorized || p.Amount != req.Amount || p.Method.Brand != tt.brand || p.Reference != req.Reference {
			t.Errorf("got %+v, want an authorized %s hold of %s", p, tt.brand, req.Amount)
		}
		again, err := f.client.Authorize(ctx, req)
		if err != nil || again.ID != p.ID {
			t.Errorf("got %+v, %v repeating reference %q, want payment %s", again, err, req.Reference, p.ID)
		}
	}
}

func TestAuthorizeDeclined(t *testing.T) {
	tests := []struct {
		token, reason string
	}{
		{payment.TokenDeclined, payment.ReasonCardDeclined},
		{payment.TokenInsufficientFunds, payment.ReasonInsufficientFunds},
	}
	f := start(t)
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			_, err := f.client.Authorize(context.Background(), payment.AuthorizeRequest{
				Reference: "decl-" + tt.token, UserID: "usr_ada", Amount: money.New(500, "EUR"), Token: tt.token,
			})
			e := wantError(t, err, "authorize", upstream.KindDeclined, 402, "payment_declined")
			if e.DeclineReason != tt.reason {
				t.Errorf("got decline reason %q, want %q", e.DeclineReason, tt.reason)
			}
			if e.Ambiguous() || e.Transient() {
				t.Errorf("got Ambiguous %v Transient %v, want a definitive decline", e.Ambiguous(), e.Transient())
			}
		})
	}
}

func TestAuthorizeInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  payment.AuthorizeRequest
		code string
	}{
		{name: "unknown token", req: payment.AuthorizeRequest{Reference: "a", UserID: "usr_ada", Amount: money.New(100, "EUR"), Token: "tok_bogus"}, code: "invalid_token"},
		{name: "zero amount", req: payment.AuthorizeRequest{Reference: "b", UserID: "usr_ada", Amount: money.New(0, "EUR"), Token: payment.TokenVisa}, code: "invalid_request"},
		{name: "bad currency", req: payment.AuthorizeRequest{Reference: "c", UserID: "usr_ada", Amount: money.New(100, "EURO"), Token: payment.TokenVisa}, code: "invalid_request"},
	}
	f := start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.Authorize(context.Background(), tt.req)
			wantError(t, err, "authorize", upstream.KindInvalid, 400, tt.code)
		})
	}
}

func TestCaptureVoidRefund(t *testing.T) {
	f := start(t)
	ctx := context.Background()

	p := authorize(t, f, "cap-1")
	captured, err := f.client.Capture(ctx, p.ID)
	if err != nil || captured.Status != payment.StatusCaptured {
		t.Fatalf("got %+v, %v, want captured", captured, err)
	}
	if twice, err := f.client.Capture(ctx, p.ID); err != nil || twice.Status != payment.StatusCaptured {
		t.Errorf("got %+v, %v capturing twice, want captured", twice, err)
	}
	_, err = f.client.Void(ctx, p.ID)
	wantError(t, err, "void", upstream.KindConflict, 409, "payment_captured")
	refunded, err := f.client.Refund(ctx, p.ID)
	if err != nil || refunded.Status != payment.StatusRefunded {
		t.Errorf("got %+v, %v, want refunded", refunded, err)
	}

	q := authorize(t, f, "void-1")
	_, err = f.client.Refund(ctx, q.ID)
	wantError(t, err, "refund", upstream.KindConflict, 409, "payment_not_captured")
	voided, err := f.client.Void(ctx, q.ID)
	if err != nil || voided.Status != payment.StatusVoided {
		t.Errorf("got %+v, %v, want voided", voided, err)
	}
	_, err = f.client.Capture(ctx, q.ID)
	wantError(t, err, "capture", upstream.KindConflict, 409, "payment_voided")

	for _, op := range []struct {
		name string
		call func(context.Context, string) (payment.Payment, error)
	}{{"capture", f.client.Capture}, {"void", f.client.Void}, {"refund", f.client.Refund}, {"get", func(ctx context.Context, id string) (payment.Payment, error) {
		s, err := f.client.Summary(ctx, id)
		return payment.Payment{ID: s.ID}, err
	}}} {
		_, err := op.call(ctx, "pay_missing")
		wantError(t, err, op.name, upstream.KindNotFound, 404, "not_found")
	}
}

func TestSummaryAndByReference(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	p := authorize(t, f, "order 7/pay")
	got, err := f.client.Summary(ctx, p.ID)
	if want := (payment.Summary{ID: p.ID, Status: payment.StatusAuthorized, Method: p.Method}); err != nil || got != want || got.Method.Last4 == "" {
		t.Errorf("got %+v, %v, want %+v", got, err, want)
	}
	byRef, err := f.client.ByReference(ctx, "order 7/pay")
	if err != nil || byRef.ID != p.ID {
		t.Errorf("got %+v, %v by reference, want payment %s", byRef, err, p.ID)
	}
	_, err = f.client.ByReference(ctx, "unknown")
	wantError(t, err, "lookup", upstream.KindNotFound, 404, "not_found")
}

func TestHoldExpires(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	p := authorize(t, f, "exp-1")
	q := authorize(t, f, "exp-2")
	f.clock.Advance(11 * time.Minute)
	_, err := f.client.Capture(ctx, p.ID)
	wantError(t, err, "capture", upstream.KindConflict, 409, "hold_expired")
	voided, err := f.client.Void(ctx, q.ID)
	if err != nil || voided.Status != payment.StatusExpired {
		t.Errorf("got %+v, %v voiding an expired hold, want status expired", voided, err)
	}
}
