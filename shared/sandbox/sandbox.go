package sandbox

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"time"

	"storefront.dev/shared/auth"
)

// The service names Handler and the Running helpers take.
const (
	ServiceProduct      = "product"
	ServiceOrder        = "order"
	ServicePayment      = "payment"
	ServiceUser         = "user"
	ServiceNotification = "notification"
)

// Services lists the five services in port order (8001..8005).
var Services = []string{ServiceProduct, ServiceOrder, ServicePayment, ServiceUser, ServiceNotification}

// Config tunes a Sandbox. The zero value is ready to use.
type Config struct {
	// Clock tells every service the time. Tests give a hand-moved clock's
	// Now (clocktest.Manual), so that reservations, holds and tokens
	// expire without sleeping. Default: the wall clock in UTC, so that
	// JSON timestamps do not depend on the host's zone.
	Clock func() time.Time
	// ReservationTTL is how long a stock reservation lives unless committed.
	// Default 10m.
	ReservationTTL time.Duration
	// HoldTTL is how long a payment authorization lives unless captured.
	// Default 10m.
	HoldTTL time.Duration
	// TokenTTL is the lifetime of an issued access token (a JWT). Default
	// 15m.
	TokenTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token family from its login.
	// Default 720h.
	RefreshTTL time.Duration
	// Issuer is the JWT iss claim. Default auth.DefaultConfig's Issuer,
	// "https://user.storefront.dev".
	Issuer string
	// Audience is the JWT aud claim. Default auth.DefaultConfig's
	// Audience, "storefront-bff".
	Audience string
	// Seed seeds the fault-injection random numbers. Default 1.
	Seed int64
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = func() time.Time { return time.Now().UTC() }
	}
	if c.ReservationTTL <= 0 {
		c.ReservationTTL = 10 * time.Minute
	}
	if c.HoldTTL <= 0 {
		c.HoldTTL = 10 * time.Minute
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 15 * time.Minute
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = 720 * time.Hour
	}
	// The verifier's defaults, so that a BFF left at its defaults accepts
	// the tokens of a sandbox left at its own.
	verifier := auth.DefaultConfig()
	if c.Issuer == "" {
		c.Issuer = verifier.Issuer
	}
	if c.Audience == "" {
		c.Audience = verifier.Audience
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Sandbox is the five services over one configuration. Each service keeps
// its own state behind its own lock; they do not call each other, exactly
// like independent services.
type Sandbox struct {
	cfg          Config
	product      *productService
	order        *orderService
	payment      *paymentService
	user         *userService
	notification *notificationService
}

// New returns a Sandbox with the seeded catalog and users.
func New(cfg Config) *Sandbox {
	cfg = cfg.withDefaults()
	return &Sandbox{
		cfg:          cfg,
		product:      newProductService(cfg.Clock, cfg),
		order:        newOrderService(cfg.Clock, cfg),
		payment:      newPaymentService(cfg.Clock, cfg),
		user:         newUserService(cfg.Clock, cfg),
		notification: newNotificationService(cfg.Clock, cfg),
	}
}

func (s *Sandbox) service(name string) (*service, bool) {
	switch name {
	case ServiceProduct:
		return s.product.service, true
	case ServiceOrder:
		return s.order.service, true
	case ServicePayment:
		return s.payment.service, true
	case ServiceUser:
		return s.user.service, true
	case ServiceNotification:
		return s.notification.service, true
	}
	return nil, false
}

// Handler returns the HTTP handler of the named service, admin routes
// included. It panics on a name not in Services, a programming error.
func (s *Sandbox) Handler(service string) http.Handler {
	svc, ok := s.service(service)
	if !ok {
		panic(fmt.Sprintf("sandbox: unknown service %q (want one of %q)", service, Services))
	}
	return svc
}

// SetStock makes n the initial and available stock of a product and forgets
// what was sold. It fails while units of the product are reserved, since
// those would then be unaccounted for.
func (s *Sandbox) SetStock(productID int64, n int) error {
	if _, err := s.product.setStock(productID, n); err != nil {
		return fmt.Errorf("set stock of product %d: %w", productID, err)
	}
	return nil
}

// SigningKey returns the user service's current signing key and its kid,
// for tests that forge tokens.
func (s *Sandbox) SigningKey() (kid string, key *rsa.PrivateKey) {
	k := s.user.currentKey()
	return k.kid, k.key
}

// RotateKey adds a new current signing key and returns its kid. Earlier keys
// stay in the JWKS.
func (s *Sandbox) RotateKey() string { return s.user.rotate() }

// State returns what GET /__admin/state of every service would.
func (s *Sandbox) State() State {
	return State{
		Product:      s.product.state(),
		Order:        s.order.state(),
		Payment:      s.payment.state(),
		User:         s.user.state(),
		Notification: s.notification.state(),
	}
}

// Reset restores every service's seed and clears faults, counters and
// stored idempotent replies. Signing keys are kept, so that a gateway's
// cached JWKS stays valid.
func (s *Sandbox) Reset() {
	for _, name := range Services {
		svc, _ := s.service(name)
		svc.reset()
	}
}
