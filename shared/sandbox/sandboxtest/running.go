// Package sandboxtest serves the sandbox's five services on loopback ports
// for the length of a test, and checks their state when it ends.
package sandboxtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"storefront.dev/shared/sandbox"
)

// Running is a Sandbox served on loopback ports for the length of a test.
// Its Admin drives the admin routes over HTTP, as a black-box test would.
type Running struct {
	Sandbox *sandbox.Sandbox
	// The services' base URLs, "http://127.0.0.1:PORT".
	ProductURL, OrderURL, PaymentURL, UserURL, NotificationURL string
	*sandbox.Admin

	client *http.Client
	urls   map[string]string // by service name
}

// Start serves the five services on 127.0.0.1:0 (httptest servers) and
// closes them in tb.Cleanup.
func Start(tb testing.TB, cfg sandbox.Config) *Running {
	tb.Helper()
	sb := sandbox.New(cfg)
	urls := make(map[string]string, len(sandbox.Services))
	for _, name := range sandbox.Services {
		srv := httptest.NewServer(sb.Handler(name))
		tb.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	client := &http.Client{}
	return &Running{
		Sandbox:         sb,
		ProductURL:      urls[sandbox.ServiceProduct],
		OrderURL:        urls[sandbox.ServiceOrder],
		PaymentURL:      urls[sandbox.ServicePayment],
		UserURL:         urls[sandbox.ServiceUser],
		NotificationURL: urls[sandbox.ServiceNotification],
		Admin:           sandbox.NewAdmin(urls, client),
		client:          client,
		urls:            urls,
	}
}

// State is FetchState for a test: it fails tb when the state cannot be read.
func (r *Running) State(tb testing.TB) sandbox.State {
	tb.Helper()
	st, err := r.FetchState(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// Stock is SetStock for a test: it makes n units of the product available,
// failing tb when it cannot.
func (r *Running) Stock(tb testing.TB, productID int64, n int) {
	tb.Helper()
	if err := r.SetStock(context.Background(), productID, n); err != nil {
		tb.Fatal(err)
	}
}

// Inject is InjectFault for a test: it fails tb when the fault cannot be
// set.
func (r *Running) Inject(tb testing.TB, service string, f sandbox.Fault) {
	tb.Helper()
	if err := r.InjectFault(context.Background(), service, f); err != nil {
		tb.Fatal(err)
	}
}
