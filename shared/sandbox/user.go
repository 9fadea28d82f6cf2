package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"storefront.dev/shared/upstream/user"
)

// UserSummary is one account in the user service's admin state.
type UserSummary struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// UserState is the user service's state, as GET /__admin/state returns it.
type UserState struct {
	Users []UserSummary `json:"users"`
	// Requests counts non-admin requests by route pattern.
	Requests map[string]int `json:"requests"`
}

// SeedUser is a seeded account and its password, listed so that tests and
// the README name the same credentials.
type SeedUser struct {
	ID       string
	Email    string
	Password string
	Name     string
}

// The seeded accounts.
var (
	Ada   = SeedUser{ID: "usr_ada", Email: "ada@example.com", Password: "correct-horse", Name: "Ada Lovelace"}
	Grace = SeedUser{ID: "usr_grace", Email: "grace@example.com", Password: "battery-staple", Name: "Grace Hopper"}
)

func seedProfiles() []user.User {
	return []user.User{
		{
			ID: Ada.ID, Email: Ada.Email, Name: Ada.Name,
			Addresses: []user.Address{
				{ID: "adr_ada_home", Label: "Home", Name: Ada.Name, Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "GB", Default: true},
				{ID: "adr_ada_work", Label: "Work", Name: Ada.Name, Line1: "Analytical Engine Works", Line2: "Floor 2", City: "Cambridge", PostalCode: "CB2 1TN", Country: "GB"},
			},
			Preferences: user.Preferences{Currency: "EUR", Language: "en", MarketingEmails: false},
		},
		{
			ID: Grace.ID, Email: Grace.Email, Name: Grace.Name,
			Addresses: []user.Address{
				{ID: "adr_grace_home", Label: "Home", Name: Grace.Name, Line1: "Keizersgracht 123", City: "Amsterdam", PostalCode: "1015 CJ", Country: "NL", Default: true},
			},
			Preferences: user.Preferences{Currency: "EUR", Language: "en", MarketingEmails: true},
		},
	}
}

// account is a profile and its password hash.
type account struct {
	profile user.User
	salt    []byte
	hash    [sha256.Size]byte
}

func hashPassword(salt []byte, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// signingKey is one RSA key of the JWKS; kid is its RFC 7638 thumbprint.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

type userService struct {
	*service
	tokenTTL   time.Duration
	refreshTTL time.Duration
	issuer     string
	audience   string

	// Guarded by service.mu.
	accounts []*account
	byEmail  map[string]*account
	byID     map[string]*account
	// refresh holds every refresh token issued, by hash.
	refresh map[string]*refreshToken
	// dummy is compared against when the email is unknown, so that a wrong
	// email takes as long as a wrong password.
	dummy account

	// keysMu guards keys; the last key is the current one. Keys are made on
	// first use: RSA generation is slow and most tests never need one.
	keysMu sync.Mutex
	keys   []signingKey
}

func newUserService(now func() time.Time, cfg Config) *userService {
	u := &userService{
		service:    newService(ServiceUser, now, cfg.Seed),
		tokenTTL:   cfg.TokenTTL,
		refreshTTL: cfg.RefreshTTL,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
	}
	u.setup(u.seedState, func() any { return u.state() })

	u.handle(RouteIssueToken, u.issueToken)
	u.handle(RouteRefreshToken, u.refreshTokens)
	u.revalidate = map[string]func([]byte) error{RouteRefreshToken: u.liveRefresh}
	u.handle(RouteRevokeToken, u.revoke)
	u.handle(RouteJWKS, u.jwks)
	u.handle(RouteUser, u.getUser)
	return u
}

func (u *userService) seedState() {
	u.accounts = nil
	u.byEmail = map[string]*account{}
	u.byID = map[string]*account{}
	u.refresh = map[string]*refreshToken{}
	passwords := map[string]string{Ada.ID: Ada.Password, Grace.ID: Grace.Password}
	for _, p := range seedProfiles() {
		a := &account{profile: p, salt: randomBytes(16)}
		a.hash = hashPassword(a.salt, passwords[p.ID])
		u.accounts = append(u.accounts, a)
		u.byEmail[p.Email] = a
		u.byID[p.ID] = a
	}
	u.dummy = account{salt: randomBytes(16)}
	u.dummy.hash = hashPassword(u.dummy.salt, string(randomBytes(16)))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error (Go 1.24+).
	_, _ = rand.Read(b)
	return b
}

func (u *userService) state() UserState {
	var st UserState
	u.withState(func() {
		st.Users = make([]UserSummary, len(u.accounts))
		for i, a := range u.accounts {
			st.Users[i] = UserSummary{ID: a.profile.ID, Email: a.profile.Email}
		}
	})
	st.Requests = u.counters()
	return st
}

// currentKey returns the key new tokens are signed with, making the first
// one if needed.
func (u *userService) currentKey() signingKey {
	u.keysMu.Lock()
	defer u.keysMu.Unlock()
	if len(u.keys) == 0 {
		u.keys = append(u.keys, newSigningKey())
	}
	return u.keys[len(u.keys)-1]
}

// rotate adds a new current key; the old ones stay in the JWKS so that
// tokens they signed still verify.
func (u *userService) rotate() string {
	k := newSigningKey()
	u.keysMu.Lock()
	defer u.keysMu.Unlock()
	u.keys = append(u.keys, k)
	return k.kid
}

func (u *userService) publicKeys() []user.JWK {
	u.currentKey()
	u.keysMu.Lock()
	defer u.keysMu.Unlock()
	out := make([]user.JWK, len(u.keys))
	for i, k := range u.keys {
		n, e := rsaComponents(&k.key.PublicKey)
		out[i] = user.JWK{Kty: "RSA", Kid: k.kid, Alg: "RS256", Use: "sig", N: n, E: e}
	}
	return out
}

func newSigningKey() signingKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// GenerateKey fails only on a broken random source.
		panic(fmt.Sprintf("sandbox: generate RSA key: %v", err))
	}
	n, e := rsaComponents(&key.PublicKey)
	// RFC 7638: the thumbprint hashes the required members in name order.
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:]), key: key}
}

func rsaComponents(pub *rsa.PublicKey) (n, e string) {
	return base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
}

// tokenClaims are the claims of an issued token: the registered ones plus
// the email and name, which save a gateway a profile lookup.
type tokenClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

func (u *userService) issueToken(_ *http.Request, body []byte) (int, any, error) {
	var req user.TokenRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Email) == "" || req.Password == "" {
		return 0, nil, invalid("email and password are required")
	}
	a, known := u.byEmail[strings.ToLower(strings.TrimSpace(req.Email))]
	if !known {
		a = &u.dummy
	}
	got := hashPassword(a.salt, req.Password)
	if subtle.ConstantTimeCompare(got[:], a.hash[:]) != 1 || !known {
		return 0, nil, fail(http.StatusUnauthorized, "invalid_credentials", "the email or password is wrong")
	}
	tok, err := u.issue(&refreshFamily{account: a, expires: u.now().Add(u.refreshTTL)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tok, nil
}

// issue signs an access token for f's account and issues f's next refresh
// token; the caller holds the lock.
func (u *userService) issue(f *refreshFamily) (user.Token, error) {
	a := f.account
	now := u.now()
	k := u.currentKey()
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    u.issuer,
			Subject:   a.profile.ID,
			Audience:  jwt.ClaimStrings{u.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(u.tokenTTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(randomBytes(16)),
		},
		Email: a.profile.Email,
		Name:  a.profile.Name,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.kid
	signed, err := tok.SignedString(k.key)
	if err != nil {
		return user.Token{}, fmt.Errorf("sign token: %w", err)
	}
	return user.Token{AccessToken: signed, RefreshToken: u.newRefreshToken(f), TokenType: "Bearer",
		ExpiresIn: int(u.tokenTTL / time.Second)}, nil
}

func (u *userService) jwks(_ *http.Request, _ []byte) (int, any, error) {
	return http.StatusOK, user.JWKS{Keys: u.publicKeys()}, nil
}

func (u *userService) getUser(r *http.Request, _ []byte) (int, any, error) {
	a, ok := u.byID[r.PathValue("id")]
	if !ok {
		return 0, nil, notFound("user %q does not exist", r.PathValue("id"))
	}
	p := a.profile
	p.Addresses = slices.Clone(p.Addresses)
	return http.StatusOK, p, nil
}
