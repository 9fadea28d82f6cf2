package auth

import (
	"context"
	"strings"
	"unicode/utf8"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/user"
)

// Credentials is the body of the login routes.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Bounds of the credentials a login body may carry, in characters, as the
// API documents' maxLength counts them.
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
	case strings.TrimSpace(cr.Email) == "" || utf8.RuneCountInString(cr.Email) > MaxEmailLength:
		return Credentials{}, problem.Invalid("email", "email is required (at most %d characters).", MaxEmailLength)
	case cr.Password == "" || utf8.RuneCountInString(cr.Password) > MaxPasswordLength:
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
	if user.Refused(err) {
		return user.Token{}, problem.Wrap(err, problem.CodeUnauthenticated, "The email or password is wrong.")
	}
	return tok, err
}

// Interface guard: the user client is what Login is given in production.
var _ TokenIssuer = (*user.Client)(nil)

// MaxRefreshTokenLength bounds a refresh token in a request body.
const MaxRefreshTokenLength = 512

// refreshBody is the body of the refresh and logout routes.
type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

// DecodeRefreshToken strictly decodes {"refresh_token": "..."}: one
// member, 1 to MaxRefreshTokenLength printable ASCII characters. Errors are
// 400 problems.
func DecodeRefreshToken(body []byte) (string, error) {
	var b refreshBody
	if err := jsonscan.DecodeStrict(body, &b); err != nil {
		return "", err
	}
	if b.RefreshToken == "" || len(b.RefreshToken) > MaxRefreshTokenLength || strings.ContainsFunc(b.RefreshToken, func(r rune) bool {
		return r < 0x21 || r > 0x7e
	}) {
		return "", problem.Invalid("refresh_token", "refresh_token is required: 1 to %d printable ASCII characters.", MaxRefreshTokenLength)
	}
	return b.RefreshToken, nil
}

// Refresher rotates and revokes refresh tokens; the user client
// implements it.
type Refresher interface {
	Refresh(ctx context.Context, refreshToken, retryKey string) (user.Token, error)
	Revoke(ctx context.Context, refreshToken string) error
}

// Refresh decodes a refresh body and exchanges its token for a new pair. A
// token the user service refuses (unknown, expired, revoked, or used
// already, which revokes its family) is a 401 problem; any other failure is
// the service's own error, as for Login. keyLines are the request's
// Idempotency-Key header lines: a client that sends the same key again with
// the same token, its first answer lost, gets that answer rather than the
// revocation a reuse earns. The key is required (a 400 problem without
// one, as with a malformed key, or two): a client retrying without it
// would log its user out on the flaky networks retries are for.
func Refresh(ctx context.Context, users Refresher, body []byte, keyLines []string) (user.Token, error) {
	tok, err := DecodeRefreshToken(body)
	if err != nil {
		return user.Token{}, err
	}
	key, err := idempotency.ParseLines(keyLines)
	if err != nil {
		return user.Token{}, err
	}
	if key == "" {
		return user.Token{}, problem.New(problem.CodeIdempotencyMissing,
			"Send an Idempotency-Key header: a new value per refresh, the same on its retries.")
	}
	pair, err := users.Refresh(ctx, tok, key)
	if user.Refused(err) {
		return user.Token{}, problem.Wrap(err, problem.CodeUnauthenticated, "The refresh token is not valid; log in again.")
	}
	return pair, err
}

// Logout decodes a logout body and revokes its refresh token's family.
func Logout(ctx context.Context, users Refresher, body []byte) error {
	tok, err := DecodeRefreshToken(body)
	if err != nil {
		return err
	}
	return users.Revoke(ctx, tok)
}

var _ Refresher = (*user.Client)(nil)
