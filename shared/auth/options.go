package auth

import (
	"fmt"
	"slices"
	"time"
)

// Defaults of a Verifier; each has an Option to change it.
const (
	// DefaultIssuer is the iss every token must carry: the user service.
	DefaultIssuer = "https://user.storefront.dev"
	// DefaultAudience is the aud every token must name: the BFFs.
	DefaultAudience = "storefront-bff"
	// DefaultLeeway absorbs clock skew between the user service and a BFF.
	DefaultLeeway = 30 * time.Second
	// DefaultRefreshInterval is the least time between two JWKS fetches
	// triggered by unknown key ids, so a flood of made-up kids costs the user
	// service at most one request per interval.
	DefaultRefreshInterval = 10 * time.Second
	// DefaultMaxKeyAge is how long a fetched key set is trusted before it
	// is fetched again: a key withdrawn from the JWKS (a leaked one) stops
	// being accepted within this time even if no new kid ever shows up.
	DefaultMaxKeyAge = 5 * time.Minute
	// DefaultMaxTokenSize bounds the work an attacker can ask for: longer
	// tokens are refused before any decoding.
	DefaultMaxTokenSize = 8 << 10
	// DefaultTokenCacheSize is how many verified tokens are remembered.
	DefaultTokenCacheSize = 10000
	// DefaultFetchTimeout bounds one JWKS fetch, whoever asked for it.
	DefaultFetchTimeout = 5 * time.Second
)

// signingAlgs lists, per JWK key type, the algorithms a key of that type can
// verify; WithAlgorithms accepts nothing else, which is what keeps HMAC and
// "none" out whatever the configuration says.
var signingAlgs = map[string][]string{
	"RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
	"EC":  {"ES256", "ES384", "ES512"},
}

type config struct {
	issuer          string
	audience        string
	leeway          time.Duration
	refreshInterval time.Duration
	maxKeyAge       time.Duration
	maxTokenSize    int
	algorithms      map[string][]string
	now             func() time.Time
	cacheSize       int
	fetchTimeout    time.Duration
}

func newConfig(opts []Option) config {
	c := config{
		issuer:          DefaultIssuer,
		audience:        DefaultAudience,
		leeway:          DefaultLeeway,
		refreshInterval: DefaultRefreshInterval,
		maxKeyAge:       DefaultMaxKeyAge,
		maxTokenSize:    DefaultMaxTokenSize,
		algorithms:      map[string][]string{"RSA": {"RS256"}, "EC": {"ES256"}},
		now:             time.Now,
		cacheSize:       DefaultTokenCacheSize,
		fetchTimeout:    DefaultFetchTimeout,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Option changes one default of a Verifier.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithIssuer sets the required iss claim. Default DefaultIssuer.
func WithIssuer(iss string) Option {
	return optionFunc(func(c *config) { c.issuer = iss })
}

// WithAudience sets the audience the aud claim must contain. Default
// DefaultAudience.
func WithAudience(aud string) Option {
	return optionFunc(func(c *config) { c.audience = aud })
}

// WithLeeway sets the clock skew tolerated on exp, nbf and iat. Default
// DefaultLeeway.
func WithLeeway(d time.Duration) Option {
	return optionFunc(func(c *config) { c.leeway = d })
}

// WithRefreshInterval sets the least time between two JWKS fetches caused by
// unknown key ids. Default DefaultRefreshInterval.
func WithRefreshInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.refreshInterval = d })
}

// WithMaxKeyAge sets how long a fetched key set is trusted before the next
// verification fetches it again (still at most once per refresh interval).
// Default DefaultMaxKeyAge.
func WithMaxKeyAge(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.maxKeyAge = d
		}
	})
}

// WithMaxTokenSize sets the longest token, in bytes, that is parsed at all.
// Default DefaultMaxTokenSize.
func WithMaxTokenSize(n int) Option {
	return optionFunc(func(c *config) { c.maxTokenSize = n })
}

// WithAlgorithms sets the algorithms accepted for keys of type kty ("RSA" or
// "EC") that do not declare their own alg; a key that declares an alg outside
// this list is ignored. Defaults: RS256 for RSA, ES256 for EC. Naming an
// algorithm that cannot be verified with kty panics in NewVerifier, so an
// HMAC or "none" can never be allowed by configuration.
func WithAlgorithms(kty string, algs ...string) Option {
	return optionFunc(func(c *config) {
		m := make(map[string][]string, len(c.algorithms)+1)
		for k, v := range c.algorithms {
			m[k] = v
		}
		m[kty] = slices.Clone(algs)
		c.algorithms = m
	})
}

// WithClock sets the source of the current time used for every time check
// and for the refresh interval. Default time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}

// WithTokenCache sets how many verified tokens are remembered until their
// exp, so a client sending the same token on every request pays for one
// signature check. Zero turns the cache off. Default DefaultTokenCacheSize.
func WithTokenCache(size int) Option {
	return optionFunc(func(c *config) { c.cacheSize = size })
}

// WithFetchTimeout bounds one JWKS fetch. Default DefaultFetchTimeout.
func WithFetchTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.fetchTimeout = d })
}

func (c config) validate() error {
	for kty, algs := range c.algorithms {
		known, ok := signingAlgs[kty]
		if !ok {
			return fmt.Errorf("auth: unsupported key type %q", kty)
		}
		for _, alg := range algs {
			if !slices.Contains(known, alg) {
				return fmt.Errorf("auth: algorithm %q cannot be used with key type %s", alg, kty)
			}
		}
	}
	return nil
}
