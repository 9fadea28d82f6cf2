package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/upstreamtest"
)

// These tests drive the transport through the typed clients against the
// sandbox's real handlers, with faults injected over its admin API.

func startSandbox(t *testing.T) *sandboxtest.Running {
	t.Helper()
	return sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)).Now})
}

func paymentStatus(t *testing.T, rt *sandboxtest.Running, id string) string {
	t.Helper()
	for _, p := range rt.State(t).Payment.Payments {
		if p.ID == id {
			return p.Status
		}
	}
	t.Fatalf("payment %s not in the sandbox state", id)
	return ""
}

func TestFaultsReachTheClientTyped(t *testing.T) {
	const route = "POST /payments/{id}/capture"
	tests := []struct {
		name          string
		fault         sandbox.Fault
		wantKind      upstream.Kind
		wantStatus    int
		wantAmbiguous bool
		wantPayment   string // the payment's status afterwards
		// wantUnanswered: no answer of the service's own, so the request
		// may still be applied later.
		wantUnanswered bool
	}{
		{name: "503", fault: sandbox.Fault{Route: route, Status: 503, Count: 1}, wantKind: upstream.KindUnavailable, wantStatus: 503, wantAmbiguous: true, wantPayment: payment.StatusAuthorized},
		{name: "500", fault: sandbox.Fault{Route: route, Status: 500, Count: 1}, wantKind: upstream.KindServer, wantStatus: 500, wantAmbiguous: true, wantPayment: payment.StatusAuthorized},
		{name: "dropped before the handler", fault: sandbox.Fault{Route: route, Drop: true, Count: 1}, wantKind: upstream.KindServer, wantAmbiguous: true, wantPayment: payment.StatusAuthorized, wantUnanswered: true},
		{name: "dropped after the handler", fault: sandbox.Fault{Route: route, Drop: true, After: true, Count: 1}, wantKind: upstream.KindServer, wantAmbiguous: true, wantPayment: payment.StatusCaptured, wantUnanswered: true},
		{name: "503 after the handler", fault: sandbox.Fault{Route: route, Status: 503, After: true, Count: 1}, wantKind: upstream.KindUnavailable, wantStatus: 503, wantAmbiguous: true, wantPayment: payment.StatusCaptured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := startSandbox(t)
			s := newServiceNamed(t, "payment", []string{rt.PaymentURL})
			c := payment.New(s)
			ctx := context.Background()
			p, err := c.Authorize(ctx, payment.AuthorizeRequest{Reference: "ref-1", UserID: "usr_ada", Amount: money.New(1000, "EUR"), Token: payment.TokenVisa})
			if err != nil {
				t.Fatal(err)
			}
			rt.Inject(t, "payment", tt.fault)

			_, err = c.Capture(ctx, p.ID)
			e := asError(t, err)
			if e.Kind != tt.wantKind || e.Status != tt.wantStatus || e.Ambiguous() != tt.wantAmbiguous || e.NotSent {
				t.Errorf("got kind %s status %d Ambiguous %v NotSent %v, want %s %d %v false",
					e.Kind, e.Status, e.Ambiguous(), e.NotSent, tt.wantKind, tt.wantStatus, tt.wantAmbiguous)
			}
			if e.Unanswered() != tt.wantUnanswered {
				t.Errorf("got Unanswered %v, want %v", e.Unanswered(), tt.wantUnanswered)
			}
			if e.Service != "payment" || e.Op != "capture" {
				t.Errorf("got %s/%s, want payment/capture", e.Service, e.Op)
			}
			if got := paymentStatus(t, rt, p.ID); got != tt.wantPayment {
				t.Errorf("got payment %s, want %s", got, tt.wantPayment)
			}
			if n := rt.State(t).Payment.Requests[route]; n != 1 {
				t.Errorf("got %d capture requests, want 1: writes are not retried", n)
			}
			// The ambiguity is resolved by trying again: capture is idempotent.
			again, err := c.Capture(ctx, p.ID)
			if err != nil || again.Status != payment.StatusCaptured {
				t.Errorf("got %+v, %v retrying the capture, want captured", again, err)
			}
		})
	}
}

func TestLatencyBeyondTheDeadlineTimesOut(t *testing.T) {
	const latency = 2 * time.Second
	tests := []struct {
		name  string
		route string
		call  func(ctx context.Context, c *product.Client) error
	}{
		{name: "read", route: "GET /products/{id}", call: func(ctx context.Context, c *product.Client) error {
			_, err := c.Get(ctx, 1)
			return err
		}},
		{name: "write", route: "POST /reservations", call: func(ctx context.Context, c *product.Client) error {
			_, err := c.Reserve(ctx, product.ReserveRequest{Reference: "slow", Items: []product.Line{{ProductID: 1, Quantity: 1}}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits for the sandbox to finish the slow request at cleanup
			rt := startSandbox(t)
			c := product.New(newServiceNamed(t, "product", []string{rt.ProductURL}))
			rt.Inject(t, "product", sandbox.Fault{Route: tt.route, LatencyMS: int(latency / time.Millisecond)})

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx, c)
			elapsed := time.Since(start)
			e := asError(t, err)
			if e.Kind != upstream.KindTimeout || !e.Ambiguous() || e.NotSent {
				t.Errorf("got kind %s Ambiguous %v NotSent %v, want an ambiguous timeout", e.Kind, e.Ambiguous(), e.NotSent)
			}
			if elapsed >= latency {
				t.Errorf("got the call back after %v, want it back at the deadline, before the %v latency", elapsed, latency)
			}
		})
	}
}

func TestGetRetriesATransientFault(t *testing.T) {
	const route = "GET /products/{id}"
	tests := []struct {
		name  string
		fault sandbox.Fault
	}{
		{name: "503 once", fault: sandbox.Fault{Route: route, Status: 503, Count: 1}},
		{name: "500 once", fault: sandbox.Fault{Route: route, Status: 500, Count: 1}},
		{name: "drop once", fault: sandbox.Fault{Route: route, Drop: true, Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := startSandbox(t)
			c := product.New(newServiceNamed(t, "product", []string{rt.ProductURL}, upstream.WithBackoff(time.Millisecond)))
			rt.Inject(t, "product", tt.fault)
			p, err := c.Get(context.Background(), 3)
			if err != nil || p.ID != 3 {
				t.Fatalf("got %+v, %v, want product 3 after a retry", p, err)
			}
			if n := rt.State(t).Product.Requests[route]; n != 2 {
				t.Errorf("got %d requests, want 2", n)
			}
		})
	}
}

func TestPostIsNotRetried(t *testing.T) {
	rt := startSandbox(t)
	c := product.New(newServiceNamed(t, "product", []string{rt.ProductURL}, upstream.WithBackoff(time.Millisecond)))
	rt.Inject(t, "product", sandbox.Fault{Route: "POST /reservations", Status: 503, Count: 1})
	req := product.ReserveRequest{Reference: "once", Items: []product.Line{{ProductID: 1, Quantity: 1}}}
	_, err := c.Reserve(context.Background(), req)
	if k := upstream.KindOf(err); k != upstream.KindUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
	st := rt.State(t)
	if n := st.Product.Requests["POST /reservations"]; n != 1 {
		t.Errorf("got %d reservation requests, want 1", n)
	}
	if n := len(st.Product.Reservations); n != 0 {
		t.Errorf("got %d reservations, want 0: the fault fired before the handler", n)
	}
}

func TestRoundRobinOverSandboxInstances(t *testing.T) {
	a, b := startSandbox(t), startSandbox(t)
	c := product.New(newServiceNamed(t, "product", []string{a.ProductURL, b.ProductURL}))
	for range 10 {
		if _, err := c.Get(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	const route = "GET /products/{id}"
	if na, nb := a.State(t).Product.Requests[route], b.State(t).Product.Requests[route]; na != 5 || nb != 5 {
		t.Errorf("got %d and %d requests, want 5 and 5", na, nb)
	}
}

func TestFailoverSendsAWriteOnce(t *testing.T) {
	rt := startSandbox(t)
	c := product.New(newServiceNamed(t, "product", []string{closedURL(t), rt.ProductURL}))
	for i, ref := range []string{"f-1", "f-2", "f-3", "f-4"} {
		if _, err := c.Reserve(context.Background(), product.ReserveRequest{Reference: ref, Items: []product.Line{{ProductID: 1, Quantity: 1}}}); err != nil {
			t.Fatalf("reserve %d: got %v, want success on the live instance", i, err)
		}
	}
	st := rt.State(t)
	if n := st.Product.Requests["POST /reservations"]; n != 4 {
		t.Errorf("got %d reservation requests, want 4: one per call", n)
	}

	down := product.New(newServiceNamed(t, "product", []string{closedURL(t), closedURL(t)}))
	_, err := down.Reserve(context.Background(), product.ReserveRequest{Reference: "f-5", Items: []product.Line{{ProductID: 1, Quantity: 1}}})
	e := asError(t, err)
	if e.Kind != upstream.KindUnavailable || !e.NotSent || e.Ambiguous() {
		t.Errorf("got kind %s NotSent %v Ambiguous %v, want unavailable, not sent, not ambiguous", e.Kind, e.NotSent, e.Ambiguous())
	}
}

func TestBreakerOpensOnSandbox5xx(t *testing.T) {
	const route = "GET /products/{id}"
	rt := startSandbox(t)
	s := newServiceWith(t, []string{rt.ProductURL}, settings(func(c *upstream.Config) {
		c.Retries, c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 0, 3, time.Minute
	}))
	c := product.New(s)
	rt.Inject(t, "product", sandbox.Fault{Route: route, Status: 500})
	for i := range 3 {
		if _, err := c.Get(context.Background(), 1); upstream.KindOf(err) != upstream.KindServer {
			t.Fatalf("call %d: got %v, want a server error", i, err)
		}
	}
	_, err := c.Get(context.Background(), 1)
	e := asError(t, err)
	if e.Kind != upstream.KindUnavailable || !e.NotSent {
		t.Errorf("got kind %s NotSent %v, want a fast unavailable, not sent", e.Kind, e.NotSent)
	}
	if n := rt.State(t).Product.Requests[route]; n != 3 {
		t.Errorf("got %d requests, want 3: the open breaker sent nothing", n)
	}
}

func TestPingSandbox(t *testing.T) {
	rt := startSandbox(t)
	for _, u := range []string{rt.ProductURL, rt.OrderURL, rt.PaymentURL, rt.UserURL, rt.NotificationURL} {
		if err := newServiceNamed(t, "any", []string{u}).Ping(context.Background()); err != nil {
			t.Errorf("Ping %s: %v", u, err)
		}
	}
}

func newServiceNamed(t *testing.T, name string, urls []string, opts ...upstream.Option) *upstream.Service {
	t.Helper()
	return upstreamtest.Service(t, name, urls, upstream.DefaultConfig(), opts...)
}

// TestAProxysAnswerIsUnanswered: a 503 or 500 without the service's problem
// code is a proxy's own answer (a mesh sidecar's, after the connection it
// forwarded on was reset), not the service's: the write may still be
// applied, unlike after a 5xx the service gave itself.
func TestAProxysAnswerIsUnanswered(t *testing.T) {
	for _, tt := range []struct {
		name           string
		status         int
		contentType    string
		body           string
		wantUnanswered bool
	}{
		{"proxy 503", 503, "text/plain", "upstream connect error or disconnect/reset before headers", true},
		{"proxy 500", 500, "text/html", "<html>Internal Server Error</html>", true},
		{"service 503", 503, "application/problem+json", `{"status":503,"code":"unavailable","detail":"Try again."}`, false},
		{"service 500", 500, "application/problem+json", `{"status":500,"code":"internal","detail":"Oops."}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			s := newServiceNamed(t, "payment", []string{srv.URL})
			_, err := payment.New(s).Capture(context.Background(), "pay_1")
			e := asError(t, err)
			if !e.Ambiguous() || e.Unanswered() != tt.wantUnanswered {
				t.Errorf("status %d, code %q: Ambiguous %v, Unanswered %v; want ambiguous, Unanswered %v",
					e.Status, e.Code, e.Ambiguous(), e.Unanswered(), tt.wantUnanswered)
			}
		})
	}
}
