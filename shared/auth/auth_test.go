package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/user"
)

// start is the fixed time the injected clocks read at first.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeSource is a KeySource that counts its fetches.
type fakeSource struct {
	mu      sync.Mutex
	jwks    user.JWKS
	err     error
	fetches atomic.Int64
}

func (s *fakeSource) JWKS(context.Context) (user.JWKS, error) {
	s.fetches.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwks, s.err
}

func (s *fakeSource) set(jwks user.JWKS, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwks, s.err = jwks, err
}

// Keys are generated once: RSA generation is the slow part of these tests.
var (
	keysOnce sync.Once
	rsaKey1  *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey1, rsaKey2, ecKey
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid, alg string, k *rsa.PublicKey) user.JWK {
	return user.JWK{Kty: "RSA", Kid: kid, Alg: alg, Use: "sig", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) user.JWK {
	raw, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	return user.JWK{Kty: "EC", Kid: kid, Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:])}
}

// claims returns valid claims at the clock's start, changed by edit.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "usr_ada",
		"iss": auth.DefaultConfig().Issuer,
		"aud": auth.DefaultConfig().Audience,
		"exp": start.Add(15 * time.Minute).Unix(),
		"iat": start.Unix(),
		"jti": "tok-1",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, method jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// setup returns a verifier over a source publishing the RSA key "k1" and the
// EC key "e1", with its clock; edits change its default settings.
func setup(t testing.TB, edits ...func(*auth.Config)) (*auth.Verifier, *fakeSource, *clocktest.Manual) {
	t.Helper()
	k1, _, ec := keys(t)
	src := &fakeSource{jwks: user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k1.PublicKey), ecJWK("e1", &ec.PublicKey)}}}
	clk := clocktest.New(start)
	cfg := auth.DefaultConfig()
	for _, edit := range edits {
		edit(&cfg)
	}
	v := auth.NewVerifier(src, cfg, auth.WithClock(clk.Now))
	return v, src, clk
}

func wantProblem(t *testing.T, err error, code problem.Code, detail string) {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("got error %v, want a *problem.Error", err)
	}
	if p.Code != code || p.Detail != detail {
		t.Fatalf("got %s %q (%v), want %s %q", p.Code, p.Detail, p.Err, code, detail)
	}
}

func TestVerifyValid(t *testing.T) {
	k1, _, ec := keys(t)
	tests := []struct {
		name  string
		token func(t *testing.T) string
		kid   string
	}{
		{"RS256", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1) }, "k1"},
		{"ES256", func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, "e1", claims(nil), ec) }, "e1"},
		{"expired within leeway", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) {
				c["exp"] = start.Add(-10 * time.Second).Unix()
				c["iat"] = start.Add(-time.Hour).Unix()
			}), k1)
		}, "k1"},
		{"audience list", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", auth.DefaultConfig().Audience} }), k1)
		}, "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, _ := setup(t)
			got, err := v.Verify(context.Background(), tt.token(t))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != "usr_ada" || got.ID != "tok-1" || got.Issuer != auth.DefaultConfig().Issuer || got.KeyID != tt.kid {
				t.Errorf("got %+v, want sub usr_ada, jti tok-1, iss %s, kid %s", got, auth.DefaultConfig().Issuer, tt.kid)
			}
			if got.IssuedAt.IsZero() || got.ExpiresAt.IsZero() {
				t.Errorf("got iat %v exp %v, want both set", got.IssuedAt, got.ExpiresAt)
			}
		})
	}
}

func TestVerifyRefusesAttacks(t *testing.T) {
	k1, k2, _ := keys(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)
	parts := strings.Split(valid, ".")
	otherPayload := strings.Split(sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["sub"] = "usr_grace" }), k2), ".")[1]
	// Swap one character of the signature for another base64url letter, so
	// that it still decodes but no longer verifies.
	flipped := []byte(parts[2])
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	if flipped[10] == parts[2][10] {
		t.Fatal("signature not changed")
	}

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		code   problem.Code
		detail string
	}{
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, "k1", claims(nil), jwt.UnsafeAllowNoneSignatureType)
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"HS256 keyed with the public key PEM", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, "k1", claims(nil), pubPEM)
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"HS256 keyed with the raw modulus", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, "k1", claims(nil), k1.N.Bytes())
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"RS384 with a key declaring RS256", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS384, "k1", claims(nil), k1)
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"PS256 with a key declaring RS256", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodPS256, "k1", claims(nil), k1)
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"RS256 naming the EC key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "e1", claims(nil), k1)
		}, problem.CodeUnauthenticated, "algorithm not allowed"},
		{"ES256 signed by another EC key", func(t *testing.T) string {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return sign(t, jwt.SigningMethodES256, "e1", claims(nil), other)
		}, problem.CodeUnauthenticated, "invalid signature"},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) {
				c["exp"] = start.Add(-time.Minute).Unix()
				c["iat"] = start.Add(-time.Hour).Unix()
			}), k1)
		}, problem.CodeUnauthenticated, "token expired"},
		{"not yet valid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["nbf"] = start.Add(time.Minute).Unix() }), k1)
		}, problem.CodeUnauthenticated, "token not yet valid"},
		{"issued in the future", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["iat"] = start.Add(time.Minute).Unix() }), k1)
		}, problem.CodeUnauthenticated, "token issued in the future"},
		{"wrong issuer", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), k1)
		}, problem.CodeUnauthenticated, "wrong issuer"},
		{"wrong audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["aud"] = "another-api" }), k1)
		}, problem.CodeUnauthenticated, "wrong audience"},
		{"missing exp", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") }), k1)
		}, problem.CodeUnauthenticated, "missing required claim"},
		{"missing sub", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { delete(c, "sub") }), k1)
		}, problem.CodeUnauthenticated, "missing required claim"},
		{"unknown kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "nope", claims(nil), k1)
		}, problem.CodeUnauthenticated, "unknown key"},
		{"missing kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "", claims(nil), k1)
		}, problem.CodeUnauthenticated, "missing key id"},
		{"critical header", func(t *testing.T) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
			tok.Header["kid"] = "k1"
			tok.Header["crit"] = []string{"exp"}
			s, err := tok.SignedString(k1)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, problem.CodeUnauthenticated, "unsupported token header"},
		{"tampered payload", func(t *testing.T) string {
			return parts[0] + "." + otherPayload + "." + parts[2]
		}, problem.CodeUnauthenticated, "invalid signature"},
		{"tampered signature", func(t *testing.T) string {
			return parts[0] + "." + parts[1] + "." + string(flipped)
		}, problem.CodeUnauthenticated, "invalid signature"},
		{"oversized", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 9<<10) }), k1)
		}, problem.CodeUnauthenticated, "token too large"},
		{"garbage", func(*testing.T) string { return "garbage" }, problem.CodeUnauthenticated, "malformed token"},
		{"garbage with dots", func(*testing.T) string { return "not.a.jwt" }, problem.CodeUnauthenticated, "malformed token"},
		{"header not JSON", func(*testing.T) string { return b64([]byte("{alg")) + "." + parts[1] + "." + parts[2] }, problem.CodeUnauthenticated, "malformed token"},
		{"two segments", func(*testing.T) string { return parts[0] + "." + parts[1] }, problem.CodeUnauthenticated, "malformed token"},
		{"empty", func(*testing.T) string { return "" }, problem.CodeUnauthenticated, "missing token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, _ := setup(t)
			_, err := v.Verify(context.Background(), tt.token(t))
			wantProblem(t, err, tt.code, tt.detail)
		})
	}
}

func TestVerifyUnknownKidFloodFetchesOnce(t *testing.T) {
	k1, _, _ := keys(t)
	v, src, clk := setup(t)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	clk.Advance(auth.DefaultConfig().RefreshInterval)

	// The kid is looked up before the signature is checked, so the tokens
	// share one signature instead of paying for 1000 RSA signings.
	_, rest, _ := strings.Cut(sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1), ".")
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = b64(fmt.Appendf(nil, `{"alg":"RS256","typ":"JWT","kid":"random-%d"}`, i)) + "." + rest
	}
	var wg sync.WaitGroup
	var refused atomic.Int64
	for _, tok := range tokens {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			var p *problem.Error
			if errors.As(err, &p) && p.Code == problem.CodeUnauthenticated && errors.Is(err, auth.ErrUnknownKey) {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if got := refused.Load(); got != int64(len(tokens)) {
		t.Errorf("got %d tokens refused as unknown key, want %d", got, len(tokens))
	}
	// One fetch for Ready, one for the whole flood: the first unknown kid
	// past the interval refetches, every other waits for it or is throttled.
	if got := src.fetches.Load(); got != 2 {
		t.Errorf("got %d JWKS fetches, want 2", got)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	k1, k2, _ := keys(t)
	v, src, clk := setup(t)
	old := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatalf("Verify with k1: %v", err)
	}

	// The user service rotates: k2 signs from now on, k1 is withdrawn.
	src.set(user.JWKS{Keys: []user.JWK{rsaJWK("k2", "", &k2.PublicKey)}}, nil)
	clk.Advance(auth.DefaultConfig().RefreshInterval)
	fresh := sign(t, jwt.SigningMethodRS256, "k2", claims(nil), k2)
	got, err := v.Verify(context.Background(), fresh)
	if err != nil {
		t.Fatalf("Verify with k2: %v", err)
	}
	if got.KeyID != "k2" {
		t.Errorf("got kid %q, want k2", got.KeyID)
	}
	if got := src.fetches.Load(); got != 2 {
		t.Errorf("got %d fetches, want 2 (initial and one refetch)", got)
	}
	// A token of the withdrawn key no longer passes, even though it was
	// verified (and cached) before.
	_, err = v.Verify(context.Background(), old)
	wantProblem(t, err, problem.CodeUnauthenticated, "unknown key")
}

// TestVerifyKeyReplacedUnderItsKid: the user service publishes new material
// under a kid it used before. A token the old material signed, cached as
// verified, no longer passes; the same key fetched again keeps its tokens.
func TestVerifyKeyReplacedUnderItsKid(t *testing.T) {
	k1, k2, _ := keys(t)
	v, src, clk := setup(t)
	tok := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify with k1: %v", err)
	}
	// The same key set again, then k2's material under k1's kid; each is
	// fetched when an unknown kid asks for a refresh.
	unknown := sign(t, jwt.SigningMethodRS256, "k9", claims(nil), k2)
	refetch := func(jwks user.JWKS) {
		t.Helper()
		src.set(jwks, nil)
		clk.Advance(auth.DefaultConfig().RefreshInterval)
		fetches := src.fetches.Load()
		_, _ = v.Verify(context.Background(), unknown)
		if got := src.fetches.Load(); got != fetches+1 {
			t.Fatalf("got %d fetches, want %d", got, fetches+1)
		}
	}
	refetch(user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k1.PublicKey)}})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after the same key was fetched again: %v", err)
	}
	refetch(user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k2.PublicKey)}})
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a token of the replaced material passed")
	}
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k2)); err != nil {
		t.Fatalf("Verify with the new material: %v", err)
	}
}

func TestVerifyUnknownKidWithinIntervalDoesNotFetch(t *testing.T) {
	_, k2, _ := keys(t)
	v, src, _ := setup(t)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	src.set(user.JWKS{Keys: []user.JWK{rsaJWK("k2", "RS256", &k2.PublicKey)}}, nil)
	_, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, "k2", claims(nil), k2))
	wantProblem(t, err, problem.CodeUnauthenticated, "unknown key")
	if got := src.fetches.Load(); got != 1 {
		t.Errorf("got %d fetches, want 1", got)
	}
}

func TestVerifyCachedTokenExpiresOnInjectedClock(t *testing.T) {
	k1, _, _ := keys(t)
	v, _, clk := setup(t)
	tok := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)
	for i := range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify #%d: %v", i+1, err)
		}
	}
	clk.Advance(15*time.Minute + auth.DefaultConfig().Leeway)
	_, err := v.Verify(context.Background(), tok)
	wantProblem(t, err, problem.CodeUnauthenticated, "token expired")
}

func TestVerifyKeySourceFailure(t *testing.T) {
	k1, _, _ := keys(t)
	v, src, clk := setup(t)
	src.set(user.JWKS{}, errors.New("connection refused"))
	tok := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)

	_, err := v.Verify(context.Background(), tok)
	wantProblem(t, err, problem.CodeUnavailable, "token keys unavailable")
	if err := v.Ready(context.Background()); err == nil {
		t.Error("got Ready nil with a failing source, want an error")
	}
	// While the source is down, verifications within the interval do not
	// call it again.
	before := src.fetches.Load()
	_, err = v.Verify(context.Background(), tok)
	wantProblem(t, err, problem.CodeUnavailable, "token keys unavailable")
	if got := src.fetches.Load(); got != before {
		t.Errorf("got %d fetches, want %d", got, before)
	}

	src.set(user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k1.PublicKey)}}, nil)
	clk.Advance(auth.DefaultConfig().RefreshInterval)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
}

func TestReady(t *testing.T) {
	v, src, _ := setup(t)
	for range 3 {
		if err := v.Ready(context.Background()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
	}
	if got := src.fetches.Load(); got != 1 {
		t.Errorf("got %d fetches, want 1", got)
	}
}

func TestKeySetSkipsUnusableKeys(t *testing.T) {
	k1, _, _ := keys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ecJWK("bad-ec", &ecKey.PublicKey)
	offCurve.Y = offCurve.X
	tests := []struct {
		name string
		jwk  user.JWK
		sign func(t *testing.T) string
	}{
		{"short RSA key", rsaJWK("small", "", &small.PublicKey), func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "small", claims(nil), small)
		}},
		{"key declaring HS256", user.JWK{Kty: "oct", Kid: "hmac", Alg: "HS256"}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, "hmac", claims(nil), []byte("secret"))
		}},
		{"RSA key declaring an alg not allowed", rsaJWK("rs512", "RS512", &k1.PublicKey), func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS512, "rs512", claims(nil), k1)
		}},
		{"encryption key", user.JWK{Kty: "RSA", Kid: "enc", Use: "enc", N: rsaJWK("", "", &k1.PublicKey).N, E: "AQAB"}, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, "enc", claims(nil), k1)
		}},
		{"EC point off the curve", offCurve, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, "bad-ec", claims(nil), ecKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{jwks: user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k1.PublicKey), tt.jwk}}}
			clk := clocktest.New(start)
			v := auth.NewVerifier(src, auth.DefaultConfig(), auth.WithClock(clk.Now))
			_, err := v.Verify(context.Background(), tt.sign(t))
			wantProblem(t, err, problem.CodeUnauthenticated, "unknown key")
			// The good key beside it still works.
			if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)); err != nil {
				t.Errorf("Verify with the good key: %v", err)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	k1, _, _ := keys(b)
	for _, bc := range []struct {
		name string
		size int
	}{{"cache", auth.DefaultConfig().TokenCacheSize}, {"nocache", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			v, _, _ := setup(b, func(c *auth.Config) { c.TokenCacheSize = bc.size })
			tok := sign(b, jwt.SigningMethodRS256, "k1", claims(nil), k1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVerifyWithdrawnKeyWithoutNewKid: the user service withdraws a leaked
// key without publishing any new kid, so no unknown kid ever triggers a
// refetch; tokens of the withdrawn key still stop passing once the key set
// is older than the maximum key age.
func TestVerifyWithdrawnKeyWithoutNewKid(t *testing.T) {
	k1, _, ec := keys(t)
	v, src, clk := setup(t)
	leaked := sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1)
	if _, err := v.Verify(context.Background(), leaked); err != nil {
		t.Fatalf("Verify before the withdrawal: %v", err)
	}
	src.set(user.JWKS{Keys: []user.JWK{ecJWK("e1", &ec.PublicKey)}}, nil)
	clk.Advance(auth.DefaultMaxKeyAge - time.Second)
	if _, err := v.Verify(context.Background(), leaked); err != nil {
		t.Fatalf("Verify within the key age: %v (the set is not refetched yet)", err)
	}
	clk.Advance(time.Second)
	// The request that finds the set old is verified with it, and starts
	// the fetch behind it; once the new set is in, the token is refused.
	_, _ = v.Verify(context.Background(), leaked)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err = v.Verify(context.Background(), leaked); err != nil {
			break
		}
	}
	wantProblem(t, err, problem.CodeUnauthenticated, "unknown key")
	if got := src.fetches.Load(); got != 2 {
		t.Errorf("got %d fetches, want 2 (the first and one when the set grew old)", got)
	}
}

// TestVerifyWithdrawalDuringAVerification: a key withdrawn (the cache
// flushed) while a token it signed is being verified does not leave that
// token cached and accepted until its exp.
func TestVerifyWithdrawalDuringAVerification(t *testing.T) {
	k1, _, ec := keys(t)
	src := &fakeSource{jwks: user.JWKS{Keys: []user.JWK{rsaJWK("k1", "RS256", &k1.PublicKey), ecJWK("e1", &ec.PublicKey)}}}
	clk := clocktest.New(start)
	var v *auth.Verifier
	var reads, withdrawAt atomic.Int64
	unknownKid := func() string {
		_, rest, _ := strings.Cut(sign(t, jwt.SigningMethodRS256, "k1", claims(nil), k1), ".")
		return b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"new-kid"}`)) + "." + rest
	}()
	now := func() time.Time {
		if reads.Add(1) == withdrawAt.Load() {
			// Between the key lookup and the cache write of the outer
			// Verify: k1 is withdrawn, and a token of an unknown kid makes
			// the verifier fetch the set, which flushes the cache.
			clk.Advance(auth.DefaultConfig().RefreshInterval)
			src.set(user.JWKS{Keys: []user.JWK{ecJWK("e1", &ec.PublicKey)}}, nil)
			_, _ = v.Verify(context.Background(), unknownKid)
		}
		return clk.Now()
	}
	v = auth.NewVerifier(src, auth.DefaultConfig(), auth.WithClock(now))
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaked := sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) {
		c["exp"] = start.Add(365 * 24 * time.Hour).Unix()
	}), k1)
	withdrawAt.Store(reads.Load() + 2) // the clock's first read after Verify's own
	_, _ = v.Verify(context.Background(), leaked)
	if got := src.fetches.Load(); got != 2 {
		t.Fatalf("got %d fetches, want 2: the withdrawal did not happen mid-verification", got)
	}
	_, err := v.Verify(context.Background(), leaked)
	wantProblem(t, err, problem.CodeUnauthenticated, "unknown key")
}

// TestOldKeySetIsRefreshedBehind: once the key set is older than the
// maximum key age, a token is still verified with it while the user
// service does not answer the fetch, rather than wait for it.
func TestOldKeySetIsRefreshedBehind(t *testing.T) {
	k1, _, _ := keys(t)
	v, src, clk := setup(t)
	tok := sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) {
		c["exp"] = start.Add(time.Hour).Unix()
	}), k1)
	fresh := sign(t, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) {
		c["exp"] = start.Add(time.Hour).Unix()
		c["jti"] = "another"
	}), k1)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock() // the user service hangs: JWKS waits for the lock
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			src.mu.Unlock()
		}
	}
	defer unlock()
	clk.Advance(auth.DefaultMaxKeyAge)
	done := make(chan error, 2)
	go func() {
		_, err := v.Verify(context.Background(), tok) // cached
		done <- err
		_, err = v.Verify(context.Background(), fresh) // verified in full
		done <- err
	}()
	for _, which := range []string{"a cached token", "a token verified in full"} {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s while the key set is being fetched: %v", which, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s waited for the key set's fetch", which)
		}
	}
	unlock()
	for deadline := time.Now().Add(10 * time.Second); src.fetches.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the old key set was never fetched again")
		}
	}
}

// TestConfigValidate: the leeway on token times is bounded both ways; the
// defaults pass.
func TestConfigValidate(t *testing.T) {
	if err := auth.DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, leeway := range []time.Duration{-time.Second, auth.MaxLeeway + time.Second, 30 * time.Minute} {
		cfg := auth.DefaultConfig()
		cfg.Leeway = leeway
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Leeway") {
			t.Errorf("leeway %v: %v, want an error naming Leeway", leeway, err)
		}
	}
}
