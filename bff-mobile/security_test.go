package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// forger signs tokens the way the user service does, or the ways an
// attacker would.
type forger struct {
	kid      string
	key      *rsa.PrivateKey // the user service's own signing key
	attacker *rsa.PrivateKey // a key the JWKS does not publish
	now      time.Time
}

func newForger(t *testing.T, rt *sandboxtest.Running) forger {
	t.Helper()
	kid, key := rt.Sandbox.SigningKey()
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return forger{kid: kid, key: key, attacker: attacker, now: time.Now()}
}

// claims are valid claims for ada, changed by edit.
func (f forger) claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": sandbox.Ada.ID,
		"iss": "https://user.storefront.dev",
		"aud": "storefront-bff",
		"exp": f.now.Add(15 * time.Minute).Unix(),
		"iat": f.now.Unix(),
		"nbf": f.now.Unix(),
		"jti": "forged",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func (f forger) sign(t *testing.T, method jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
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

// attacks are the token attacks of the issue, each with the detail the BFF
// answers. Every one must be refused with a 401 problem.
func (f forger) attacks(t *testing.T) []struct{ name, token, detail string } {
	pubDER, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := strings.Split(f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.key), ".")
	grace := strings.Split(f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["sub"] = sandbox.Grace.ID }), f.attacker), ".")
	// Another base64url letter in the signature: it still decodes but no
	// longer verifies.
	sig := []byte(valid[2])
	if sig[5] == 'A' {
		sig[5] = 'B'
	} else {
		sig[5] = 'A'
	}
	return []struct{ name, token, detail string }{
		{"alg none", f.sign(t, jwt.SigningMethodNone, f.kid, f.claims(nil), jwt.UnsafeAllowNoneSignatureType), "algorithm not allowed"},
		{"HS256 keyed with the RSA public key", f.sign(t, jwt.SigningMethodHS256, f.kid, f.claims(nil), pubPEM), "algorithm not allowed"},
		{"RS512 where the key declares RS256", f.sign(t, jwt.SigningMethodRS512, f.kid, f.claims(nil), f.key), "algorithm not allowed"},
		{"signed by a key the JWKS does not hold", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.attacker), "invalid signature"},
		{"expired", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) {
			c["exp"] = f.now.Add(-time.Minute).Unix()
			c["iat"] = f.now.Add(-time.Hour).Unix()
			c["nbf"] = f.now.Add(-time.Hour).Unix()
		}), f.key), "token expired"},
		{"not yet valid", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["nbf"] = f.now.Add(10 * time.Minute).Unix() }), f.key), "token not yet valid"},
		{"issued in the future", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["iat"] = f.now.Add(10 * time.Minute).Unix() }), f.key), "token issued in the future"},
		{"wrong issuer", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), f.key), "wrong issuer"},
		{"wrong audience", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["aud"] = "another-api" }), f.key), "wrong audience"},
		{"no subject", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { delete(c, "sub") }), f.key), "missing required claim"},
		{"no expiry", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { delete(c, "exp") }), f.key), "missing required claim"},
		{"unknown kid", f.sign(t, jwt.SigningMethodRS256, "attacker-key", f.claims(nil), f.attacker), "unknown key"},
		{"no kid", f.sign(t, jwt.SigningMethodRS256, "", f.claims(nil), f.key), "missing key id"},
		{"tampered payload", valid[0] + "." + grace[1] + "." + valid[2], "invalid signature"},
		{"tampered signature", valid[0] + "." + valid[1] + "." + string(sig), "invalid signature"},
		{"oversized", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 4<<10) }), f.key), "token too large"},
		{"garbage", "garbage", "malformed token"},
		{"three garbage segments", "not.a.jwt", "malformed token"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("{alg")) + "." + valid[1] + "." + valid[2], "malformed token"},
	}
}

// TestTokenAttacks sends every attack token as a bearer token to a read and
// to an order: each is a 401 problem with a bearer challenge, and no order,
// payment or reservation exists afterwards. A valid token passes.
func TestTokenAttacks(t *testing.T) {
	// The token bound is lowered below the header limit, so that an
	// oversized token reaches the verifier.
	s := startStack(t, "AUTH_MAX_TOKEN_BYTES", "4096")
	f := newForger(t, s.Running)
	before := s.entities(t)
	for _, a := range f.attacks(t) {
		t.Run(a.name, func(t *testing.T) {
			for _, r := range []servertest.Response{
				servertest.Do(t, "GET", s.Base+"/v1/orders", nil, "Authorization", "Bearer "+a.token),
				servertest.Do(t, "POST", s.Base+"/v1/orders", orderBody("tok_visa", line(1, 1)), "Authorization", "Bearer "+a.token, "Idempotency-Key", servertest.NewKey()),
			} {
				if r.Status != 401 {
					t.Fatalf("got status %d, want 401; body %s", r.Status, r.Body)
				}
				if p := r.Problem(t); p["code"] != "unauthenticated" || p["detail"] != a.detail {
					t.Errorf("got problem %v, want unauthenticated %q", p, a.detail)
				}
				if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="storefront", error="invalid_token"` {
					t.Errorf("got WWW-Authenticate %q, want the invalid_token challenge", got)
				}
			}
		})
	}
	others := []struct {
		name, authorization string
		status              int
	}{
		{"no Authorization", "", 401},
		{"empty bearer", "Bearer ", 401},
		{"basic credentials", "Basic YWRhOmNvcnJlY3QtaG9yc2U=", 401},
		{"token without scheme", f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.key), 401},
		{"forged valid token", "Bearer " + f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.key), 200},
		{"scheme in lower case", "bearer " + f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.key), 200},
		{"issued by the user service", s.login(t, sandbox.Ada.Email, sandbox.Ada.Password), 200},
	}
	for _, o := range others {
		t.Run(o.name, func(t *testing.T) {
			if r := servertest.Do(t, "GET", s.Base+"/v1/orders", nil, "Authorization", o.authorization); r.Status != o.status {
				t.Errorf("got status %d, want %d; body %s", r.Status, o.status, r.Body)
			}
		})
	}
	if after := s.entities(t); !reflect.DeepEqual(after, before) {
		t.Errorf("the sandbox changed under attack:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestKidFloodBoundedJWKSFetches sends 300 tokens naming made-up key
// ids at once: all are refused, and the user service's JWKS is fetched at
// most once per AUTH_JWKS_REFRESH_INTERVAL (10s by default) on top of the
// fetch made at start.
func TestKidFloodBoundedJWKSFetches(t *testing.T) {
	s := startStack(t)
	f := newForger(t, s.Running)
	jwksFetches := func() int {
		return s.State(t).User.Requests["GET /.well-known/jwks.json"]
	}
	if got := jwksFetches(); got != 1 {
		t.Fatalf("got %d JWKS fetches at start, want 1", got)
	}
	// One signature serves every token: the kid is checked before it.
	_, rest, _ := strings.Cut(f.sign(t, jwt.SigningMethodRS256, f.kid, f.claims(nil), f.attacker), ".")
	const flood, workers = 300, 30
	tokens := make(chan string, flood)
	for i := range flood {
		h := fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":"random-%d"}`, i)
		tokens <- base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + rest
	}
	close(tokens)
	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range workers {
		wg.Go(func() {
			for tok := range tokens {
				r, err := servertest.Send("GET", s.Base+"/v1/orders", nil, "Authorization", "Bearer "+tok)
				mu.Lock()
				if err != nil {
					statuses[-1]++
				} else {
					statuses[r.Status]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("flood took %v", elapsed)
	if statuses[401] != flood {
		t.Errorf("got statuses %v, want %d × 401", statuses, flood)
	}
	allowed := 1 + 1 + int(elapsed/(10*time.Second))
	if got := jwksFetches(); got > allowed {
		t.Errorf("got %d JWKS fetches for a flood of %d unknown kids over %v, want at most %d", got, flood, elapsed, allowed)
	}
}

// TestMalformedInput sends malformed bodies, paths, queries and headers:
// each gets its 4xx problem, and the sandbox's stock, reservations,
// payments and orders are unchanged afterwards.
func TestMalformedInput(t *testing.T) {
	s, ada := startAsAda(t)
	okLine := `{"product_id":1,"quantity":1}`
	lines51 := strings.TrimSuffix(strings.Repeat(`{"product_id":1,"quantity":1},`, 51), ",")
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"empty order", "POST", "/v1/orders", "", nil, 400, "malformed_json", ""},
		{"order not JSON", "POST", "/v1/orders", "items=1", nil, 400, "malformed_json", ""},
		{"order truncated", "POST", "/v1/orders", `{"items":[` + okLine, nil, 400, "malformed_json", ""},
		{"order is an array", "POST", "/v1/orders", `[` + okLine + `]`, nil, 400, "invalid_request", ""},
		{"quantity as a string", "POST", "/v1/orders", `{"items":[{"product_id":1,"quantity":"1"}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].quantity"},
		{"quantity as a float", "POST", "/v1/orders", `{"items":[{"product_id":1,"quantity":1.5}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].quantity"},
		{"quantity zero", "POST", "/v1/orders", `{"items":[{"product_id":1,"quantity":0}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].quantity"},
		{"quantity 100", "POST", "/v1/orders", `{"items":[{"product_id":1,"quantity":100}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].quantity"},
		{"negative product", "POST", "/v1/orders", `{"items":[{"product_id":-1,"quantity":1}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].product_id"},
		{"product id overflows", "POST", "/v1/orders", `{"items":[{"product_id":99999999999999999999,"quantity":1}],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items[0].product_id"},
		{"no lines", "POST", "/v1/orders", `{"items":[],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items"},
		{"51 lines", "POST", "/v1/orders", `{"items":[` + lines51 + `],"payment_token":"tok_visa"}`, nil, 400, "invalid_request", "items"},
		{"unknown member", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa","price":1}`, nil, 400, "invalid_request", "price"},
		{"repeated member", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa","payment_token":"tok_declined"}`, nil, 400, "invalid_request", "payment_token"},
		{"trailing data", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}{}`, nil, 400, "malformed_json", ""},
		{"deep nesting", "POST", "/v1/orders", strings.Repeat("[", 10000), nil, 400, "malformed_json", ""},
		{"payment token too long", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"` + strings.Repeat("t", 300) + `"}`, nil, 400, "invalid_request", "payment_token"},
		{"no Idempotency-Key", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"Idempotency-Key", ""}, 400, "idempotency_key_missing", ""},
		{"Idempotency-Key unterminated", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"Idempotency-Key", `"abc`}, 400, "idempotency_key_invalid", ""},
		{"Idempotency-Key list", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"Idempotency-Key", `"a", "b"`}, 400, "idempotency_key_invalid", ""},
		{"headers over the limit", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"X-Padding", strings.Repeat("p", 9<<10)}, 431, "headers_too_large", ""},
		{"order id with a quote", "GET", "/v1/orders/o'1", nil, nil, 400, "invalid_request", "id"},
		{"order id traversal", "GET", "/v1/orders/%2E%2E%5C__admin%5Cstate", nil, nil, 400, "invalid_request", "id"},
		{"order id too long", "GET", "/v1/orders/" + strings.Repeat("9", 65), nil, nil, 400, "invalid_request", "id"},
		{"limit zero", "GET", "/v1/orders?limit=0", nil, nil, 400, "invalid_request", "limit"},
		{"limit huge", "GET", "/v1/orders?limit=99999999999999999999", nil, nil, 400, "invalid_request", "limit"},
		{"cursor with quotes", "GET", "/v1/orders?cursor=%22%3B--", nil, nil, 400, "invalid_request", "cursor"},
		{"login repeated member", "POST", "/v1/auth/token", `{"email":"ada@example.com","email":"grace@example.com","password":"x"}`, nil, 400, "invalid_request", "email"},
		{"login unknown member", "POST", "/v1/auth/token", `{"email":"ada@example.com","password":"x","role":"admin"}`, nil, 400, "invalid_request", "role"},
		{"login wrong type", "POST", "/v1/auth/token", `{"email":["ada@example.com"],"password":"x"}`, nil, 400, "invalid_request", "email"},
		{"login without password", "POST", "/v1/auth/token", `{"email":"ada@example.com"}`, nil, 400, "invalid_request", "password"},
		{"unknown route", "GET", "/v1/admin", nil, nil, 404, "not_found", ""},
		{"order as plain text", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"order as a form", "POST", "/v1/orders", `{"items":[` + okLine + `],"payment_token":"tok_visa"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"login as plain text", "POST", "/v1/auth/token", `{"email":"ada@example.com","password":"correct-horse"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"refresh as plain text", "POST", "/v1/auth/refresh", `{"refresh_token":"t"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"logout as plain text", "POST", "/v1/auth/logout", `{"refresh_token":"t"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
	}
	before := s.entities(t)
	t.Run("body over the limit", func(t *testing.T) {
		body := `{"items":[` + okLine + `],"payment_token":"` + strings.Repeat("t", 70<<10) + `"}`
		// An http.Client, which is still writing the body as the answer
		// comes: the server reads the rest before it closes, so that the
		// answer is not lost to a reset.
		r := servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", servertest.NewKey())
		if r.Status != 413 || !strings.Contains(string(r.Body), `"code":"payload_too_large"`) {
			t.Errorf("got %d %s, want a 413 payload_too_large problem", r.Status, r.Body)
		}
		if after := s.entities(t); !reflect.DeepEqual(after, before) {
			t.Errorf("the sandbox changed:\nbefore %+v\nafter  %+v", before, after)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := append([]string{"Authorization", ada, "Idempotency-Key", servertest.NewKey()}, tt.headers...)
			r := servertest.Do(t, tt.method, s.Base+tt.path, tt.body, headers...)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			p := r.Problem(t)
			if p["code"] != tt.code {
				t.Errorf("got code %v, want %s; problem %v", p["code"], tt.code, p)
			}
			if got, _ := p["field"].(string); got != tt.field {
				t.Errorf("got field %q, want %q; problem %v", got, tt.field, p)
			}
			if after := s.entities(t); !reflect.DeepEqual(after, before) {
				t.Errorf("the sandbox changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// entities is the sandbox's state without its request counters: what a
// refused request must leave as it was.
func (s *stack) entities(t *testing.T) sandbox.State {
	t.Helper()
	st := s.State(t)
	st.Product.Requests, st.Order.Requests, st.Payment.Requests, st.User.Requests, st.Notification.Requests = nil, nil, nil, nil, nil
	return st
}
