package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/user"
)

// issuer answers Token with err, or with a token for the right password.
type issuer struct{ err error }

func (i issuer) Token(_ context.Context, email, password string) (user.Token, error) {
	if i.err != nil {
		return user.Token{}, i.err
	}
	if email != "ada@example.com" || password != "correct-horse" {
		return user.Token{}, &upstream.Error{Service: "user", Op: "token", Status: 401, Kind: upstream.KindUnauthorized}
	}
	return user.Token{AccessToken: "jwt", TokenType: "Bearer", ExpiresIn: 900}, nil
}

// TestLogin: a bad body is a 400, wrong credentials a 401, an unreachable
// user service its own upstream error, for the edge to map.
func TestLogin(t *testing.T) {
	down := &upstream.Error{Service: "user", Op: "token", Kind: upstream.KindUnavailable}
	forbidden := &upstream.Error{Service: "user", Op: "token", Status: 403, Kind: upstream.KindUnauthorized}
	tests := []struct {
		name      string
		users     issuer
		body      string
		wantToken string
		wantCode  problem.Code
		wantKind  upstream.Kind
	}{
		{"right credentials", issuer{}, `{"email":"ada@example.com","password":"correct-horse"}`, "jwt", "", upstream.KindUnknown},
		{"wrong password", issuer{}, `{"email":"ada@example.com","password":"nope"}`, "", problem.CodeUnauthenticated, upstream.KindUnauthorized},
		{"missing password", issuer{}, `{"email":"ada@example.com"}`, "", problem.CodeInvalid, upstream.KindUnknown},
		{"unknown member", issuer{}, `{"email":"a","password":"p","admin":true}`, "", problem.CodeInvalid, upstream.KindUnknown},
		// Bounds count characters, as the documents' maxLength does: 256
		// two-byte characters pass on to the user service, 257 do not.
		{"longest password", issuer{}, `{"email":"ada@example.com","password":"` + strings.Repeat("é", auth.MaxPasswordLength) + `"}`, "", problem.CodeUnauthenticated, upstream.KindUnauthorized},
		{"password too long", issuer{}, `{"email":"ada@example.com","password":"` + strings.Repeat("é", auth.MaxPasswordLength+1) + `"}`, "", problem.CodeInvalid, upstream.KindUnknown},
		{"longest email", issuer{}, `{"email":"` + strings.Repeat("é", auth.MaxEmailLength-5) + `@x.ex","password":"p"}`, "", problem.CodeUnauthenticated, upstream.KindUnauthorized},
		{"email too long", issuer{}, `{"email":"` + strings.Repeat("é", auth.MaxEmailLength-4) + `@x.ex","password":"p"}`, "", problem.CodeInvalid, upstream.KindUnknown},
		{"not UTF-8", issuer{}, "{\"email\":\"a\xffb@x\",\"password\":\"\xc3\"}", "", problem.CodeMalformedJSON, upstream.KindUnknown},
		{"user service down", issuer{err: down}, `{"email":"ada@example.com","password":"correct-horse"}`, "", "", upstream.KindUnavailable},
		// A 403 forbids the call, whoever's password: the service's failure.
		{"user service forbids", issuer{err: forbidden}, `{"email":"ada@example.com","password":"correct-horse"}`, "", "", upstream.KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := auth.Login(context.Background(), tt.users, []byte(tt.body))
			var p *problem.Error
			errors.As(err, &p)
			var code problem.Code
			if p != nil {
				code = p.Code
			}
			if tok.AccessToken != tt.wantToken || code != tt.wantCode || upstream.KindOf(err) != tt.wantKind {
				t.Errorf("got token %q, error %v; want token %q, code %q, kind %v", tok.AccessToken, err, tt.wantToken, tt.wantCode, tt.wantKind)
			}
		})
	}
}

// FuzzDecodeCredentials feeds the login body decoder (jsonscan.DecodeStrict
// underneath) arbitrary bytes: it never panics, refuses with a 4xx, and what
// it accepts has both members within their bounds.
func FuzzDecodeCredentials(f *testing.F) {
	f.Add([]byte(`{"email":"ada@example.com","password":"correct-horse"}`))
	f.Add([]byte(`{"email":"a","email":"b","password":"p"}`))
	f.Add([]byte(`{"email":"a","password":"p"} trailing`))
	f.Add([]byte(strings.Repeat(`{"a":`, 50)))
	f.Add([]byte(`{"email":1,"password":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := auth.DecodeCredentials(body)
		if err != nil {
			// Hostile input may be refused, never answered with a 5xx.
			var p *problem.Error
			if !errors.As(err, &p) || p.Status() < 400 || p.Status() > 499 {
				t.Fatalf("got error %v, want a 4xx problem", err)
			}
			return
		}
		if strings.TrimSpace(cr.Email) == "" || utf8.RuneCountInString(cr.Email) > auth.MaxEmailLength || cr.Password == "" ||
			utf8.RuneCountInString(cr.Password) > auth.MaxPasswordLength || !utf8.ValidString(cr.Email+cr.Password) {
			t.Fatalf("accepted %+v from %q", cr, body)
		}
	})
}
