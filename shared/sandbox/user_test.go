package sandbox_test

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/notification"
	"storefront.dev/shared/upstream/user"
)

func fetchJWKS(t *testing.T, rn *sandboxtest.Running) map[string]*rsa.PublicKey {
	t.Helper()
	var set user.JWKS
	do(t, "GET", rn.UserURL+"/.well-known/jwks.json", nil).want(t, http.StatusOK).decode(t, &set)
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.Kid == "" {
			t.Errorf("got key %+v, want kty RSA, alg RS256, use sig and a kid", k)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			t.Fatalf("key %s: n or e is not base64url: %v %v", k.Kid, err1, err2)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys
}

// verify checks a token as a gateway would: RS256 only, key by kid from the
// JWKS, iss, aud and exp at the sandbox's clock.
func verify(t *testing.T, keys map[string]*rsa.PublicKey, raw string, now time.Time) (jwt.MapClaims, error) {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://user.storefront.dev"),
		jwt.WithAudience("storefront-bff"), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	return claims, err
}

func token(t *testing.T, rn *sandboxtest.Running, email, password string) user.Token {
	t.Helper()
	var tok user.Token
	do(t, "POST", rn.UserURL+"/auth/token", user.TokenRequest{Email: email, Password: password}).want(t, http.StatusOK).decode(t, &tok)
	return tok
}

func TestToken(t *testing.T) {
	rn, clock := startManual(t)
	for _, u := range []sandbox.SeedUser{sandbox.Ada, sandbox.Grace} {
		t.Run(u.Email, func(t *testing.T) {
			tok := token(t, rn, u.Email, u.Password)
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || len(tok.RefreshToken) < 40 {
				t.Errorf("got %+v, want a Bearer token for 900s and a refresh token", tok)
			}
			claims, err := verify(t, fetchJWKS(t, rn), tok.AccessToken, clock.Now())
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if claims["sub"] != u.ID || claims["jti"] == "" {
				t.Errorf("got claims %v, want sub %s and a jti", claims, u.ID)
			}
			for claim, want := range map[string]time.Time{"iat": t0, "nbf": t0, "exp": t0.Add(15 * time.Minute)} {
				if got, _ := claims[claim].(float64); int64(got) != want.Unix() {
					t.Errorf("got %s %v, want %d", claim, claims[claim], want.Unix())
				}
			}
			if _, err := verify(t, fetchJWKS(t, rn), tok.AccessToken, t0.Add(15*time.Minute+time.Second)); err == nil {
				t.Error("verify after exp: got nil error, want expired")
			}
		})
	}

	bad := []struct {
		name, body string
		status     int
		code       string
	}{
		{"wrong password", `{"email":"ada@example.com","password":"battery-staple"}`, http.StatusUnauthorized, "invalid_credentials"},
		{"unknown email", `{"email":"eve@example.com","password":"correct-horse"}`, http.StatusUnauthorized, "invalid_credentials"},
		{"missing password", `{"email":"ada@example.com"}`, http.StatusBadRequest, "invalid_request"},
		{"malformed", `{"email":`, http.StatusBadRequest, "malformed_json"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			do(t, "POST", rn.UserURL+"/auth/token", tt.body).problem(t, tt.status, tt.code)
		})
	}
	t.Run("email is case-insensitive", func(t *testing.T) {
		token(t, rn, "Ada@Example.com", "correct-horse")
	})
}

func TestKeyRotation(t *testing.T) {
	rn, clock := startManual(t)
	old := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
	oldKid, _ := rn.Sandbox.SigningKey()
	newKid := rn.Sandbox.RotateKey()
	if newKid == oldKid {
		t.Fatal("RotateKey kept the same kid")
	}
	keys := fetchJWKS(t, rn)
	if len(keys) != 2 || keys[oldKid] == nil || keys[newKid] == nil {
		t.Fatalf("got kids %v, want %s and %s", keys, oldKid, newKid)
	}
	fresh := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
	parsed, _, err := jwt.NewParser().ParseUnverified(fresh.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != newKid {
		t.Errorf("got kid %v, want the rotated %s", parsed.Header["kid"], newKid)
	}
	for _, raw := range []string{old.AccessToken, fresh.AccessToken} {
		if _, err := verify(t, keys, raw, clock.Now()); err != nil {
			t.Errorf("verify: %v", err)
		}
	}

	// A token forged with the current key verifies like an issued one.
	kid, key := rn.Sandbox.SigningKey()
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": "usr_grace", "iss": "https://user.storefront.dev", "aud": "storefront-bff", "exp": t0.Add(time.Minute).Unix(),
	})
	forged.Header["kid"] = kid
	raw, err := forged.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if claims, err := verify(t, keys, raw, clock.Now()); err != nil || claims["sub"] != "usr_grace" {
		t.Errorf("forged token: got %v, %v; want it to verify as usr_grace", claims, err)
	}
}

func TestGetUser(t *testing.T) {
	rn, _ := startManual(t)
	var u user.User
	do(t, "GET", rn.UserURL+"/users/usr_ada", nil).want(t, http.StatusOK).decode(t, &u)
	if u.Name != "Ada Lovelace" || u.Email != "ada@example.com" || u.Preferences.Currency != "EUR" {
		t.Errorf("got %+v, want Ada's profile in EUR", u)
	}
	for _, id := range []string{"usr_ada", "usr_grace"} {
		do(t, "GET", rn.UserURL+"/users/"+id, nil).want(t, http.StatusOK).decode(t, &u)
		defaults := 0
		for _, a := range u.Addresses {
			if a.Default {
				defaults++
			}
		}
		if n := len(u.Addresses); n < 1 || n > 2 || defaults != 1 {
			t.Errorf("%s: got %d addresses, %d default; want 1-2 with one default", id, n, defaults)
		}
	}
	do(t, "GET", rn.UserURL+"/users/usr_nobody", nil).problem(t, http.StatusNotFound, "not_found")

	st := rn.State(t)
	if len(st.User.Users) != 2 || st.User.Users[0].Email != "ada@example.com" {
		t.Errorf("got users %+v, want ada and grace", st.User.Users)
	}
}

func TestNotifications(t *testing.T) {
	rn, _ := startManual(t)
	var rc notification.Receipt
	do(t, "POST", rn.NotificationURL+"/notifications", notification.Request{
		UserID: "usr_ada", Template: "order_confirmed", Data: map[string]any{"order_id": "ord_000001"},
	}).want(t, http.StatusAccepted).decode(t, &rc)
	if rc.ID == "" || rc.Status != "accepted" {
		t.Errorf("got %+v, want an accepted receipt", rc)
	}
	bad := []string{
		`{"template":"order_confirmed"}`,
		`{"user_id":"usr_ada"}`,
		`{"user_id":"usr_ada","template":"Not A Template!"}`,
		`[]`,
	}
	for _, body := range bad {
		t.Run(body, func(t *testing.T) {
			do(t, "POST", rn.NotificationURL+"/notifications", body).problem(t, http.StatusBadRequest, "invalid_request")
		})
	}
	st := rn.State(t)
	if len(st.Notification.Notifications) != 1 {
		t.Fatalf("got %d notifications, want 1", len(st.Notification.Notifications))
	}
	n := st.Notification.Notifications[0]
	if n.ID != rc.ID || n.UserID != "usr_ada" || n.Template != "order_confirmed" || n.Data["order_id"] != "ord_000001" || !n.CreatedAt.Equal(t0) {
		t.Errorf("got %+v, want the notification as sent", n)
	}
}

// TestRefreshRotation walks a refresh token family: each refresh uses its
// token up and gives the next; a used one presented again revokes the
// family, the newest token included; a revoked family refreshes no more;
// a family expires 720h after its login.
func TestRefreshRotation(t *testing.T) {
	rn, clock := startManual(t)
	refresh := func(tok string, want int) user.Token {
		t.Helper()
		var out user.Token
		r := do(t, "POST", rn.UserURL+"/auth/refresh", user.RefreshRequest{RefreshToken: tok}).want(t, want)
		if want == http.StatusOK {
			r.decode(t, &out)
			if out.AccessToken == "" || out.RefreshToken == "" || out.RefreshToken == tok {
				t.Fatalf("refresh gave %+v, want a new pair", out)
			}
		}
		return out
	}
	first := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
	second := refresh(first.RefreshToken, http.StatusOK)
	third := refresh(second.RefreshToken, http.StatusOK)
	refresh(first.RefreshToken, http.StatusUnauthorized) // reuse: the family is revoked
	refresh(third.RefreshToken, http.StatusUnauthorized) // the newest one too
	refresh("not-a-token", http.StatusUnauthorized)

	other := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
	do(t, "POST", rn.UserURL+"/auth/revoke", user.RefreshRequest{RefreshToken: other.RefreshToken}).want(t, http.StatusOK)
	refresh(other.RefreshToken, http.StatusUnauthorized)
	do(t, "POST", rn.UserURL+"/auth/revoke", user.RefreshRequest{RefreshToken: "unknown"}).want(t, http.StatusOK)

	late := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
	clock.Advance(720 * time.Hour)
	refresh(late.RefreshToken, http.StatusUnauthorized)
}

// TestRefreshReplayFollowsItsFamily: a refresh retried with its
// Idempotency-Key gets its first answer while the family lives, and a 401
// once the family was revoked (by a logout, or by a used token presented
// again) or expired: a stored answer must not hand its tokens out again.
func TestRefreshReplayFollowsItsFamily(t *testing.T) {
	rn, clock := startManual(t)
	refresh := func(tok, key string) response {
		t.Helper()
		return do(t, "POST", rn.UserURL+"/auth/refresh", user.RefreshRequest{RefreshToken: tok}, "Idempotency-Key", key)
	}
	revoke := func(tok string) {
		t.Helper()
		do(t, "POST", rn.UserURL+"/auth/revoke", user.RefreshRequest{RefreshToken: tok}).want(t, http.StatusOK)
	}
	for _, tc := range []struct {
		name string
		end  func(first, second user.Token)
	}{
		{"logout", func(_, second user.Token) { revoke(second.RefreshToken) }},
		{"reuse", func(first, _ user.Token) { refresh(first.RefreshToken, "thief").want(t, http.StatusUnauthorized) }},
		{"expiry", func(user.Token, user.Token) { clock.Advance(720 * time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := token(t, rn, sandbox.Ada.Email, sandbox.Ada.Password)
			var second, again user.Token
			refresh(first.RefreshToken, "k-"+tc.name).want(t, http.StatusOK).decode(t, &second)
			refresh(first.RefreshToken, "k-"+tc.name).want(t, http.StatusOK).decode(t, &again)
			if again != second {
				t.Fatalf("the retry while the family lives got %+v, want the first answer %+v", again, second)
			}
			tc.end(first, second)
			refresh(first.RefreshToken, "k-"+tc.name).want(t, http.StatusUnauthorized)
		})
	}
}
