// Package sandboxtest serves the sandbox's five services on loopback ports
// for the length of a test, and checks their state when it ends.
package sandboxtest

import (
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
	}
}
