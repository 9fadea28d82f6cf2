// Package scenario holds the end-to-end scenarios every BFF must pass,
// whatever its credentials and paths: the outcomes of an order, a fault at
// each saga step, the last units sold to a crowd, one Idempotency-Key sent
// many times at once, the order and login quotas, an overload shed by
// priority, and what the edge refuses (encoded bodies, malformed requests,
// repeated keys, bad payment tokens, non-canonical ids). Each runs against
// the sandbox and checks its invariants where the order flow ran. A BFF's
// tests describe the BFF once, as a Shop, call Run from one test and
// OrderOutcomes, with orders of their own, from another. Only tests import
// this package.
package scenario

import (
	"slices"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// Shop is how the scenarios reach one BFF.
type Shop struct {
	// Run is the BFF's run.
	Run servertest.RunFunc
	// Settings are what the BFF needs set under test, name, value pairs:
	// its listen address on port 0 at least.
	Settings []string
	// Orders is the path orders are posted to and listed at; an order is
	// read at Orders/{id}.
	Orders string
	// Products is the path of the catalog; a product is read at
	// Products/{id}.
	Products string
	// LoginPath is the path a user's email and password are posted to.
	LoginPath string
	// Document is the BFF's OpenAPI document.
	Document []byte
	// Login logs a seeded user in.
	Login func(t *testing.T, s *servertest.Stack, email, password string) Buyer
}

// Run runs, each as a subtest named after it, every scenario that needs
// nothing of the BFF but sh: all but OrderOutcomes, whose orders are the
// BFF's own.
func Run(t *testing.T, sh Shop) {
	for _, sc := range []struct {
		name string
		run  func(*testing.T, Shop)
	}{
		{"FaultAtEachStep", faultAtEachStep},
		{"ConcurrentOrdersNeverOversell", concurrentOrdersNeverOversell},
		{"IdempotencyKeyConcurrent", idempotencyKeyConcurrent},
		{"OrderRateLimit", orderRateLimit},
		{"LoginBruteForceIsCutOff", loginBruteForceIsCutOff},
		{"OverloadShedsBrowsingNotCheckout", overloadShedsBrowsingNotCheckout},
		{"EncodedBodiesRefused", encodedBodiesRefused},
		{"MalformedRequestsEchoNothing", malformedRequestsEchoNothing},
		{"RepeatedIdempotencyKeyRefused", repeatedIdempotencyKeyRefused},
		{"PaymentTokenChecked", paymentTokenChecked},
		{"NonCanonicalIDsRefused", nonCanonicalIDsRefused},
		{"CheckoutIsOneTrace", checkoutIsOneTrace},
		{"MetricsOnAdminOnly", metricsOnAdminOnly},
		{"ForgedCursorsRefused", forgedCursorsRefused},
		{"LongUpstreamCursors", longUpstreamCursors},
		{"UpstreamRefusalsAreNotTheClients", upstreamRefusalsAreNotTheClients},
		{"AnswersWithoutTheValue", answersWithoutTheValue},
		{"ForeignOrdersLeftOut", foreignOrdersLeftOut},
		{"DocumentedEdges", documentedEdges},
		{"DocumentedConstraintsHold", documentedConstraintsHold},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, sh) })
	}
}

// Buyer returns the headers of one order of a logged-in user, as name,
// value pairs: the user's credentials and, where the BFF requires one, a
// fresh Idempotency-Key.
type Buyer func() []string

// Start starts the BFF in front of a fresh sandbox: StartStack with the
// Shop's settings, then extra over them.
func (sh Shop) Start(t *testing.T, extra ...string) *servertest.Stack {
	t.Helper()
	return servertest.StartStack(t, sh.Run, slices.Concat(sh.Settings, extra)...)
}

// send posts body as an order of b, with headers set after b's.
func (sh Shop) send(s *servertest.Stack, b Buyer, body any, headers ...string) (servertest.Response, error) {
	return servertest.Send("POST", s.Base+sh.Orders, body, append(b(), headers...)...)
}

// order is send on the test's goroutine, failing t as servertest.Do does.
func (sh Shop) order(t *testing.T, s *servertest.Stack, b Buyer, body any, headers ...string) servertest.Response {
	t.Helper()
	return servertest.Do(t, "POST", s.Base+sh.Orders, body, append(b(), headers...)...)
}

// ada starts the BFF with extra settings and logs Ada in.
func (sh Shop) ada(t *testing.T, extra ...string) (*servertest.Stack, Buyer) {
	t.Helper()
	s := sh.Start(t, extra...)
	return s, sh.Login(t, s, sandbox.Ada.Email, sandbox.Ada.Password)
}
