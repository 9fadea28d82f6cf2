package auth

import (
	"context"
	"strings"

	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/user"
)

// Credentials is the body of the login routes.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Bounds of the credentials a login body may carry.
const (
	MaxEmailLength    = 254
	MaxPasswordLength = 256
)

// DecodeCredentials strictly decodes a login body: both members, non-empty
// strings within their bounds, nothing else. Errors are 400 problems.
func DecodeCredentials(body []byte) (Credentials, error) {
	var cr Credentials
	if err := jsonscan.DecodeStrict(body, &cr); err != nil {
		return Credentials{}, err
	}
	switch {
	case strings.TrimSpace(cr.Email) == "" || len(cr.Email) > MaxEmailLength:
		return Credentials{}, problem.Invalid("email", "email is required (at most %d characters).", MaxEmailLength)
	case cr.Password == "" || len(cr.Password) > MaxPasswordLength:
		return Credentials{}, problem.Invalid("password", "password is required (at most %d characters).", MaxPasswordLength)
	}
	return cr, nil
}

// TokenIssuer exchanges an email and password for an access token; the user
// client implements it.
type TokenIssuer interface {
	Token(ctx context.Context, email, password string) (user.Token, error)
}

// Login decodes a login body and exchanges its credentials with users for an
// access token. A malformed body is a 400 problem and wrong credentials a 401
// problem; any other failure is the issuer's own error (an *upstream.Error:
// the user service is down or slow), for the caller to map as it maps every
// upstream failure.
func Login(ctx context.Context, users TokenIssuer, body []byte) (user.Token, error) {
	creds, err := DecodeCredentials(body)
	if err != nil {
		return user.Token{}, err
	}
	tok, err := users.Token(ctx, creds.Email, creds.Password)
	if upstream.KindOf(err) == upstream.KindUnauthorized {
		return user.Token{}, problem.Wrap(err, problem.CodeUnauthenticated, "The email or password is wrong.")
	}
	return tok, err
}

// Interface guard: the user client is what Login is given in production.
var _ TokenIssuer = (*user.Client)(nil)
