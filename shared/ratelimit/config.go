package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Config is the quotas a BFF applies per caller and the bound of the
// in-memory Store; DefaultConfig returns every default.
type Config struct {
	// Default guards every limited route without a policy of its own.
	// Default 300 per 1m.
	Default Policy
	// Login guards the routes that check a password, per client address,
	// against brute force. Default 10 per 1m.
	Login Policy
	// Orders guards order creation, per user. Default 10 per 1m.
	Orders Policy
	// MaxKeys is the most callers a Memory remembers per policy: idle ones
	// are forgotten first, and beyond it the least recently seen, which
	// hands that caller a fresh quota. Default 100000.
	MaxKeys int
}

// DefaultConfig returns the defaults of every rate-limit setting.
func DefaultConfig() Config {
	return Config{
		Default: Policy{Name: "default", Quota: 300, Window: time.Minute},
		Login:   Policy{Name: "login", Quota: 10, Window: time.Minute},
		Orders:  Policy{Name: "orders", Quota: 10, Window: time.Minute},
		MaxKeys: 100_000,
	}
}

// Validate reports the settings that cannot be enforced.
func (c Config) Validate() error {
	errs := []error{c.Default.Validate(), c.Login.Validate(), c.Orders.Validate()}
	if c.MaxKeys < 1 {
		errs = append(errs, fmt.Errorf("ratelimit: MaxKeys %d must be positive", c.MaxKeys))
	}
	return errors.Join(errs...)
}
