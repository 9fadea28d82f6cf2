package main

import (
	"net/http"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestRefreshRotation walks the mobile token lifecycle through the BFF:
// each refresh gives a new pair and uses the old refresh token up; a used
// one presented again is a 401 and revokes the newer one too; logout
// revokes; a bad body is a 400 that reaches no upstream.
func TestRefreshRotation(t *testing.T) {
	s := startStack(t)
	var first tokenView
	s.Login(t, "/v1/auth/token", sandbox.Ada.Email, sandbox.Ada.Password, &first)
	if first.RefreshToken == "" {
		t.Fatalf("login gave %+v, want a refresh token", first)
	}
	refresh := func(tok string) (tokenView, servertest.Response) {
		t.Helper()
		var v tokenView
		r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", map[string]string{"refresh_token": tok}, "Idempotency-Key", servertest.NewKey())
		if r.Status == http.StatusOK {
			r.JSON(t, &v)
		}
		return v, r
	}
	order := func(access string) int {
		t.Helper()
		return s.order(t, "Bearer "+access, orderBody("tok_visa", line(2, 1))).Status
	}

	second, r := refresh(first.RefreshToken)
	if r.Status != 200 || second.AccessToken == "" || second.RefreshToken == first.RefreshToken || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %s, want a new pair, not stored", r.Status, r.Body)
	}
	if got := order(second.AccessToken); got != 201 {
		t.Errorf("an order with the refreshed access token: %d, want 201", got)
	}
	third, _ := refresh(second.RefreshToken)
	steps := []struct {
		name, token string
		status      int
	}{
		{"the first token again: reuse", first.RefreshToken, 401},
		{"the newest one, revoked by the reuse", third.RefreshToken, 401},
		{"a made-up token", "made-up", 401},
	}
	for _, st := range steps {
		if _, r := refresh(st.token); r.Status != st.status || r.Problem(t)["code"] != "unauthenticated" {
			t.Errorf("%s: %d %s, want %d unauthenticated", st.name, r.Status, r.Body, st.status)
		}
	}

	var other tokenView
	s.Login(t, "/v1/auth/token", sandbox.Ada.Email, sandbox.Ada.Password, &other)
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/logout", map[string]string{"refresh_token": other.RefreshToken}); r.Status != 204 {
		t.Fatalf("logout: %d %s, want 204", r.Status, r.Body)
	}
	if _, r := refresh(other.RefreshToken); r.Status != 401 {
		t.Errorf("refresh after logout: %d, want 401", r.Status)
	}

	before := s.State(t).User.Requests["POST /auth/refresh"]
	for _, body := range []any{map[string]string{"refresh_token": ""}, map[string]any{"refresh_token": 7},
		map[string]string{"refresh_token": "with space"}, map[string]string{"refresh_token": "x", "extra": "y"}, "{"} {
		if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, "Idempotency-Key", servertest.NewKey()); r.Status != 400 {
			t.Errorf("refresh with %v: %d, want 400", body, r.Status)
		}
	}
	// A refresh without a key, which a retry could not tell from a reuse.
	keyless := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", map[string]string{"refresh_token": third.RefreshToken})
	if keyless.Status != 400 || keyless.Problem(t)["code"] != "idempotency_key_missing" {
		t.Errorf("refresh without an Idempotency-Key: %d %s, want 400 idempotency_key_missing", keyless.Status, keyless.Body)
	}
	if after := s.State(t).User.Requests["POST /auth/refresh"]; after != before {
		t.Errorf("bad refresh bodies reached the user service %d times, want none", after-before)
	}
}

// TestAuthUpstreamRefusals: the BFF checks every body before it reaches the
// user service, so a 404, 400 or 422 of the user service on a login, a
// refresh or a logout is the service failing, a 503, never a status that
// blames the phone's request.
func TestAuthUpstreamRefusals(t *testing.T) {
	s := startStack(t)
	creds := map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}
	token := map[string]string{"refresh_token": "some-token"}
	tests := []struct {
		name, route, path string
		status            int
		body              any
	}{
		{"login: 404", "POST /auth/token", "/v1/auth/token", 404, creds},
		{"login: 400", "POST /auth/token", "/v1/auth/token", 400, creds},
		{"refresh: 422", "POST /auth/refresh", "/v1/auth/refresh", 422, token},
		{"logout: 404", "POST /auth/revoke", "/v1/auth/logout", 404, token},
		{"logout: 400", "POST /auth/revoke", "/v1/auth/logout", 400, token},
	}
	for _, tt := range tests {
		s.Inject(t, "user", sandbox.Fault{Route: tt.route, Status: tt.status, Count: 1})
		r := servertest.Do(t, "POST", s.Base+tt.path, tt.body, "Idempotency-Key", servertest.NewKey())
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", tt.name, r.Status, r.Body)
			continue
		}
		if p := r.Problem(t); p["code"] != "upstream_unavailable" {
			t.Errorf("%s: problem %v, want upstream_unavailable", tt.name, p)
		}
	}
}

// TestARefreshRetriedWithItsKeyGetsItsAnswer: the user service rotates the
// phone's refresh token but its answer is lost on the way back. The phone,
// told to retry, sends the same token with the same Idempotency-Key and
// gets the new pair, rather than the revocation a reused token earns; the
// same token sent with another key is still a reuse, which revokes the
// family, and the first request sent again is then refused too.
func TestARefreshRetriedWithItsKeyGetsItsAnswer(t *testing.T) {
	s := startStack(t)
	var first tokenView
	s.Login(t, "/v1/auth/token", sandbox.Ada.Email, sandbox.Ada.Password, &first)
	body := map[string]string{"refresh_token": first.RefreshToken}
	keyed := []string{"Idempotency-Key", "phone-refresh-1"}
	s.Inject(t, "user", sandbox.Fault{Route: "POST /auth/refresh", Drop: true, After: true, Count: 1})
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, keyed...); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a refresh whose answer was lost: %d %s, want 503 with a Retry-After", r.Status, r.Body)
	}
	r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, keyed...)
	var second tokenView
	if r.Status != http.StatusOK {
		t.Fatalf("the retry with the same key: %d %s, want 200", r.Status, r.Body)
	}
	r.JSON(t, &second)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("the retry's pair %+v, want a new refresh token", second)
	}
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", map[string]string{"refresh_token": second.RefreshToken}, "Idempotency-Key", servertest.NewKey()); r.Status != http.StatusOK {
		t.Errorf("the new refresh token: %d %s, want 200 (the family is not revoked)", r.Status, r.Body)
	}
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, "Idempotency-Key", "a-thief"); r.Status != http.StatusUnauthorized {
		t.Errorf("the used token with another key: %d %s, want 401", r.Status, r.Body)
	}
	// That reuse revoked the family: its stored answer is not handed out
	// again to whoever holds the first request.
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, keyed...); r.Status != http.StatusUnauthorized {
		t.Errorf("the first request again once its family was revoked: %d %s, want 401", r.Status, r.Body)
	}
	if r := servertest.Do(t, "POST", s.Base+"/v1/auth/refresh", body, "Idempotency-Key", `"unterminated`); r.Status != http.StatusBadRequest {
		t.Errorf("a malformed key: %d %s, want 400", r.Status, r.Body)
	}
}
