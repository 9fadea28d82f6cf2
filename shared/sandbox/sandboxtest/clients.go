package sandboxtest

import (
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/notification"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/upstreamtest"
	"storefront.dev/shared/upstream/user"
)

// Clients are the typed clients of the five services, each over its own
// upstream.Service.
type Clients struct {
	Product      *product.Client
	Order        *order.Client
	Payment      *payment.Client
	User         *user.Client
	Notification *notification.Client
}

// ClientsAt returns Clients of the services at urls, keyed by the names in
// sandbox.Services, with the settings cfg and opts; their Services close
// in tb.Cleanup.
func ClientsAt(tb testing.TB, urls map[string]string, cfg upstream.Config, opts ...upstream.Option) Clients {
	tb.Helper()
	svc := func(name string) *upstream.Service {
		return upstreamtest.Service(tb, name, []string{urls[name]}, cfg, opts...)
	}
	return Clients{
		Product:      product.New(svc(sandbox.ServiceProduct)),
		Order:        order.New(svc(sandbox.ServiceOrder)),
		Payment:      payment.New(svc(sandbox.ServicePayment)),
		User:         user.New(svc(sandbox.ServiceUser)),
		Notification: notification.New(svc(sandbox.ServiceNotification)),
	}
}

// Clients is ClientsAt over r's services.
func (r *Running) Clients(tb testing.TB, cfg upstream.Config, opts ...upstream.Option) Clients {
	tb.Helper()
	return ClientsAt(tb, r.urls, cfg, opts...)
}
