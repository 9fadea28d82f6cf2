package auth

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of a Verifier that are not settings: every Verifier runs with
// them.
const (
	// DefaultMaxKeyAge is how long a fetched key set is trusted before it
	// is fetched again (still at most once per refresh interval): a key
	// withdrawn from the JWKS (a leaked one) stops being accepted within this
	// time even if no new kid ever shows up.
	DefaultMaxKeyAge = 5 * time.Minute
	// DefaultFetchTimeout bounds one JWKS fetch, whoever asked for it.
	DefaultFetchTimeout = 5 * time.Second
)

// allowedAlgs lists, per JWK key type, the one algorithm a key of that type
// may verify, for keys that do not declare their own alg; a key that
// declares another is ignored. HMAC and "none" are never allowed.
var allowedAlgs = map[string][]string{"RSA": {"RS256"}, "EC": {"ES256"}}

// Config is the settings of a Verifier; DefaultConfig returns every default.
type Config struct {
	// Issuer is the iss every token must carry: the user service. Default
	// https://user.storefront.dev.
	Issuer string
	// Audience is the audience the aud claim must contain: the BFFs.
	// Default storefront-bff.
	Audience string
	// Leeway is the clock skew between the user service and a BFF tolerated
	// on exp, nbf and iat, at most MaxLeeway. Default 30s.
	Leeway time.Duration
	// RefreshInterval is the least time between two JWKS fetches caused by
	// tokens naming an unknown kid, so a flood of made-up kids costs the
	// user service at most one request per interval. Default 10s.
	RefreshInterval time.Duration
	// MaxTokenBytes bounds the work an attacker can ask for: longer tokens
	// are refused before any decoding. Default 8192.
	MaxTokenBytes int
	// TokenCacheSize is how many verified tokens are remembered until their
	// exp, so a client sending the same token on every request pays for one
	// signature check; 0 turns the cache off. Default 10000.
	TokenCacheSize int
}

// DefaultConfig returns the defaults of every setting of a Verifier.
func DefaultConfig() Config {
	return Config{
		Issuer:          "https://user.storefront.dev",
		Audience:        "storefront-bff",
		Leeway:          30 * time.Second,
		RefreshInterval: 10 * time.Second,
		MaxTokenBytes:   8 << 10,
		TokenCacheSize:  10_000,
	}
}

// Validate reports the settings a Verifier cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.Issuer == "" || c.Audience == "" {
		errs = append(errs, errors.New("auth: Issuer and Audience must be set"))
	}
	if c.Leeway < 0 || c.TokenCacheSize < 0 {
		errs = append(errs, fmt.Errorf("auth: Leeway %v and TokenCacheSize %d must not be negative", c.Leeway, c.TokenCacheSize))
	}
	if c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("auth: Leeway %v must be at most %v", c.Leeway, MaxLeeway))
	}
	if c.RefreshInterval <= 0 || c.MaxTokenBytes <= 0 {
		errs = append(errs, fmt.Errorf("auth: RefreshInterval %v and MaxTokenBytes %d must be positive", c.RefreshInterval, c.MaxTokenBytes))
	}
	return errors.Join(errs...)
}

// MaxLeeway bounds Leeway: clocks further apart are a fault to fix, and a
// larger leeway (a unit mistyped, 30m for 30s) would accept tokens that
// expired that long ago.
const MaxLeeway = 5 * time.Minute

// Option gives a Verifier a collaborator.
type Option func(*options)

// options are a Verifier's collaborators.
type options struct {
	now func() time.Time
}

// WithClock sets the source of the current time used for every time check
// and for the refresh interval. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
