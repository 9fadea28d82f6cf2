package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"storefront.dev/shared/upstream/user"
)

// refreshFamily is the refresh tokens issued from one login: each refresh
// uses one up and issues the next. A used one presented again is taken as
// stolen, and the family is revoked: the thief and the user both sign in
// again (OAuth 2.0 Security BCP, refresh token rotation).
type refreshFamily struct {
	account *account
	expires time.Time
	revoked bool
}

// refreshToken is one token of a family, kept by the hash of its value.
type refreshToken struct {
	family *refreshFamily
	used   bool
}

// newRefreshToken issues the next token of f; the caller holds the lock.
func (u *userService) newRefreshToken(f *refreshFamily) string {
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	u.refresh[tokenHash(tok)] = &refreshToken{family: f}
	return tok
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// refreshTokens answers POST /auth/refresh: a new access token and the
// next refresh token for an unused, unrevoked, unexpired one.
func (u *userService) refreshTokens(_ *http.Request, body []byte) (int, any, error) {
	var req user.RefreshRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if req.RefreshToken == "" {
		return 0, nil, invalid("refresh_token is required")
	}
	rt, ok := u.refresh[tokenHash(req.RefreshToken)]
	switch {
	case !ok || !u.live(rt.family):
		return 0, nil, errInvalidGrant
	case rt.used:
		rt.family.revoked = true
		return 0, nil, fail(http.StatusUnauthorized, "invalid_grant", "the refresh token was used already; its family is revoked")
	}
	rt.used = true
	tok, err := u.issue(rt.family)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tok, nil
}

// errInvalidGrant refuses a refresh token unknown, revoked or expired.
var errInvalidGrant = fail(http.StatusUnauthorized, "invalid_grant", "the refresh token is not valid")

// live reports whether f is neither revoked nor expired.
func (u *userService) live(f *refreshFamily) bool { return !f.revoked && u.now().Before(f.expires) }

// liveRefresh refuses to replay the answer of a refresh whose family has
// since been revoked (a logout, a reuse detected) or has expired: the
// stored answer would hand its tokens out again.
func (u *userService) liveRefresh(body []byte) error {
	var req user.RefreshRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if rt, ok := u.refresh[tokenHash(req.RefreshToken)]; !ok || !u.live(rt.family) {
		return errInvalidGrant
	}
	return nil
}

// revoke answers POST /auth/revoke: the token's family is revoked; an
// unknown token is answered the same (RFC 7009).
func (u *userService) revoke(_ *http.Request, body []byte) (int, any, error) {
	var req user.RefreshRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if rt, ok := u.refresh[tokenHash(req.RefreshToken)]; ok {
		rt.family.revoked = true
	}
	return http.StatusOK, struct{}{}, nil
}
