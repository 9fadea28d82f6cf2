// Package auth verifies the access tokens the user service issues: RS256 or
// ES256 JWTs checked against the service's JWKS, with the algorithms pinned
// per key and the key set refreshed, sparingly, when a token names a key it
// does not know. It is plain Go: the HTTP edge extracts the token and maps
// the *problem.Error it gets back.
package auth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"
	"github.com/golang-jwt/jwt/v5"
	cache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/user"
)

// KeySource supplies the user service's current key set; the user client
// implements it.
type KeySource interface {
	JWKS(ctx context.Context) (user.JWKS, error)
}

// Claims are the verified facts of a token.
type Claims struct {
	// Subject is the user id: the only trustworthy source of who is calling.
	Subject string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// IssuedAt is the token's iat, zero when absent.
	IssuedAt time.Time
	// ID is the token's jti, empty when absent.
	ID string
	// Issuer is the token's iss.
	Issuer string
	// Audience is the token's aud.
	Audience []string
	// KeyID is the kid of the key that signed the token.
	KeyID string
}

// Errors kept in the cause of the *problem.Error Verify returns, for
// errors.Is in logs and tests; the client sees only the short detail.
var (
	ErrUnknownKey   = errors.New("no key with this kid in the JWKS")
	ErrAlgorithm    = errors.New("algorithm not allowed for this key")
	ErrTokenTooLong = errors.New("token longer than the size bound")
	// ErrTokenExpired is a token past its exp; its signature was checked
	// first, and was good.
	ErrTokenExpired = jwt.ErrTokenExpired
)

// errThrottled means a refresh was skipped because the last one is too recent.
var errThrottled = errors.New("jwks refreshed too recently")

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	src     KeySource
	cfg     Config
	now     func() time.Time
	parsers map[string]*jwt.Parser // one per allowed algorithm, pinned to it

	keys  atomic.Pointer[keySet] // nil until the first successful fetch
	group singleflight.Group

	mu          sync.Mutex
	lastAttempt time.Time // of the last fetch, successful or not
	// refreshing is set while refreshBehind's goroutine runs.
	refreshing atomic.Bool

	tokens *cache.Cache // verified tokens by sha256, nil when off
}

// NewVerifier returns a Verifier reading keys from src with the settings cfg
// (start from DefaultConfig). It does not fetch the key set: the first
// Verify or Ready does. It panics when cfg does not validate, a wiring
// mistake: the BFF validates its settings before it starts.
func NewVerifier(src KeySource, cfg Config, opts ...Option) *Verifier {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{src: src, cfg: cfg, now: o.now, parsers: map[string]*jwt.Parser{}}
	for _, algs := range allowedAlgs {
		for _, alg := range algs {
			v.parsers[alg] = jwt.NewParser(
				jwt.WithValidMethods([]string{alg}),
				jwt.WithIssuer(cfg.Issuer),
				jwt.WithAudience(cfg.Audience),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithLeeway(cfg.Leeway),
				jwt.WithTimeFunc(v.now),
				jwt.WithStrictDecoding(),
			)
		}
	}
	if cfg.TokenCacheSize > 0 {
		v.tokens = cache.New(cache.NoExpiration, time.Minute)
	}
	return v
}

// Ready loads the key set if it has never been loaded, ignoring the refresh
// interval, so a readiness probe reports whether tokens can be verified.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.keys.Load() != nil {
		return nil
	}
	if err := v.refresh(ctx, forced); err != nil {
		return fmt.Errorf("load jwks: %w", err)
	}
	return nil
}

// Verify checks token (the compact JWS, without "Bearer ") and returns its
// claims. Every refusal is a *problem.Error: CodeUnauthenticated with a short
// detail safe to show, or CodeUnavailable when the key set cannot be fetched
// and so no answer about the token is possible. Verify keeps nothing of
// token, which may be a view of a buffer its caller reuses once Verify has
// returned (a request header).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, problem.New(problem.CodeUnauthenticated, "missing token")
	}
	if len(token) > v.cfg.MaxTokenBytes {
		return Claims{}, unauthenticated(ErrTokenTooLong, "token too large")
	}
	now := v.now()
	if set := v.keys.Load(); set != nil && now.Sub(set.fetched) >= DefaultMaxKeyAge {
		v.refreshBehind(ctx, now)
	}
	var sum [sha256.Size]byte
	if v.tokens != nil {
		// Hashed in place: []byte(token) would copy the token (hundreds of
		// bytes) on every request; Sum256 only reads it.
		sum = sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
		if x, ok := v.tokens.Get(string(sum[:])); ok {
			e := x.(verified)
			c := e.claims
			switch {
			case !v.stillPublished(c.KeyID, e.key):
				// Its key was withdrawn, perhaps while the token was being
				// verified (after the cache was flushed): verified again,
				// it is refused.
				v.tokens.Delete(string(sum[:]))
			case now.Before(c.ExpiresAt.Add(v.cfg.Leeway)):
				// The cache's own expiry runs on the wall clock; the claims
				// are checked against the verifier's.
				c.Audience = slices.Clone(c.Audience) // so no caller can change the cached entry
				return c, nil
			default:
				v.tokens.Delete(string(sum[:]))
				return Claims{}, unauthenticated(jwt.ErrTokenExpired, "token expired")
			}
		}
	}
	// A token of its own from here on: the caller's may be a view of a
	// request buffer (see Verify's doc comment), and nothing below is
	// meant to keep it, but the parser is not ours to vouch for.
	c, key, err := v.verify(ctx, strings.Clone(token))
	if err != nil {
		return Claims{}, err
	}
	if v.tokens != nil && v.tokens.ItemCount() < v.cfg.TokenCacheSize {
		if ttl := c.ExpiresAt.Add(v.cfg.Leeway).Sub(v.now()); ttl > 0 {
			v.tokens.Set(string(sum[:]), verified{claims: c, key: key}, ttl)
		}
	}
	return c, nil
}

// verified is a token in the cache: its claims, and the key that signed it.
type verified struct {
	claims Claims
	key    crypto.PublicKey
}

// stillPublished reports whether the key set in use still holds key under
// kid.
func (v *Verifier) stillPublished(kid string, key crypto.PublicKey) bool {
	set := v.keys.Load()
	if set == nil {
		return false
	}
	cur, ok := set.keys[kid]
	// The same pointer (parseKey makes only *rsa.PublicKey and
	// *ecdsa.PublicKey): a refresh keeps the value of a key it fetched
	// again unchanged (carryOver), so that this check, made on every
	// request served from the token cache, compares no key material.
	return ok && cur.key == key
}

// refreshBehind fetches a key set grown old on a goroutine of its own,
// unless a fetch is under way or was tried within the refresh interval:
// requests go on with the old set meanwhile rather than wait on the user
// service (a failed fetch leaves it in use rather than lock everyone out).
func (v *Verifier) refreshBehind(ctx context.Context, now time.Time) {
	v.mu.Lock()
	recent := !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.cfg.RefreshInterval
	v.mu.Unlock()
	if recent || !v.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer v.refreshing.Store(false)
		_ = v.refresh(context.WithoutCancel(ctx), throttled)
	}()
}

// header is the part of the JOSE header read before the signature is checked.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// verify checks token in full and returns its claims and the key that
// signed it.
func (v *Verifier) verify(ctx context.Context, token string) (Claims, crypto.PublicKey, error) {
	h, err := decodeHeader(token)
	if err != nil {
		return Claims{}, nil, unauthenticated(err, "malformed token")
	}
	// No extension is understood, so RFC 7515 says a token that marks one as
	// critical must be refused.
	if len(h.Crit) > 0 {
		return Claims{}, nil, unauthenticated(errors.New("crit header present"), "unsupported token header")
	}
	if h.Kid == "" {
		return Claims{}, nil, unauthenticated(errors.New("no kid in header"), "missing key id")
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return Claims{}, nil, err
	}
	if !slices.Contains(key.algs, h.Alg) {
		return Claims{}, nil, unauthenticated(fmt.Errorf("%w: alg %q, key %q accepts %v", ErrAlgorithm, h.Alg, h.Kid, key.algs), "algorithm not allowed")
	}
	var tc tokenClaims
	tok, err := v.parsers[h.Alg].ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		// The library decodes the header again; refuse any disagreement with
		// the header the key was chosen by.
		if kid, _ := t.Header["kid"].(string); kid != h.Kid {
			return nil, errors.New("kid changed between header decodings")
		}
		return key.key, nil
	})
	if err != nil {
		return Claims{}, nil, unauthenticated(err, jwtDetail(err))
	}
	if tok.Method.Alg() != h.Alg {
		return Claims{}, nil, unauthenticated(ErrAlgorithm, "algorithm not allowed")
	}
	c := Claims{
		Subject:   tc.Subject,
		ExpiresAt: tc.ExpiresAt.Time,
		ID:        tc.ID,
		Issuer:    tc.Issuer,
		Audience:  []string(tc.Audience),
		KeyID:     h.Kid,
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	return c, key.key, nil
}

// tokenClaims adds the checks the library leaves to the application.
type tokenClaims struct {
	jwt.RegisteredClaims
}

// Validate requires a subject: a token that names no user authenticates
// nobody.
func (c tokenClaims) Validate() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)
	}
	return nil
}

func decodeHeader(token string) (header, error) {
	var h header
	end := 0
	for end < len(token) && token[end] != '.' {
		end++
	}
	if end == len(token) {
		return h, errors.New("no header segment")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token[:end])
	if err != nil {
		return h, fmt.Errorf("decode header: %w", err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("decode header: %w", err)
	}
	return h, nil
}

// key returns the key named kid, refreshing the key set once per refresh
// interval when kid is unknown.
func (v *Verifier) key(ctx context.Context, kid string) (publicKey, error) {
	if set := v.keys.Load(); set != nil {
		if k, ok := set.keys[kid]; ok {
			return k, nil
		}
	}
	err := v.refresh(ctx, throttled)
	set := v.keys.Load()
	switch {
	case errors.Is(err, errThrottled) && set != nil:
		// The set is fresh enough: the kid is made up or not yet published.
	case err != nil:
		return publicKey{}, &problem.Error{
			Code:       problem.CodeUnavailable,
			Detail:     "token keys unavailable",
			RetryAfter: v.cfg.RefreshInterval,
			Err:        err,
		}
	}
	if k, ok := set.keys[kid]; ok {
		return k, nil
	}
	cause := fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	if why, ok := set.skipped[kid]; ok {
		cause = fmt.Errorf("%w: %w", ErrUnknownKey, why)
	}
	return publicKey{}, unauthenticated(cause, "unknown key")
}

// fetchMode says whether a key set fetch heeds the refresh interval.
type fetchMode int

const (
	// throttled skips the fetch while the last one is younger than the
	// refresh interval.
	throttled fetchMode = iota
	// forced fetches whatever the interval.
	forced
)

// refresh fetches the key set unless, throttled, the last fetch is younger
// than the refresh interval. Concurrent callers share one fetch, which runs
// detached from any single caller's cancellation so that the first caller
// giving up does not fail the others.
func (v *Verifier) refresh(ctx context.Context, mode fetchMode) error {
	name := "refresh"
	if mode == forced {
		name = "load"
	}
	ch := v.group.DoChan(name, func() (any, error) {
		now := v.now()
		v.mu.Lock()
		// Checked inside the flight: a caller arriving just after a fetch
		// finished must not start another.
		if mode == throttled && !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.cfg.RefreshInterval {
			v.mu.Unlock()
			return nil, errThrottled
		}
		v.lastAttempt = now
		v.mu.Unlock()

		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultFetchTimeout)
		defer cancel()
		jwks, err := v.src.JWKS(fctx)
		if err != nil {
			return nil, fmt.Errorf("fetch jwks: %w", err)
		}
		set := parseKeySet(jwks, allowedAlgs)
		set.fetched = now
		if len(set.keys) == 0 {
			errs := make([]error, 0, len(set.skipped))
			for _, e := range set.skipped {
				errs = append(errs, e)
			}
			return nil, fmt.Errorf("jwks has no usable key: %w", errors.Join(errs...))
		}
		set.carryOver(v.keys.Load())
		old := v.keys.Swap(set)
		v.forgetTokensOfRemovedKeys(old, set)
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forgetTokensOfRemovedKeys empties the verified-token cache when a key
// disappears from the JWKS: withdrawing a key is how a leaked key is revoked,
// and tokens it signed must stop working now, not at their exp.
func (v *Verifier) forgetTokensOfRemovedKeys(old, cur *keySet) {
	if v.tokens == nil || old == nil {
		return
	}
	for kid := range old.keys {
		if _, ok := cur.keys[kid]; !ok {
			v.tokens.Flush()
			return
		}
	}
}

func unauthenticated(err error, detail string) *problem.Error {
	return problem.Wrap(err, problem.CodeUnauthenticated, detail)
}

// jwtDetail turns a library error into a short detail safe to show a client.
func jwtDetail(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not yet valid"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	default:
		return "invalid token"
	}
}
